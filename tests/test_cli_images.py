"""An image run through the dot-run CLI: random-weight 32px pair, fake CIFAR-10 files, tiny extractor. Runs that
finish call dot-run's Hydra app in this process (tests/inprocess.py); the failing one is a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.fake import write_fake_cifar10
from tests.inprocess import dot_run_in_process
from tests.test_cli import dot_run, last_line

ROOT = Path(__file__).resolve().parents[1]
TINY = "py:tests.metrics.tiny:make_tiny_extractor"


def image_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["dataset=cifar10", "model=random_dcgan32", "model.ch=16", "n_samples=24", "batch_size=12",
            f"metrics.feature_extractor={TINY}", "metrics.is_splits=2", f"paths.data={tmp_path / 'data'}",
            f"paths.cache={tmp_path / 'cache'}", "paths.allow_download=false", *extra]


@pytest.mark.parametrize("method", ["none", "dot", "drs"])
def test_image_run_writes_is_and_fid(tmp_path, method):
    write_fake_cifar10(tmp_path / "data", per_file=8)
    extra = {"none": [], "dot": ["method.steps=2", "method.k_eff_pairs=10"],
             "drs": ["method.burn_in=48", "method.calibration_samples=24"]}[method]
    proc = dot_run_in_process(*image_args(tmp_path, f"method={method}", *extra, f"hydra.run.dir={tmp_path / 'out'}"),
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert {"is_mean", "is_std", "fid"} <= set(rec["metrics"])
    assert rec["metrics"]["fid"] > 0 and rec["metrics"]["is_mean"] >= 1
    assert rec["evaluation"]["reference_set"] == "train+test" and "not comparable" in rec["evaluation"]["note"]
    assert (tmp_path / "out" / rec["figures"][0]).stat().st_size > 1000
    if method == "drs":
        assert 0 < rec["cost"]["acceptance_rate"] <= 1


def test_missing_dataset_without_download_is_one_line(tmp_path):
    proc = dot_run(*image_args(tmp_path, "method=none", f"hydra.run.dir={tmp_path / 'out'}"),
                   cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("dot-run: error: ")
    assert not (tmp_path / "out" / "result.json").exists()


def test_metrics_none_needs_no_dataset(tmp_path):
    proc = dot_run_in_process(*image_args(tmp_path, "method=dot", "method.steps=1", "method.k_eff_pairs=4",
                                          "metrics=none", "save_samples=true", f"hydra.run.dir={tmp_path / 'out'}"),
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "out" / "result.json").read_text())
    assert rec["metrics"] == {} and (tmp_path / "out" / "samples.npz").is_file()
