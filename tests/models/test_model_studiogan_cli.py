"""Every sampler through dot-run on the StudioGAN CIFAR10/BigGAN fixture (a class-conditional, per-sample D),
the pair built through the runner's own composition, and bad input as one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from dotcli.components import load_pair
from dotcli.preflight import checkpoints_missing
from tests.data.fake import write_fake_cifar10
from tests.inprocess import dot_run_in_process
from tests.test_cli import dot_run, last_line

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "models" / "fixtures" / "studiogan" / "CIFAR10-BigGAN"
TINY = "py:tests.metrics.tiny:make_tiny_extractor"
MODEL = ["model=studiogan", "model.config=CIFAR10/BigGAN", f"model.checkpoint_dir={FIXTURE}",
         "model.arch_overrides={g_conv_dim:8,d_conv_dim:8,g_shared_dim:16}"]
FAST = {"none": [], "naive": ["method.steps=2"], "dot": ["method.steps=2", "method.k_eff_pairs=10"],
        "dot_local": ["method.steps=2", "method.k_eff_pairs=10"],
        # a conditional critic: DRS and MH-GAN do not calibrate it (their calibration fits unlabelled real data)
        "drs": ["method.burn_in=24", "method.calibrate=never"],
        "mh": ["method.chain_length=4", "method.calibrate=none"],
        "ddls": ["method.steps=2", "method.record_every=2"], "dgflow": ["method.steps=2"]}


@pytest.fixture
def configs():
    """Hydra's compose API on dotcli's configs, per test: the in-process dot-run tests above clear Hydra's state."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def args(tmp_path: Path, *extra: str) -> list[str]:
    return ["dataset=cifar10", *MODEL, "n_samples=24", "batch_size=12", f"metrics.feature_extractor={TINY}",
            "metrics.is_splits=2", f"paths.data={tmp_path / 'data'}", f"paths.cache={tmp_path / 'cache'}",
            "paths.allow_download=false", *extra]


