"""dot-reproduce killed at a random moment (SIGKILL of the parent): its dot-run child dies with it, no record
is half-written or duplicated, and the rerun finishes the grid without recomputing a finished cell, with the
same tables as a run that was never interrupted. The killed run is a real process tree, and so is one of the
reruns; the other rerun and the uninterrupted reference run dot-reproduce in this process."""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dotcli.reproduce import main
from tests.inprocess import grid_child_in_process

BIN = Path(sys.executable).parent
# 4 small cells (2 datasets x none/dot, 1 trial of 50 samples, 5 DOT steps); tanaka_wgangp left out (no files here)
GRID = ["model=dotcli_wgangp", "method=none,dot", "trials=1", "n_samples=50", "dataset.refine.steps=5",
        "dataset.refine.k_eff_repeats=1", "paths.allow_download=false"]
NUMBERS = ["dataset", "model", "method", "hq", "hq_std", "modes", "modes_std", "emd", "emd_std", "k_eff",
           "g_evals_per_sample", "d_evals_per_sample"]


def args(root: Path) -> list[str]:
    return ["--only", "toy", "--runs", str(root / "runs"), "--out", str(root / "results"), *GRID]


def reproduce(root: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "dot-reproduce"), *args(root)], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def reproduce_in_process(root: Path) -> int:
    """dot-reproduce's main() and its grid's dot-run -m in this process (tests/inprocess.py): what a run does,
    where how its processes live and die is not the point."""
    with pytest.MonkeyPatch.context() as mp:
        grid_child_in_process(mp)
        return main(args(root))


def children_of(root: Path) -> list[int]:
    """Live processes whose command line names this test's runs directory (dot-run -m hydra.sweep.dir=...)."""
    needle = str(root / "runs").encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmd and state != "Z":
            pids.append(int(proc.name))
    return pids


def table(root: Path) -> pd.DataFrame:
    csv = pd.read_csv(root / "results" / "toy.csv")
    return csv[[c for c in NUMBERS if c in csv]].sort_values(["dataset", "method"]).reset_index(drop=True)


def records(root: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in (root / "runs").rglob("result.json")}


@pytest.fixture(scope="session")  # once per test process (pytest -n: per worker that runs these tests)
def uninterrupted(tmp_path_factory) -> tuple[Path, float]:
    """The same grid never interrupted, as the reference (in this process: the numbers do not depend on the
    process), and how long a cell took (the median time between its records)."""
    root = tmp_path_factory.mktemp("clean")
    assert reproduce_in_process(root) == 0
    written = sorted(p.stat().st_mtime for p in records(root).values())
    return root, statistics.median(b - a for a, b in zip(written, written[1:], strict=False))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("seed", [0, 1])
def test_kill_reproduce_at_a_random_moment_then_rerun(tmp_path, uninterrupted, seed):
    clean, cell = uninterrupted
    assert len(records(clean)) == 4

    rng = random.Random(seed)
    done_before_kill = rng.randint(1, 3)  # then a random moment inside the next cell
    proc = reproduce(tmp_path)
    end = time.monotonic() + 900
    while len(records(tmp_path)) < done_before_kill and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(rng.uniform(0, cell / 2))
    assert children_of(tmp_path), "the grid's dot-run child is not running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 30
    while children_of(tmp_path) and time.monotonic() < end:
        time.sleep(0.1)
    assert children_of(tmp_path) == [], "a dot-run child outlived its killed parent"

    finished = records(tmp_path)
    for path in finished.values():  # atomic writes: complete or absent
        assert json.loads(path.read_text())["config_hash"]
    before = {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in finished.items()}

    if seed == 0:  # the rerun as a user runs it: dot-reproduce and its dot-run child, to the end (exit 0)
        rerun = reproduce(tmp_path)
        _, err = rerun.communicate(timeout=900)
        assert rerun.returncode == 0, err
    else:  # the same in this process (what the rerun computes does not depend on the process)
        assert reproduce_in_process(tmp_path) == 0
    after = records(tmp_path)
    assert set(after) == set(records(clean))  # the same 4 cells, each once
    assert {name: (after[name].stat().st_ino, after[name].stat().st_mtime_ns) for name in before} == before
    pd.testing.assert_frame_equal(table(tmp_path), table(clean))
    print(f"seed {seed}: killed after {len(finished)} of 4 cells; rerun computed {4 - len(finished)}")
