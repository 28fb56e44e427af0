"""dot-run and dot-table as a user runs them: through a subprocess where the process is the point (a finished
run's files, exit codes and error lines, a run compared with one in another process), else dot-run's Hydra app in
this process (tests/inprocess.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dotcli.cli import table_main
from dotcli.console import console_command
from tests.inprocess import dot_run_in_process

FAST = ["trials=2", "n_samples=100", "method.steps=10", "method.k_eff_repeats=2"]


def dot_run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*console_command("dot-run"), *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One FAST run of the default config through a dot-run subprocess, in <dir>/a; several tests read it (once
    per test process: session scope, so pytest -n's workers never run it twice each)."""
    root = tmp_path_factory.mktemp("fast")
    return root, dot_run(*FAST, "hydra.run.dir=a", cwd=root)


def test_run_writes_record_and_figure(fast_run):
    root, proc = fast_run
    assert proc.returncode == 0, proc.stderr
    path = Path(last_line(proc.stdout))
    assert path == (root / "a" / "result.json").resolve() or path == root / "a" / "result.json"
    rec = json.loads(path.read_text())
    assert (rec["dataset"], rec["model"], rec["method"]) == ("gaussians25", "dotcli_wgangp", "dot")
    for key in ("emd", "emd_std", "emd_trials", "hq", "hq_std", "modes", "modes_std"):
        assert key in rec["metrics"]
    assert len(rec["metrics"]["hq_trials"]) == 2
    assert rec["params"]["steps"] == 10 and rec["params"]["setup"][0]["k_eff"] > 0
    assert rec["cost"]["d_evals_per_sample"] == 10 and rec["cost"]["g_evals_per_sample"] == 1
    assert rec["config"]["seed"] == 0 and rec["versions"]["torch"] and rec["device"] == "cpu"
    assert rec["model_notes"] == {} and rec["params"]["anchor"] == "fixed"  # toy pair: nothing to note
    assert (path.parent / "samples.png").stat().st_size > 10_000


def test_same_seed_same_numbers_and_resume(fast_run, tmp_path):
    root, a = fast_run  # run in a subprocess; b in this process, which has run other things before
    b = dot_run_in_process(*FAST, "hydra.run.dir=b", cwd=tmp_path)
    ra, rb = (json.loads(p.read_text()) for p in (root / "a" / "result.json", tmp_path / "b" / "result.json"))
    assert a.returncode == b.returncode == 0
    assert ra["metrics"] == rb["metrics"] and ra["config_hash"] == rb["config_hash"]
    shutil.copytree(root / "a", tmp_path / "a")
    before = (tmp_path / "a" / "result.json").stat().st_mtime_ns
    again = dot_run_in_process(*FAST, "hydra.run.dir=a", cwd=tmp_path)  # same dir, same config: kept as it is
    assert again.returncode == 0 and (tmp_path / "a" / "result.json").stat().st_mtime_ns == before
    assert last_line(again.stdout) == str(tmp_path / "a" / "result.json")
    other_seed = dot_run_in_process(*FAST, "seed=1", "hydra.run.dir=c", cwd=tmp_path)
    rc = json.loads((tmp_path / "c" / "result.json").read_text())
    assert other_seed.returncode == 0 and rc["metrics"]["emd"] != ra["metrics"]["emd"]


