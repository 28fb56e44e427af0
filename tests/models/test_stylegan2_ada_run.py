"""Every sampler through dot-run on a StyleGAN2-ADA network pickle made from the fixtures (conditional, 32 px,
minibatch-std group 32, batches of 24: the cyclic completion rule in use); bad files fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.fake import write_fake_cifar10
from tests.inprocess import dot_run_in_process
from tests.models.nvidia_pickle_writer import fixture_pickle
from tests.models.test_stylegan2_ada import load_fixture
from tests.test_cli import dot_run, last_line

ROOT = Path(__file__).resolve().parents[2]
TINY = "py:tests.metrics.tiny:make_tiny_extractor"
METHODS = {
    "none": [], "naive": ["method.steps=2", "method.k_eff_pairs=10"],
    "drs": ["method.burn_in=48", "method.calibration_samples=24"],
    "mh": ["method.chain_length=4", "method.calibrate=none"],
    "dot": ["method.steps=2", "method.k_eff_pairs=10"], "dot_local": ["method.steps=2"],
    "ddls": ["method.steps=2"], "dgflow": ["method.steps=2"],
}


@pytest.fixture(scope="module")
def setup_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sg2run")
    fixture_pickle(root / "cond.pkl", load_fixture("cifar_cond_small"))
    write_fake_cifar10(root / "data", per_file=8)
    return root


def args(root: Path, *extra: str) -> list[str]:
    return ["dataset=cifar10", "model=stylegan2_ada", f"model.checkpoint={root / 'cond.pkl'}", "n_samples=24",
            "batch_size=24", f"metrics.feature_extractor={TINY}", "metrics.is_splits=2", f"paths.data={root / 'data'}",
            f"paths.cache={root / 'cache'}", "paths.allow_download=false", *extra]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_sampler_runs_on_the_pair(setup_dir, tmp_path, method):
    out = tmp_path / "out"
    proc = dot_run_in_process(*args(setup_dir, f"method={method}", *METHODS[method], f"hydra.run.dir={out}"),
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert rec["model"] == "stylegan2_ada" and rec["metrics"]["fid"] > 0
    assert rec["model_notes"]["noise_mode"] == "random" and "group" in rec["model_notes"]["mbstd_rule"]
    assert len(rec["model_notes"]["checkpoint_sha256"]) == 64
    if method == "dot":  # conditional: one K per class (DOT_cond.py)
        k = rec["params"]["setup"][0]["k_eff"]
        assert rec["params"]["setup"][0]["k_eff_source"] == "per_class" and 0 < k["min"] <= k["max"]


def test_same_seed_same_numbers(setup_dir, tmp_path):
    recs = []
    for name in ("a", "b"):
        proc = dot_run_in_process(*args(setup_dir, "method=dot", *METHODS["dot"], f"hydra.run.dir={tmp_path / name}"),
                                  cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        recs.append(json.loads((tmp_path / name / "result.json").read_text()))
    assert recs[0]["metrics"] == recs[1]["metrics"]


def test_not_a_network_pickle_is_one_line_exit_2(setup_dir, tmp_path):
    bad = tmp_path / "random.pkl"
    bad.write_bytes(bytes(range(256)) * 8)
    out = tmp_path / "out"
    proc = dot_run(*args(setup_dir, "method=none", f"model.checkpoint={bad}", f"hydra.run.dir={out}"),
                   cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    line = last_line(proc.stderr)
    assert line.startswith("dot-run: error: ") and "random.pkl" in line
    assert not (out / "result.json").exists()


def test_preflight_checks_the_given_checkpoint_not_the_datasets_file(setup_dir, tmp_path):
    from omegaconf import OmegaConf

    from dotcli.preflight import checkpoints_missing

    model = OmegaConf.load(ROOT / "dotcli" / "configs" / "model" / "stylegan2_ada.yaml")
    paths = {"cache": str(tmp_path / "cache"), "checkpoints": None}

    def missing(checkpoint):
        model.checkpoint = checkpoint
        cfg = OmegaConf.create({"model": model, "paths": paths, "dataset": {"name": "cifar10"}})
        return [m.reason for m in checkpoints_missing(cfg, allow_download=False)]

    assert missing(str(setup_dir / "cond.pkl")) == []  # cifar10.pkl is not needed
    assert "cifar10.pkl" in missing(None)[0] and "downloads are off" in missing(None)[0]
    url = missing("https://example.invalid/nets/other.pkl")
    assert len(url) == 1 and "other.pkl" in url[0] and "downloads are off" in url[0]
    assert "does not exist" in missing(str(tmp_path / "nope.pkl"))[0]
