"""The Slurm path on a live one-node cluster (scripts/slurm_local.sh): a toy grid through ``dot-reproduce
--launcher slurm`` equals the same grid run locally, a cancelled job is resumed without recomputing the finished
cells, and a cell that fails on the cluster leaves ``failed.json`` (with its job's log) without stopping the others.

It starts munged/slurmctld/slurmd as root and runs ~30 jobs (a few minutes), so it runs only with
``DOTCLI_SLURM=1`` (.ci/run sets it after ``make slurm``); ``make test`` skips it with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from dotcli.console import console_command

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
REPRODUCE = console_command("dot-reproduce")
# 2 datasets (the toy grid's) x 2 methods x 2 seeds, one trial of 200 samples, 5 DOT updates
GRID = ["--only", "toy", "model=dotcli_wgangp", "method=none,dot", "seed=0,1", "trials=1", "n_samples=200",
        "dataset.refine.steps=5", "dataset.refine.k_eff_repeats=1", "paths.allow_download=false"]
# one CPU per cell, as many cells at once as the machine has cores; no GPU (the toy grid asks for none)
SLURM = ["--launcher", "slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
         "hydra.launcher.timeout_min=10", f"hydra.launcher.array_parallelism={os.cpu_count() or 1}"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The environment (SLURM_CONF, PATH) of a one-node cluster started for this module, stopped after it."""
    if os.environ.get("DOTCLI_SLURM") != "1":
        pytest.skip("needs a live Slurm cluster: DOTCLI_SLURM=1 (as root; .ci/run after `make slurm`) starts one "
                    "with scripts/slurm_local.sh; a few minutes")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    where = tmp_path_factory.mktemp("slurm")
    t0 = time.perf_counter()
    start = subprocess.run(["bash", str(SCRIPT), "start", str(where)], capture_output=True, text=True, timeout=600)
    assert start.returncode == 0, f"DOTCLI_SLURM=1 but the cluster did not start:\n{start.stderr}"
    print(f"\nslurm_local.sh start: {time.perf_counter() - t0:.1f} s")
    env = dict(os.environ)
    for line in start.stdout.splitlines():  # export NAME=VALUE (PATH=<dir>/bin:$PATH)
        name, value = line.removeprefix("export ").split("=", 1)
        env[name] = value.replace("$PATH", os.environ.get("PATH", ""))
    try:
        yield env
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(where)], timeout=120)


def reproduce(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*REPRODUCE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)


def cells(root: Path) -> dict[str, Path]:
    """Cell directory name -> its result.json."""
    return {p.parent.name: p for p in sorted(root.rglob("result.json"))}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def same_numbers(a: dict, b: dict) -> bool:
    return (a["config_hash"], a["metrics"], a["metrics_by_step"]) == (b["config_hash"], b["metrics"],
                                                                     b["metrics_by_step"])


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["wall_s"])  # everything but the timing


