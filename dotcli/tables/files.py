"""The files of ``dot-table``: per family ``<family>.md``, ``.tex``, ``.csv``, ``_wide.csv`` and figures, and the
index (``README.md``, ``index.json``) of every table in the output directory. Every file is written atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dotcli import DotcliError, __version__
from dotcli.paper.tables import title
from dotcli.preflight import SKIP_NAME
from dotcli.records import FAILURE_NAME, load_records
from dotcli.safe_write import check_writable_dir, write_text_atomic
from dotcli.tables.figures import write_figures
from dotcli.tables.render import family_markdown, protocol_line, wide_csv
from dotcli.tables.rows import build_rows, csv_frame, family_of

INDEX_JSON = "index.json"


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def write_tables(records: list[dict[str, Any]], out: Path, failures: Sequence[dict[str, Any]] = (),
                 skips: Sequence[dict[str, Any]] = (), sources: Sequence[str | Path] = ()) -> list[Path]:
    """Write every family's tables and figures, and the index (``README.md``, ``index.json``); return the paths.

    The index keeps the entries of tables written earlier into ``out`` (from other records) whose files
    are still there, so tables built one family at a time still share one index. ``sources``: the directories
    the records were read from, named by the index.
    """
    families = sorted({family_of(x) for x in [*records, *failures, *skips]}, key=lambda f: (f != "toy", f))
    if not families:
        raise DotcliError("no result.json, failed.json or skipped.json to tabulate")
    check_writable_dir(out, "--out")
    written, entries = [], []
    for family in families:
        # rows built from this family's records alone: its tables have the same columns and order whatever
        # other families are tabulated beside it
        fam = build_rows(*([x for x in group if family_of(x) == family] for group in (records, failures, skips)))
        md, tex, wides = family_markdown(fam, family)
        files = {"md": out / f"{family}.md", "csv": out / f"{family}.csv", "tex": out / f"{family}.tex",
                 "wide csv": out / f"{family}_wide.csv"}
        _write_text(files["md"], md)
        _write_text(files["tex"], tex)
        _write_text(files["csv"], csv_frame(fam).to_csv(index=False))
        _write_text(files["wide csv"], pd.concat([wide_csv(w) for w in wides]).to_csv(index=False))
        figures = write_figures(fam, family, out)
        written += [*files.values(), *figures]
        counts = fam.status.value_counts()
        entries.append({"family": family, "title": title(family),
                        "cells": {k: int(counts.get(k, 0)) for k in ("ok", "skipped", "failed")},
                        "files": {k: p.name for k, p in files.items()}, "figures": [p.name for p in figures],
                        "protocol": protocol_line(fam)})
    index = _merge_index(out, entries)
    _write_text(out / INDEX_JSON, json.dumps({"dotcli": __version__, "tables": index}, indent=2) + "\n")
    readme = out / "README.md"
    _write_text(readme, index_markdown(index, sources, out))
    return [*written, out / INDEX_JSON, readme]


def _merge_index(out: Path, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        old = json.loads((out / INDEX_JSON).read_text()).get("tables", [])
    except (OSError, ValueError, AttributeError):  # none yet, or not an index: it is rewritten from these tables
        old = []
    merged = {e["family"]: e for e in (old if isinstance(old, list) else []) if _index_entry_ok(e, out)}
    merged.update({e["family"]: e for e in entries})
    return sorted(merged.values(), key=lambda e: (e["family"] != "toy", e["family"]))


def _index_entry_ok(entry: Any, out: Path) -> bool:
    """An earlier index entry is kept only when it is well formed and its table (a plain name in ``out``) is there."""
    if not isinstance(entry, dict) or not isinstance(entry.get("family"), str):
        return False
    files, cells = entry.get("files"), entry.get("cells")
    if not isinstance(files, dict) or not isinstance(cells, dict) or not isinstance(entry.get("figures", []), list):
        return False
    names = [*files.values(), *entry.get("figures", [])]
    if not all(isinstance(n, str) and n and Path(n).name == n for n in names) or "md" not in files:
        return False
    return all(isinstance(cells.get(k), int) for k in ("ok", "skipped", "failed")) \
        and isinstance(entry.get("title"), str) and isinstance(entry.get("protocol"), str) \
        and (out / files["md"]).is_file()


def _is_results_dir(sources: Sequence[str | Path], out: Path | None) -> bool:
    """The records come from ``out/records`` (``make reproduce``, ``make table``: the project's results/)."""
    if out is None or not sources:
        return False
    kept = (Path(out) / "records").resolve()
    return all(Path(s).resolve() == kept or kept in Path(s).resolve().parents for s in sources)


def index_markdown(index: list[dict[str, Any]], sources: Sequence[str | Path] = (), out: Path | None = None) -> str:
    """The index ``README.md``: what this directory is, one line per table with its cell counts and files, then
    each table's protocol. The project's results/ (records in ``records/``) says how ``make reproduce`` and
    ``make table`` rewrite it; any other directory names the records it was built from and the command."""
    skip_note = ("A skipped cell lacks an input on the machine that ran it (the table says which); a failed cell "
                 "raised an error.")
    if _is_results_dir(sources, out) or not sources:
        title, about = "Results", (
            f"Written by `dot-table` (dotcli {__version__}). `make reproduce` runs the experiment grids (only the "
            "cells not finished yet), keeps their records in `records/` and rewrites these files; `make table` only "
            f"rewrites them from `records/`. {skip_note}")
    else:
        names = ", ".join(f"`{s}`" for s in sources)
        command = " ".join(["dot-table", *map(str, sources), *(["--out", str(out)] if out is not None else [])])
        title, about = "Tables", (
            f"Written by `dot-table` (dotcli {__version__}) from the records (`result.json`, `failed.json`, "
            f"`skipped.json`) under {names}: one Markdown, CSV and LaTeX table per dataset family, with figures, "
            f"indexed below. Nothing else is kept here; `{command}` rewrites these files from the records "
            f"(records that differ only in `seed` are pooled). {skip_note}")
    lines = [f"# {title}", "", about, "",
             "| table | finished | skipped | failed | files | figures |", "|---|---|---|---|---|---|"]
    for e in index:
        family, n = e["family"], e["cells"]
        links = " · ".join(f"[{k}]({name})" for k, name in e["files"].items())
        figs = " · ".join(f"[{Path(f).stem.removeprefix(family + '_')}]({f})" for f in e["figures"]) or "–"
        lines.append(f"| [{e['title']}]({e['files']['md']}) | {n['ok']} | {n['skipped']} | {n['failed']} | "
                     f"{links} | {figs} |")
    lines.append("")
    lines += [f"- {e['title']}: {e['protocol']}" for e in index]
    return "\n".join(lines) + "\n"


def tabulate(paths: Sequence[str | Path], out: Path, prog: str = "dot-table") -> list[Path]:
    """Load every record, failure and skip note under ``paths`` and write the tables into ``out``.

    ``out`` is checked first (one line when no file can be made there). A file that is not what it claims is
    one warning line ``<prog>: warning: <file> ...`` and is left out; the others are tabulated.
    """
    check_writable_dir(out, "--out")
    records = load_records(paths, warn=prog)
    failures = load_records(paths, FAILURE_NAME, warn=prog)
    skips = load_records(paths, SKIP_NAME, warn=prog)
    if not records and not failures and not skips:
        raise DotcliError(f"no result.json (or failed.json / skipped.json) found under {', '.join(map(str, paths))}")
    return write_tables(records, out, failures, skips, sources=list(paths))
