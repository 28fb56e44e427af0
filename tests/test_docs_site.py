"""The documentation site (mkdocs.yml, docs/) and the README landing page: the site builds with --strict (no broken
link, anchor or API reference), its nav has the sections other pages join, every command of the getting-started
page runs, the worked example of "Extending dotcli" works, and the README fits on a screen and links into the docs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dotcli
from dotcli.console import console_command

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_LIMIT = 10 * 1024
SCRIPTS = ("dot-run", "dot-table", "dot-reproduce", "dot-weights")


def code_blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.M | re.S)


def commands(page: Path) -> list[str]:
    """Every command line of the page's bash blocks, comments dropped."""
    out = []
    for block in code_blocks(page, "bash"):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("api.load_pair", "api.refine", "api.evaluate", "api.run", "models.pair.ModelPair",
                 "samplers.base.SampleBatch", "DotcliError"):
        assert f'id="dotcli.{name}"' in api, name  # the reference is generated from the docstrings


def test_the_nav_has_every_page_and_the_models_and_metrics_sections():
    text = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^  - Models:\n      - Overview: models/index.md$", text, flags=re.M)
    assert re.search(r"^  - Metrics:\n      - Overview: metrics/index.md$", text, flags=re.M)
    listed = set(re.findall(r"([\w/-]+\.md)", text.split("\nnav:", 1)[1]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= listed, f"pages missing from the nav: {sorted(pages - listed)}"
    assert {"protocol.md", "getting-started.md", "api.md", "extending.md", "reliability.md"} <= pages


def _runnable(command: str) -> list[str]:
    """A getting-started command as argv for this installation."""
    argv = shlex.split(command)
    name = argv[0].removeprefix(".venv/bin/")
    if name in SCRIPTS:
        return [*console_command(name), *argv[1:]]
    if name == "python":
        return [sys.executable, *argv[1:]]
    raise AssertionError(f"docs/getting-started.md: the test does not know how to run {command!r}")


def test_every_getting_started_command_runs(tmp_path):
    page = DOCS / "getting-started.md"
    found = commands(page)
    assert found[:2] == ["make run", "make test"], "the two set-up commands come first"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    for command in found:
        if command.startswith("make "):  # the Makefile has the target; dry run (a real one installs / runs all)
            if shutil.which("make") is None:
                continue
            proc = subprocess.run(["make", "-n", command.split()[1]], cwd=ROOT, capture_output=True, text=True)
            assert proc.returncode == 0, f"{command}: {proc.stderr}"
            continue
        if command == "source .venv/bin/activate":  # what make creates (VENV ?= .venv) and a venv has
            assert re.search(r"^VENV \?= \.venv$", (ROOT / "Makefile").read_text(), flags=re.M)
            continue
        proc = subprocess.run(_runnable(command), cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, f"{command}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        if "hydra.run.dir=" in command:
            out = command.split("hydra.run.dir=")[1].split()[0]
            assert proc.stdout.strip().splitlines()[-1] == str(tmp_path / out / "result.json")
            assert re.fullmatch(r"HQ \d\.\d{3}  modes \d+\.\d  EMD \d\.\d{3}  precision \d\.\d{3}  recall \d\.\d{3}  "
                                r"density \d\.\d{3}  coverage \d\.\d{3}  \(10 trials, \d+\.\d s\)",
                                proc.stderr.strip().splitlines()[-1])
    assert (tmp_path / "runs" / "first" / "samples.png").is_file()
    assert (tmp_path / "runs" / "first" / "dot-run.log").is_file()


def test_the_extending_example_sampler_runs(tmp_path, monkeypatch):
    page = DOCS / "extending.md"
    source = next(b for b in code_blocks(page, "python") if "class BestOfSampler" in b)
    (tmp_path / "docs_best_of.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yaml = next(b for b in code_blocks(page, "yaml") if "BestOfSampler" in b)
    assert "factor: 2" in yaml and "name: best_of" in yaml
    record = dotcli.run("method=none", "method._target_=docs_best_of.BestOfSampler", "+method.factor=4",
                        "trials=1", "n_samples=200", out_dir=tmp_path / "run")
    assert record["method"] == "best_of" and record["params"]["factor"] == 4
    assert record["cost"]["g_evals_per_sample"] == 4 and record["method_info"]["label"] == "best of k"
    with pytest.raises(dotcli.DotcliError, match="^method.factor=0 is not valid"):
        dotcli.run("method=none", "method._target_=docs_best_of.BestOfSampler", "+method.factor=0",
                   out_dir=tmp_path / "bad")


def test_the_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= README_LIMIT, f"README.md is {len(readme.encode())} bytes (limit {README_LIMIT})"
    assert "make run" in readme and "make test" in readme
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"https?://", link)]
    assert any(link.startswith("docs/") for link in local)
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    for page in ("getting-started", "running", "api", "extending"):
        assert f"docs/{page}.md" in readme, page


def test_the_try_the_pipeline_command_is_quick_and_grey(tmp_path):
    import time

    import numpy as np

    from tests.inprocess import dot_run_in_process

    section = (DOCS / "images.md").read_text().split('<a id="try-the-pipeline"></a>', 1)[1]
    command = commands_of(section)[0]
    assert command.startswith("dot-run dataset=cifar10 model=random_dcgan32 metrics=none")
    start = time.perf_counter()
    proc = dot_run_in_process(*shlex.split(command)[1:], "save_samples=true", "hydra.run.dir=try", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 120  # seconds on 2 cores (the 512-wide default took ~3 minutes)
    record = json_of(tmp_path / "try" / "result.json")
    assert record["config"]["model"]["ch"] == 64 and (tmp_path / "try" / "samples_grid.png").is_file()
    with np.load(tmp_path / "try" / "samples.npz") as saved:
        images = saved["x"].astype(float)
    assert abs(images.mean() - 127.5) < 8 and images.std() < 8  # what the page says: flat mid-grey tiles


def commands_of(text: str) -> list[str]:
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)
    return [re.sub(r"\s+#.*$", "", ln).strip() for b in blocks for ln in b.splitlines() if ln.strip()]


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())