def test_multirun_grid_and_table(tmp_path, monkeypatch):
    # only top-level overrides: method keys differ between methods
    proc = dot_run_in_process("-m", "dataset=gaussians25,swissroll", "method=none,naive,drs,dot", "trials=2",
                              "n_samples=100", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = sorted((tmp_path / "sweep").rglob("result.json"))
    assert len(records) == 8 and len({r.parent for r in records}) == 8
    drs = [json.loads(r.read_text()) for r in records if "_drs" in r.parent.name]
    assert all(0 < d["cost"]["acceptance_rate"] < 1 for d in drs)
    monkeypatch.chdir(tmp_path)
    table_main(["sweep", "--out", "results"])  # dot-table's entry point (exits non-zero on an error)
    md = (tmp_path / "results" / "toy.md").read_text()
    csv = (tmp_path / "results" / "toy.csv").read_text().splitlines()
    assert len(csv) == 1 + 8
    assert md.count("| gaussians25 | dotcli_wgangp |") == 4 and "| swissroll | dotcli_wgangp | drs |" in md


@pytest.mark.parametrize("override, message", [
    ("dataset=nosuch", "dataset=nosuch is not an option of dataset; the options are: cifar10,"),
    ("method=nosuch", "method=nosuch is not an option of method; the options are: ddls,"),
    ("method.eps=-0.5", "method.eps=-0.5 is not valid"),
    ("method.steps=-3", "method.steps=-3 is not valid"),
    ("n_samples=1", "n_samples=1 is not valid; expected an integer >= 2"),
    ("method.k_eff=1e-40", "non-finite loss or gradient at refinement step 1 of 10"),
])
def test_bad_input_is_one_clear_line_and_writes_no_record(tmp_path, override, message):
    proc = dot_run(*FAST, override, "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "out" / "result.json").exists()
    if "not valid" in message or "non-finite" in message:
        assert proc.stderr.strip().splitlines()[-1].startswith("dot-run: error: ")
        assert (tmp_path / "out" / "failed.json").exists()


def test_unwritable_output_dir(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    proc = dot_run(*FAST, "hydra.run.dir=file/out", cwd=tmp_path)
    assert proc.returncode == 2
    assert "output directory file/out cannot be created" in proc.stderr


def test_failed_rerun_keeps_the_finished_record(fast_run, tmp_path):
    root, first = fast_run
    assert first.returncode == 0
    shutil.copytree(root / "a", tmp_path / "out")  # a finished run's directory
    good = (tmp_path / "out" / "result.json").read_text()
    proc = dot_run(*FAST, "method.k_eff=1e-40", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 2 and (tmp_path / "out" / "result.json").read_text() == good


def test_help_and_cfg(tmp_path):
    help_ = dot_run("--help", cwd=tmp_path)
    assert help_.returncode == 0
    assert "  method          ddls, dgflow, dot, dot_local, drs, mh, naive, none" in help_.stdout
    cfg = dot_run("method=naive", "--cfg", "job", cwd=tmp_path)
    assert cfg.returncode == 0 and "_target_: dotcli.samplers.naive.NaiveSampler" in cfg.stdout


def test_author_checkpoints_through_the_cli(tmp_path, author_checkpoints):
    base = ["model=tanaka_wgangp", "trials=1", "n_samples=500"]
    runs = {}
    for method in ("none", "dot"):
        proc = dot_run_in_process(*base, f"method={method}", f"hydra.run.dir={method}", cwd=tmp_path,
                                  env={"DOTCLI_CHECKPOINTS": str(author_checkpoints)})
        assert proc.returncode == 0, proc.stderr
        runs[method] = json.loads(Path(last_line(proc.stdout)).read_text())["metrics"]
    assert runs["dot"]["hq"] > runs["none"]["hq"] + 0.15
    assert runs["dot"]["emd"] < runs["none"]["emd"]


def test_a_run_ends_with_a_metrics_line_on_stderr_and_the_record_path_on_stdout(tmp_path):
    import re

    proc = dot_run_in_process(*FAST, "hydra.run.dir=a", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert last_line(proc.stdout) == str(tmp_path / "a" / "result.json")
    record = json.loads((tmp_path / "a" / "result.json").read_text())
    line = last_line(proc.stderr)
    assert re.fullmatch(r"HQ \d\.\d{3}  modes \d+\.\d  EMD \d\.\d{3}  precision \d\.\d{3}  recall \d\.\d{3}  "
                        r"density \d\.\d{3}  coverage \d\.\d{3}  \(2 trials, \d+\.\d s\)", line), line
    assert line.startswith(f"HQ {record['metrics']['hq']:.3f}  modes {record['metrics']['modes']:.1f}  ")
    assert "dot-run: trials 1/2 (50%)" in proc.stderr  # off a terminal: plain progress lines


def test_the_summary_line_shows_any_metric():
    import tempfile

    from dotcli.cli import summary_line

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        path.write_text(json.dumps({"metrics": {"fid": 31.234, "fid_std": 0.0, "fid_trials": [31.234], "mine": 0.5},
                                    "trials": 1, "cost": {"wall_s": 12.34}}))
        assert summary_line(path) == "FID 31.23  mine 0.5  (1 trial, 12.3 s)"
        path.write_text(json.dumps({"metrics": {}, "trials": 1}))
        assert summary_line(path) == "no metrics (metrics=none)  (1 trial)"
        assert summary_line(Path(tmp) / "missing.json") is None
