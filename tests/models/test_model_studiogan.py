"""model=studiogan: BigGAN runs checked against PyTorch-StudioGAN's own outputs (fixtures written by
scripts/make_studiogan_fixtures.py), run-directory rules, downloads, truncation and bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.models.studiogan import (
    CONFIGS,
    biggan_networks,
    find_run_files,
    load_studiogan_pair,
    stylegan2_d_keys,
    stylegan2_networks,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "studiogan"
CONFIG = Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model" / "studiogan.yaml"
CASES = {"CIFAR10-BigGAN": ("CIFAR10/BigGAN", "cifar10"), "CIFAR10-BigGAN-Uncond": ("CIFAR10/BigGAN-Uncond", "cifar10"),
         "ImageNet-BigGAN-256": ("ImageNet/BigGAN-256", "imagenet"),
         "CIFAR10-StyleGAN2-ADA": ("CIFAR10/StyleGAN2-ADA", "cifar10")}
OVERRIDES = {"g_conv_dim": "g_conv_dim", "d_conv_dim": "d_conv_dim", "g_shared_dim": "g_shared_dim",
             "n_classes": "num_classes", "z_dim": "z_dim", "w_dim": "w_dim", "channel_max": "channel_max"}
TOLERANCE = 1e-4  # relative to the largest magnitude of StudioGAN's output


def expected(name: str) -> dict:
    return torch.load(FIXTURES / name / "expected.pt", weights_only=True)


def model_cfg(name: str, checkpoint_dir: Path | str | None = None, **extra):
    arch = expected(name)["arch"]
    cfg = OmegaConf.load(CONFIG)
    cfg.config = CASES[name][0]
    cfg.checkpoint_dir = str(checkpoint_dir or FIXTURES / name)
    cfg.arch_overrides = {ours: arch[theirs] for ours, theirs in OVERRIDES.items() if theirs in arch}
    if "StyleGAN2" in name:
        cfg.noise_mode = "const"  # the fixture's outputs use the stored noise buffers
    for key, value in extra.items():
        cfg[key] = value
    return cfg


def paths(tmp_path: Path | None = None) -> SimpleNamespace:
    root = tmp_path or Path("/nonexistent")
    return SimpleNamespace(checkpoints=None, cache=str(root / "cache"), allow_download=True)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", list(CASES))
def test_matches_studiogan(name):
    ref = expected(name)
    pair = load_studiogan_pair(model_cfg(name), CASES[name][1], paths())
    y = None if "Uncond" in name else ref["y"]  # StudioGAN's unconditional nets take labels and ignore them
    with torch.no_grad():
        g = pair.generate(ref["z"], y)
    x = ref["x"].clone().requires_grad_(True)
    d = pair.discriminate(x, y)
    (grad,) = torch.autograd.grad(d.sum(), x)
    assert g.shape == ref["G_ema"].shape and d.shape == ref["D"].shape
    assert rel(g, ref["G_ema"]) < TOLERANCE
    assert rel(d.detach(), ref["D"]) < TOLERANCE
    assert rel(grad, ref["grad_D"]) < TOLERANCE
    assert pair.d_output == ("logit" if "StyleGAN2" in name else "critic")
    assert pair.prior == "normal" and pair.n_classes == (0 if y is None else ref["arch"]["num_classes"])
    assert pair.notes["run_name"].endswith("-train-fixture") and pair.notes["best_fid"] == pytest.approx(123.456)
    assert pair.notes["generator"] == "G_ema"


def test_stylegan2_truncation_psi_matches_studiogan_and_options_are_checked():
    ref = expected("CIFAR10-StyleGAN2-ADA")
    pair = load_studiogan_pair(model_cfg("CIFAR10-StyleGAN2-ADA", truncation_psi=0.7), "cifar10", paths())
    with torch.no_grad():
        assert rel(pair.generate(ref["z"], ref["y"]), ref["G_ema_psi0.7"]) < TOLERANCE
    assert pair.notes["mbstd_group_size"] == 32 and pair.notes["conv_clamp"] is None
    assert load_studiogan_pair(model_cfg("CIFAR10-StyleGAN2-ADA", mixed_precision=True), "cifar10",
                               paths()).notes["conv_clamp"] == 256
    random_pair = load_studiogan_pair(model_cfg("CIFAR10-StyleGAN2-ADA", noise_mode="random"), "cifar10", paths())
    gen = torch.Generator().manual_seed(0)
    z, y = random_pair.sample_z(4, gen), random_pair.sample_y(4, gen)
    with torch.no_grad():  # random noise is drawn with the latents and held: the same z gives the same image
        assert torch.equal(random_pair.generate(z, y), random_pair.generate(z, y))
    for bad, message in (({"truncation": 0.5}, "model.truncation applies to StudioGAN's BigGAN configs"),
                         ({"noise_mode": "fresh"}, "model.noise_mode=fresh is not valid"),
                         ({"mixed_precision": "yes"}, "model.mixed_precision=yes is not valid"),
                         ({"truncation_cutoff": 99}, "model.truncation_cutoff=99 is not valid"),
                         ({"sigma_source": "exact"}, "model.sigma_source applies to StudioGAN's BigGAN")):
        with pytest.raises(DotcliError, match=message):
            load_studiogan_pair(model_cfg("CIFAR10-StyleGAN2-ADA", **bad), "cifar10", paths())
    for key, value in (("truncation_psi", 0.5), ("noise_mode", "const"), ("mixed_precision", True)):
        with pytest.raises(DotcliError, match=f"model.{key} applies to StudioGAN's StyleGAN2 configs"):
            load_studiogan_pair(model_cfg("CIFAR10-BigGAN", **{key: value}), "cifar10", paths())


@pytest.mark.parametrize("name", ["CIFAR10-BigGAN", "ImageNet-BigGAN-256"])
def test_biggan_scores_each_sample_on_its_own(name):
    ref = expected(name)
    pair = load_studiogan_pair(model_cfg(name), CASES[name][1], paths())
    with torch.no_grad():  # eval-mode BN and no minibatch statistics: one sample's output ignores the others
        whole_g, whole_d = pair.generate(ref["z"], ref["y"]), pair.discriminate(ref["x"], ref["y"])
        for i in range(len(ref["y"])):
            one = slice(i, i + 1)
            torch.testing.assert_close(pair.generate(ref["z"][one], ref["y"][one]), whole_g[one], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(pair.discriminate(ref["x"][one], ref["y"][one]), whole_d[one], rtol=1e-5,
                                       atol=1e-5)


def test_exact_sigma_is_close_but_not_the_stored_one():
    ref = expected("CIFAR10-BigGAN")
    pair = load_studiogan_pair(model_cfg("CIFAR10-BigGAN", sigma_source="exact"), "cifar10", paths())
    with torch.no_grad():
        d = pair.discriminate(ref["x"], ref["y"])
    assert 0 < rel(d, ref["D"]) < 0.5  # a few power iterations from random vectors are far from converged


def test_generator_g_loads_the_g_file():
    ref = expected("CIFAR10-BigGAN")
    pair = load_studiogan_pair(model_cfg("CIFAR10-BigGAN", generator="G"), "cifar10", paths())
    with torch.no_grad():
        g = pair.generate(ref["z"], ref["y"])
    assert rel(g, ref["G_ema"]) > 1e-3 and pair.notes["files"]["G"].startswith("model=G-best")


def test_logistic_configs_give_a_logit_and_d_output_can_be_set():
    assert CONFIGS["CIFAR10/BigGAN-ADA"]["loss"] == "logistic"
    cfg = model_cfg("CIFAR10-BigGAN")
    cfg.config = "CIFAR10/BigGAN-ADA"  # same networks, logistic loss
    assert load_studiogan_pair(cfg, "cifar10", paths()).d_output == "logit"
    cfg.d_output = "critic"
    assert load_studiogan_pair(cfg, "cifar10", paths()).d_output == "critic"


def copy_run(tmp_path: Path, name: str = "CIFAR10-BigGAN") -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / name, run)
    (run / "expected.pt").unlink()
    return run


def test_best_wins_over_current_and_sets_are_never_mixed(tmp_path):
    run = copy_run(tmp_path)
    for role in ("G", "G_ema", "D"):
        shutil.copy(run / f"model={role}-best-weights-step=2.pth", run / f"model={role}-current-weights-step=9.pth")
    assert all("-best-" in p.name for p in find_run_files(run).values())
    (run / "model=D-best-weights-step=2.pth").unlink()  # an incomplete best set: the current set, not a mix
    assert all("-current-weights-step=9" in p.name for p in find_run_files(run).values())
    (run / "model=D-current-weights-step=9.pth").unlink()
    with pytest.raises(DotcliError, match=r"has no model=D-best-weights-step=N\.pth"):
        find_run_files(run)


def test_truncated_normal_prior_is_bounded_and_reproducible():
    pair = load_studiogan_pair(model_cfg("CIFAR10-BigGAN", truncation=0.5), "cifar10", paths())
    z1 = pair.sample_z(500, torch.Generator().manual_seed(3))
    z2 = pair.sample_z(500, torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2) and z1.abs().max() <= 0.5 and z1.std() < 0.35  # N(0,1) on [-.5,.5]: std 0.28
    assert "truncated normal" in pair.notes["prior"]


def test_download_of_a_listed_run_checks_each_file(tmp_path):
    run = copy_run(tmp_path)
    cfg = model_cfg("CIFAR10-BigGAN", checkpoint_dir=run.as_uri())
    files = {role: {"name": f"model={role}-best-weights-step=2.pth"} for role in ("G", "G_ema", "D")}
    for spec in files.values():
        spec["sha256"] = hashlib.sha256((run / spec["name"]).read_bytes()).hexdigest()
    cfg.runs = {"fixture": {"url": run.as_uri() + "/", "files": files}}
    pair = load_studiogan_pair(cfg, "cifar10", paths(tmp_path))
    assert pair.notes["best_fid"] == pytest.approx(123.456)
    assert (tmp_path / "cache" / "checkpoints" / "studiogan" / "fixture" / files["D"]["name"]).is_file()
    cfg.config = "CIFAR10/BigGAN-CR"
    cfg.runs.fixture.config = "CIFAR10/BigGAN"
    with pytest.raises(DotcliError, match="use model.config=CIFAR10/BigGAN"):
        load_studiogan_pair(cfg, "cifar10", paths(tmp_path))
    cfg.config = "CIFAR10/BigGAN"
    cfg.runs.fixture.files.D.sha256 = "0" * 64
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(DotcliError, match="sha256"):
        load_studiogan_pair(cfg, "cifar10", paths(tmp_path))


def test_file_specs_of_a_named_run_are_found_and_checked(tmp_path):
    run = tmp_path / "studiogan" / "a-run"
    shutil.copytree(FIXTURES / "CIFAR10-BigGAN", run)
    cfg = model_cfg("CIFAR10-BigGAN")
    cfg.checkpoint_dir = None
    names = {role: f"model={role}-best-weights-step=2.pth" for role in ("G_ema", "D")}
    cfg.files = {"cifar10": {role: {"name": f"studiogan/a-run/{n}", "url": None, "sha256": hashlib.sha256(
        (run / n).read_bytes()).hexdigest()} for role, n in names.items()}}
    where = SimpleNamespace(checkpoints=str(tmp_path), cache=str(tmp_path / "cache"), allow_download=False)
    pair = load_studiogan_pair(cfg, "cifar10", where)
    assert pair.notes["run_name"] == "CIFAR10-BigGAN-train-fixture"
    cfg.generator = "G"
    with pytest.raises(DotcliError, match="model.files.cifar10 has no G file"):
        load_studiogan_pair(cfg, "cifar10", where)


def test_unlisted_url_is_refused():
    with pytest.raises(DotcliError, match="not a run listed in model.runs"):
        load_studiogan_pair(model_cfg("CIFAR10-BigGAN", checkpoint_dir="https://example.org/run"), "cifar10",
                            paths())


@pytest.mark.parametrize(("change", "message"), [
    ({"config": "CIFAR10/NoSuchGAN"}, "not a known StudioGAN config; known: CIFAR10/BigGAN, "),
    ({"config": None}, "needs model.config"),
    ({"checkpoint_dir": None}, "needs model.checkpoint_dir"),
    ({"generator": "G_avg"}, "model.generator=G_avg is not valid"),
    ({"truncation": -1.0}, "model.truncation=-1.0 is not valid"),
    ({"sigma_source": "power"}, "model.sigma_source=power"),
    ({"arch_overrides": {"depth": 3}}, "model.arch_overrides.depth is not an architecture value"),
])
def test_bad_settings(change, message):
    cfg = model_cfg("CIFAR10-BigGAN")
    for key, value in change.items():
        cfg[key] = value
    with pytest.raises(DotcliError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_studiogan_pair(cfg, "cifar10", paths())


def test_wrong_dataset_is_refused():
    with pytest.raises(DotcliError, match="trained on cifar10, but dataset=imagenet"):
        load_studiogan_pair(model_cfg("CIFAR10-BigGAN"), "imagenet", paths())


def test_missing_file_is_named(tmp_path):
    run = copy_run(tmp_path)
    (run / "model=D-best-weights-step=2.pth").unlink()
    with pytest.raises(DotcliError, match=r"has no model=D-best-weights-step=N\.pth"):
        load_studiogan_pair(model_cfg("CIFAR10-BigGAN", checkpoint_dir=run), "cifar10", paths())


def test_files_of_another_config_name_what_does_not_fit():
    cfg = model_cfg("CIFAR10-BigGAN", checkpoint_dir=FIXTURES / "ImageNet-BigGAN-256")
    with pytest.raises(DotcliError, match=r"shared.weight has shape \(20, 8\), the config implies classes 10"):
        load_studiogan_pair(cfg, "cifar10", paths())
    cfg = model_cfg("CIFAR10-BigGAN")
    cfg.arch_overrides.g_conv_dim = 16
    with pytest.raises(DotcliError, match="shape mismatches"):
        load_studiogan_pair(cfg, "cifar10", paths())
    cfg = model_cfg("CIFAR10-StyleGAN2-ADA", checkpoint_dir=FIXTURES / "CIFAR10-BigGAN")
    with pytest.raises(DotcliError, match=r"do not fit Generator: missing keys \[mapping"):
        load_studiogan_pair(cfg, "cifar10", paths())


def test_a_pickled_object_beyond_the_allowed_globals_is_refused(tmp_path):
    run = copy_run(tmp_path)
    d_file = run / "model=D-best-weights-step=2.pth"
    state = torch.load(run / "model=G_ema-best-weights-step=2.pth", weights_only=True)["state_dict"]
    torch.save({"state_dict": state, "best_fid": np.float64(1.0), "extra": np.array([1, 2])}, d_file)
    with pytest.raises(DotcliError, match="refuses to unpickle numpy"):
        load_studiogan_pair(model_cfg("CIFAR10-BigGAN", checkpoint_dir=run), "cifar10", paths())


def test_known_configs_cover_the_issue():
    for name in ("CIFAR10/BigGAN", "CIFAR10/BigGAN-ADA", "CIFAR10/BigGAN-DiffAug", "CIFAR10/BigGAN-LeCam",
                 "CIFAR10/BigGAN-DiffAug-LeCam", "CIFAR10/BigGAN-CR", "CIFAR10/BigGAN-ICR", "ImageNet/BigGAN-256"):
        assert name in CONFIGS
    assert CONFIGS["ImageNet/BigGAN-256"]["img_size"] == 128 and CONFIGS["ImageNet/BigGAN-256"]["z_dim"] == 120
    sg2 = CONFIGS["CIFAR10/StyleGAN2-ADA"]
    assert sg2["loss"] == "logistic" and sg2["channel_max"] == 512 and sg2["mbstd_group_size"] == 32


@pytest.mark.parametrize("config", ["CIFAR10/BigGAN", "CIFAR10/BigGAN-Uncond", "ImageNet/BigGAN-256",
                                    "CIFAR10/StyleGAN2-ADA", "CIFAR10/StyleGAN2-Uncond"])
def test_full_width_networks_have_studiogans_keys_and_shapes(config):
    """The table at the configs' real widths: every key and shape of StudioGAN's own G_ema and D (recorded by
    scripts/make_studiogan_fixtures.py), networks built on the meta device (no memory, no weights)."""
    theirs = json.loads((FIXTURES / "full_width_shapes.json").read_text())["configs"][config]
    arch = CONFIGS[config]
    with torch.device("meta"):
        G, D = biggan_networks(arch) if arch["backbone"] == "big_resnet" else stylegan2_networks(arch)
    their_d = theirs["D"] if arch["backbone"] == "big_resnet" else stylegan2_d_keys(theirs["D"])
    for ours, expected_shapes in ((G, theirs["G_ema"]), (D, their_d)):
        assert {k: list(v.shape) for k, v in ours.state_dict().items()} == expected_shapes