@pytest.mark.parametrize("method", list(FAST))
def test_every_sampler_runs_on_studiogan_biggan(tmp_path, method):
    write_fake_cifar10(tmp_path / "data", per_file=8)
    proc = dot_run_in_process(*args(tmp_path, f"method={method}", *FAST[method], f"hydra.run.dir={tmp_path / 'out'}"),
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert rec["metrics"]["fid"] > 0 and rec["model"] == "studiogan"
    assert rec["model_notes"]["studiogan_config"] == "CIFAR10/BigGAN"
    assert rec["model_notes"]["run_name"] == "CIFAR10-BigGAN-train-fixture"
    if method == "dot":  # conditional: one K per class
        assert rec["params"]["setup"][0]["k_eff_source"] == "per_class"
    if method == "drs":
        assert rec["params"]["setup"][0]["calibration"]["fitted"] is False
    if method == "mh":
        assert rec["params"]["setup"][0]["calibration"]["kind"] == "none" and 0 < rec["cost"]["acceptance_rate"] <= 1


SG2 = ["model=studiogan", "model.config=CIFAR10/StyleGAN2-ADA",
       f"model.checkpoint_dir={FIXTURE.parent / 'CIFAR10-StyleGAN2-ADA'}",
       "model.arch_overrides={z_dim:32,w_dim:32,channel_max:16}"]


@pytest.mark.parametrize("method", ["dot", "drs", "mh", "ddls"])
def test_samplers_run_on_studiogan_stylegan2(tmp_path, method):
    write_fake_cifar10(tmp_path / "data", per_file=8)
    extra = {"drs": ["method.burn_in=24"]}.get(method, FAST[method])  # a logit D: DRS uses it uncalibrated (auto)
    run = [a for a in args(tmp_path, f"method={method}", *extra, f"hydra.run.dir={tmp_path / 'out'}")
           if a not in MODEL]
    proc = dot_run_in_process(*run, *SG2, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(Path(last_line(proc.stdout)).read_text())
    assert rec["metrics"]["fid"] > 0 and rec["model_notes"]["noise_mode"] == "random"
    assert rec["model_notes"]["mbstd_group_size"] == 32


def test_pair_builds_through_the_runner_composition(configs):
    cfg = compose(config_name="run", overrides=["dataset=cifar10", *MODEL])
    pair = load_pair(cfg)
    assert pair.n_classes == 10 and pair.z_dim == 80 and pair.d_output == "critic"
    assert OmegaConf.select(cfg, "model.generator") == "G_ema"


def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path):
    run = args(tmp_path, "method=none", "model.config=CIFAR10/NoSuchGAN", f"hydra.run.dir={tmp_path / 'out'}")
    proc = dot_run(*run, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("dot-run: error: model.config=CIFAR10/NoSuchGAN is not a known StudioGAN config; known: ")
    assert not (tmp_path / "out" / "result.json").exists()


def test_a_missing_run_directory_is_one_line(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=8)
    proc = dot_run_in_process(*args(tmp_path, "method=none", "model.checkpoint_dir=/nonexistent/run",
                                    f"hydra.run.dir={tmp_path / 'out'}"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dot-run: error: model.checkpoint_dir=/nonexistent/run is not a directory (expected a StudioGAN run's "
        "checkpoint directory or its Hugging Face URL prefix)"]
    assert not (tmp_path / "out" / "result.json").exists()


@pytest.mark.parametrize(("experiment", "model", "dataset"), [
    ("modern_cifar10", "studiogan_cifar10_biggan", "cifar10"),
    ("modern_cifar10", "studiogan_cifar10_stylegan2_ada", "cifar10"),
    ("modern_imagenet", "studiogan_imagenet_biggan", "imagenet"),
])
def test_grids_run_all_eight_methods_at_50k_with_preflight(configs, experiment, model, dataset):
    cfg = compose(config_name="run", overrides=[f"experiment={experiment}", f"model={model}", f"dataset={dataset}"],
                  return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert model in params.model.split(",") and params.dataset == dataset
    assert params.method.split(",") == ["none", "naive", "drs", "dot", "dot_local", "mh", "ddls", "dgflow"]
    assert cfg.n_samples == 50000 and cfg.preflight.skip_unavailable is True
    assert cfg.dataset.refine.mh_calibrate == "none" and cfg.dataset.refine.drs_calibrate == "never"
    if "stylegan2" in model:
        assert cfg.batch_size % 32 == 0 and cfg.model.files.cifar10.D.sha256


def test_preflight_names_a_missing_run_directory(configs, tmp_path):
    cfg = compose(config_name="run", overrides=["model=studiogan_cifar10_biggan", "dataset=cifar10",
                                                f"paths.cache={tmp_path}"])
    missing = checkpoints_missing(cfg, allow_download=False)
    assert len(missing) == 1
    assert "CIFAR10-BigGAN-DiffAug-LeCam (model.checkpoint_dir) does not exist" in missing[0].reason
    cfg = compose(config_name="run", overrides=["dataset=cifar10", *MODEL])
    assert checkpoints_missing(cfg, allow_download=False) == []


def test_the_public_load_pair_gives_the_pair_dot_run_builds(configs):
    import torch

    import dotcli

    pair = dotcli.load_pair("dataset=cifar10", "device=cpu", *MODEL)
    same = load_pair(compose(config_name="run", overrides=["dataset=cifar10", *MODEL]))
    assert (pair.n_classes, pair.z_dim, pair.d_output) == (10, 80, "critic")
    z, y = torch.randn(4, 80, generator=torch.Generator().manual_seed(0)), torch.arange(4)
    with torch.no_grad():
        assert torch.equal(pair.discriminate(pair.generate(z, y), y), same.discriminate(same.generate(z, y), y))
    with pytest.raises(dotcli.DotcliError, match="model.config=CIFAR10/NoSuchGAN is not a known StudioGAN config"):
        dotcli.load_pair("dataset=cifar10", *MODEL, "model.config=CIFAR10/NoSuchGAN")
