"""MH-GAN, DDLS, DGflow and DOT with local K through dot-run (its Hydra app, in this process: the subprocess path
is tests/test_cli.py's), on a toy and on random 32px images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.fake import write_fake_cifar10
from tests.inprocess import dot_run_in_process
from tests.test_cli import last_line
from tests.test_cli_images import image_args

FAST = {"mh": ["method.chain_length=8", "method.calibration_samples=60"],
        "ddls": ["method.steps=4", "method.record_every=2"],
        "dgflow": ["method.steps=4", "method.f=js"],
        "dot_local": ["method.steps=3", "method.k_eff_pairs=10"]}
# G and D evaluations per output sample (DOT's latent-space cost: one G per step, x_init and the output)
COST = {"mh": (8, 9), "ddls": (5, 4), "dgflow": (5, 4)}


@pytest.mark.parametrize("method", list(FAST))
def test_toy_run(tmp_path, method):
    proc = dot_run_in_process("dataset=swissroll", f"method={method}", "trials=2", "n_samples=60", *FAST[method],
                              "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert rec["metrics"]["emd"] > 0 and len(rec["metrics"]["emd_trials"]) == 2
    if method in COST:
        assert (rec["cost"]["g_evals_per_sample"], rec["cost"]["d_evals_per_sample"]) == COST[method]
    if method == "mh":
        assert rec["params"]["setup"][0]["calibration"]["kind"] == "logistic"
        assert 0 < rec["cost"]["acceptance_rate"] <= 1 and rec["cost"]["fallback_chains"] >= 0
    if method == "ddls":
        assert set(rec["metrics_by_step"]) == {"0", "2", "4"}
    if method == "dot_local":
        assert rec["method_info"]["ours"] and rec["params"]["k_eff"] == "local" and rec["method"] == "dot_local"
        assert rec["params"]["setup"][0]["k_eff_source"] == "local" and rec["params"]["setup"][0]["k_eff"] > 0


@pytest.mark.parametrize("method", list(FAST))
def test_image_run(tmp_path, method):
    write_fake_cifar10(tmp_path / "data", per_file=8)
    extra = [x.replace("calibration_samples=60", "calibration_samples=24") for x in FAST[method]]
    proc = dot_run_in_process(*image_args(tmp_path, f"method={method}", *extra, f"hydra.run.dir={tmp_path / 'out'}"),
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert rec["metrics"]["fid"] > 0 and rec["method_info"]["label"]
    if method in COST:
        assert (rec["cost"]["g_evals_per_sample"], rec["cost"]["d_evals_per_sample"]) == COST[method]
