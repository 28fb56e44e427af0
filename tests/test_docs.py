"""docs/protocol.md is the document the project cites: every cited anchor exists, and no file
points at notes that are not part of the project."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = "docs/protocol.md"

CITATION = re.compile(r"docs/protocol\.md#([A-Za-z0-9_-]+)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
INTERNAL_LINK = re.compile(r"\]\(#([^)\s]+)\)")
# Written in two pieces so that this file does not contain what it forbids.
FORBIDDEN = {
    "the private protocol notes": re.compile("PROTOCOL" + r"\.md"),
    "the folder beside the repository": re.compile(r"\.\./" + "shared"),
}
# Where citations are looked for (configs/ is a link to dotcli/configs/).
CITING = ("dotcli", "scripts", "tests", "configs", "README.md", "results")
# Not project files: virtual environments, caches, run outputs, build products.
SKIP_DIRS = {".git", ".venv", "venv", "runs", "outputs", "multirun", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".mypy_cache", "build", "dist", "node_modules"}
# Files the reporting work (issue 9: tables package, published numbers) is rewriting with anchors of
# their own; they keep their old citations until that lands. Delete this set once it has.
BEING_REWRITTEN = {"dotcli/tables.py", "dotcli/reference.py"}


def _text(path: Path) -> str | None:
    """The file's text, or None for binary files (checkpoints, figures)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def project_files(root: Path) -> list[Path]:
    """Every file of the project under ``root`` (symlinked folders are not followed: no duplicates)."""
    out = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        out.extend(Path(top) / f for f in sorted(files))
    return out


def anchors(doc: Path) -> list[str]:
    return ANCHOR.findall(doc.read_text())


def citations(root: Path, where: tuple[str, ...] = CITING) -> list[tuple[str, int, str]]:
    """``(file, line, anchor)`` for every citation of an anchor of the document under ``where``."""
    seen: set[Path] = set()
    found = []
    for part in where:
        base = root / part
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            real = path.resolve()
            if real in seen or any(d in SKIP_DIRS for d in path.relative_to(root).parts):
                continue
            seen.add(real)
            text = _text(path)
            for lineno, line in enumerate((text or "").splitlines(), 1):
                found.extend((str(path.relative_to(root)), lineno, a) for a in CITATION.findall(line))
    return found


def missing_anchors(root: Path) -> list[str]:
    """Citations whose anchor is not in the document, as ``file:line -> #anchor``."""
    known = set(anchors(root / DOC))
    return [f"{f}:{n} -> #{a}" for f, n, a in citations(root) if a not in known]


def forbidden_mentions(root: Path, exempt: set[str] = frozenset()) -> list[str]:
    """``file:line: what`` for every mention of something the project must not point at."""
    hits = []
    for path in project_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in exempt:
            continue
        text = _text(path)
        for lineno, line in enumerate((text or "").splitlines(), 1):
            hits.extend(f"{rel}:{lineno}: {what}" for what, pattern in FORBIDDEN.items() if pattern.search(line))
    return hits


def test_document_anchors_are_unique_and_each_opens_a_section():
    lines = (ROOT / DOC).read_text().splitlines()
    names = anchors(ROOT / DOC)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate anchors in {DOC}: {duplicates}"
    for i, line in enumerate(lines):
        if ANCHOR.search(line):
            assert i + 1 < len(lines) and lines[i + 1].startswith("#"), \
                f"{DOC}:{i + 1}: anchor {line.strip()} is not directly followed by a section heading"


def test_links_inside_the_document_resolve():
    doc = (ROOT / DOC).read_text()
    known = set(anchors(ROOT / DOC))
    broken = sorted(set(INTERNAL_LINK.findall(doc)) - known)
    assert not broken, f"{DOC} links to anchors it does not define: {broken}"


def test_every_cited_anchor_exists():
    assert citations(ROOT), f"no citation of {DOC} found at all: the scan is looking in the wrong place"
    missing = missing_anchors(ROOT)
    assert not missing, f"cited anchors missing from {DOC}:\n" + "\n".join(missing)


def test_no_file_points_outside_the_project():
    hits = forbidden_mentions(ROOT, exempt=BEING_REWRITTEN)
    assert not hits, "the project must cite docs/protocol.md instead:\n" + "\n".join(hits)


def test_the_checks_catch_a_made_up_anchor_and_a_forbidden_mention(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / DOC).write_text('<a id="real"></a>\n## Real\n')
    pkg = tmp_path / "dotcli"
    pkg.mkdir()
    cite = DOC + "#"  # built here so that this file cites nothing itself
    (pkg / "ok.py").write_text(f"# {cite}real\n")
    (pkg / "bad.py").write_text(f"x = 1\n# see {cite}made-up-anchor\n")
    (tmp_path / "README.md").write_text("read " + "PROTOCOL" + ".md and " + "../" + "shared/notes\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "log.txt").write_text("PROTOCOL" + ".md\n")  # run outputs are not project files

    assert missing_anchors(tmp_path) == ["dotcli/bad.py:2 -> #made-up-anchor"]
    assert forbidden_mentions(tmp_path) == ["README.md:1: the private protocol notes",
                                            "README.md:1: the folder beside the repository"]
    assert forbidden_mentions(tmp_path, exempt={"README.md"}) == []
