"""Hydra launchers (the ``launchers`` extra): joblib and submitit's local executor on toy sweeps, and the
documented Slurm config. Skipped when the extra is not installed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

import dotcli.resolvers  # noqa: F401  (registers the resolvers the configs use)
from dotcli.console import console_command
from dotcli.tables import tabulate

TINY = ["trials=1", "n_samples=50", "method.k_eff_repeats=1", "method.k_eff_pairs=20"]


def dot_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*console_command("dot-run"), "-m", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def records(sweep: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))]


def test_joblib_runs_an_eps_by_steps_sweep_in_parallel(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    proc = dot_run("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "method.eps=0.003,0.03", "method.steps=2,4",
                   "method.record_every=2", *TINY, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    recs = records(tmp_path / "sweep")
    assert sorted((r["params"]["eps"], r["params"]["steps"]) for r in recs) == [(0.003, 2), (0.003, 4), (0.03, 2),
                                                                                (0.03, 4)]
    assert all(set(r["metrics_by_step"]) == {"0", "2", *(["4"] if r["params"]["steps"] == 4 else [])} for r in recs)
    written = {p.name for p in tabulate([tmp_path / "sweep"], tmp_path / "results")}
    assert {"toy_by_step.png", "toy_sweep_eps.png", "toy_sweep_steps.png"} <= written
    md = (tmp_path / "results" / "toy.md").read_text()
    assert "| model | DOT (eps=0.003, steps=2) | DOT (eps=0.003, steps=4) | DOT (eps=0.03, steps=2) |" in md


def test_submitit_local_runs_a_seed_sweep_and_the_table_pools_the_seeds(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    proc = dot_run("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=0,1", "method.steps=2",
                   *TINY, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path / "sweep")
    assert sorted(r["seed"] for r in recs) == [0, 1] and recs[0]["metrics"] != recs[1]["metrics"]
    assert any((tmp_path / "sweep" / ".submitit").rglob("*_log.out"))  # submitit's per-job logs
    tabulate([tmp_path / "sweep"], tmp_path / "results")
    csv = pd.read_csv(tmp_path / "results" / "toy.csv")  # one cell: both seeds' trials pooled
    assert len(csv) == 1 and csv.seeds.item() == "0,1" and csv.trials.item() == 2
    hq = [v for r in recs for v in r["metrics"]["hq_trials"]]
    assert csv.hq.item() == pytest.approx(sum(hq) / 2)


def test_slurm_launcher_config_composes_and_asks_a_gpu_only_for_the_image_grids():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

    def launcher(*overrides):
        with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
            cfg = compose(config_name="run", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
        return cfg.hydra.launcher

    cifar = launcher("experiment=cifar10_table", "hydra.launcher.partition=gpu")
    assert cifar._target_.endswith("SlurmLauncher") and cifar.partition == "gpu"
    assert cifar.gpus_per_node == 1 and cifar.array_parallelism == 16 and cifar.timeout_min == 240
    assert launcher("experiment=imagenet_table").gpus_per_node == 1
    assert launcher("experiment=toy_table").gpus_per_node == 0  # a cluster without a GPU partition runs it
    assert launcher("experiment=cifar10_table", "hydra.launcher.gpus_per_node=0").gpus_per_node == 0
    assert launcher("experiment=toy_table", "device=cuda").gpus_per_node == 1
    assert launcher("experiment=toy_table", "hydra.launcher.gpus_per_node=2").gpus_per_node == 2