def test_grid_on_slurm_equals_local_resumes_a_cancelled_job_and_records_failures(cluster, tmp_path):
    t0 = time.perf_counter()
    local = reproduce(*GRID, "--runs", "local", "--out", "local_results", cwd=tmp_path, env=cluster)
    assert local.returncode == 0, local.stderr[-3000:]
    expected = cells(tmp_path / "local")
    assert len(expected) == 8

    # On Slurm, with the first array task held in its job script until we cancel it: a job cut mid-run.
    marker = tmp_path / "held_job_id"
    hold = ('hydra.launcher.setup=["if [ $SLURM_ARRAY_TASK_ID = 0 ]; then '
            f'echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID > {marker}; sleep 600; fi"]')
    args = [*GRID, *SLURM, "--runs", "runs", "--out", "results"]
    first = subprocess.Popen([*REPRODUCE, *args, hold], cwd=tmp_path, env=cluster,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 900
    while not marker.exists() or not marker.read_text().strip():
        assert first.poll() is None and time.monotonic() < deadline, "the held task never started"
        time.sleep(1)
    held = "_".join(marker.read_text().split())  # <array id>_0: that task only
    subprocess.run(["scancel", held], env=cluster, check=True)
    out, _ = first.communicate(timeout=900)
    assert first.returncode == 1, out[-3000:]  # the cancelled cell is missing: not a success
    assert "has not produced any output (state: CANCELLED" in out, out[-3000:]
    # submitit's launcher stops waiting at the cancelled task; the array's other tasks go on: let them finish
    while subprocess.run(["squeue", "-h"], env=cluster, capture_output=True, text=True, check=True).stdout.strip():
        assert time.monotonic() < deadline, "the array did not finish"
        time.sleep(1)

    done = cells(tmp_path / "runs")
    assert len(done) == 7 and set(done) < set(expected)  # same directories (same config hashes) as locally
    (cancelled,) = set(expected) - set(done)
    assert cancelled.startswith("gaussians25_dotcli_wgangp_none_s0_")  # task 0: the grid's first cell
    for name, path in done.items():
        assert same_numbers(load(path), load(expected[name])), name
        assert (tmp_path / "runs" / "toy" / name / ".hydra").is_dir()
    assert len(list((tmp_path / "runs" / "toy" / ".submitit").glob("*_[0-7]"))) == 8  # each task's own log folder

    # The same command again: only the cancelled cell is computed, the finished records are not touched.
    stamps = {}
    for name, path in done.items():
        ns = path.stat().st_mtime_ns - 10**9  # backdated: a rewrite would show even within one second
        os.utime(path, ns=(ns, ns))
        stamps[name] = (ns, path.read_bytes())
    second = reproduce(*args, cwd=tmp_path, env=cluster)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "toy: 8 cells: 8 done" in second.stdout
    after = cells(tmp_path / "runs")
    assert set(after) == set(expected)
    for name, (ns, content) in stamps.items():
        assert after[name].stat().st_mtime_ns == ns and after[name].read_bytes() == content, name
    assert same_numbers(load(after[cancelled]), load(expected[cancelled]))
    slurm_table, local_table = table(tmp_path / "results" / "toy.csv"), table(tmp_path / "local_results" / "toy.csv")
    assert len(slurm_table) == 4 and set(slurm_table.status) == {"ok"} and set(slurm_table.seeds) == {"0,1"}
    pd.testing.assert_frame_equal(slurm_table, local_table)  # the complete table equals the local one

    # A cell that fails inside its job (n_samples=1 composes, the run rejects it) leaves failed.json naming its
    # job's log, and the other cell of the array finishes.
    failing = reproduce("--only", "toy", "dataset=gaussians25", "model=dotcli_wgangp", "method=none", "trials=1",
                        "n_samples=1,200", "paths.allow_download=false", *SLURM, "--runs", "fail", "--out", "fail_out",
                        cwd=tmp_path, env=cluster)
    assert failing.returncode == 1, failing.stdout[-3000:] + failing.stderr[-3000:]
    assert "toy: 2 cells: 1 done, 1 failed" in failing.stdout
    (note_path,) = (tmp_path / "fail" / "toy").rglob("failed.json")
    error = load(note_path)["error"]
    assert "n_samples=1 is not valid" in error and "(slurm job " in error
    log_out = Path(error.split("its stdout/stderr: ")[1].split(" / ")[0])
    assert log_out.is_file() and log_out.parent.parent == tmp_path / "fail" / "toy" / ".submitit"
    assert "n_samples=1 is not valid" in log_out.with_name(log_out.name.replace(".out", ".err")).read_text()
    (ok,) = cells(tmp_path / "fail").values()
    assert load(ok)["n_samples"] == 200
    assert "n_samples=1 is not valid" in (tmp_path / "fail_out" / "toy.md").read_text()
    print(f"slurm test wall time: {time.perf_counter() - t0:.0f} s")
