"""scripts/train_gan.py (a few steps on fake Fashion-MNIST files) and the dotcli_sndcgan loader."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.models.sndcgan import GreyToRGB, RGBToGrey, load_dotcli_sndcgan_pair, pair_from_checkpoint
from tests.data.fake_fmnist import write_fake_fmnist

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("train_gan", ROOT / "scripts" / "train_gan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(tmp_path, out, steps, *extra):
    _script().main(["--dataset", "fashion_mnist", "--data-root", str(tmp_path / "data"),
                    "--set", "dataset.data.debian_dir=null", "--ch", "16", "--batch", "8", "--n-dis", "2",
                    "--steps", str(steps), "--out", str(out), "--save-every", "1", *extra])
    return torch.load(out, map_location="cpu", weights_only=True)


@pytest.fixture
def data(tmp_path):
    write_fake_fmnist(tmp_path / "data", n_train=32, n_test=8)


def test_training_changes_the_weights_and_resumes_exactly(tmp_path, data):
    init = train(tmp_path, tmp_path / "init.pt", 0)
    assert init["step"] == 0
    two = train(tmp_path, tmp_path / "a.pt", 2)
    assert two["step"] == 2 and two["recipe"]["channels"] == 1 and two["recipe"]["loss"] == "hinge"
    for net in ("G", "D"):
        changed = [k for k in init[net] if not torch.equal(init[net][k], two[net][k])]
        assert changed, f"{net} did not change"
    resumed = train(tmp_path, tmp_path / "a.pt", 4)  # same --out: continues from step 2
    straight = train(tmp_path, tmp_path / "b.pt", 4, "--export", str(tmp_path / "ship.pt"))
    assert resumed["step"] == straight["step"] == 4
    for net in ("G", "D"):
        for k in straight[net]:
            torch.testing.assert_close(resumed[net][k], straight[net][k], rtol=0, atol=0)
    shipped = torch.load(tmp_path / "ship.pt", map_location="cpu", weights_only=True)
    assert set(shipped) == {"G", "D", "recipe", "step"}  # no optimiser state in the exported file


def test_exported_checkpoint_loads_as_an_rgb_pair(tmp_path, data):
    train(tmp_path, tmp_path / "t.pt", 1, "--export", str(tmp_path / "ship.pt"))
    spec = {"name": "ship.pt", "sha256": sha256_of(tmp_path / "ship.pt")}
    model = OmegaConf.create({"name": "mine", "files": {"fashion_mnist": spec}})
    pair = load_dotcli_sndcgan_pair(model, "fashion_mnist", {"checkpoints": str(tmp_path), "cache": str(tmp_path)})
    assert isinstance(pair.G, GreyToRGB) and isinstance(pair.D, RGBToGrey) and pair.d_output == "critic"
    z = pair.sample_z(5, torch.Generator().manual_seed(0))
    x = pair.generate(z)
    assert x.shape == (5, 3, 32, 32) and torch.equal(x[:, 0], x[:, 2]) and x.abs().max() <= 1
    assert pair.discriminate(x).shape == (5,)
    # D reads the channel mean: on grey-repeated images that is the grey image itself
    torch.testing.assert_close(pair.D(x), pair.D.net(x[:, :1]))
    with pytest.raises(DotcliError, match="no 'recipe'"):
        pair_from_checkpoint({"G": {}, "D": {}}, "x.pt")


def test_shipped_pair_config_loads():
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        cfg = compose(config_name="run", overrides=["dataset=fashion_mnist", "model=dotcli_sndcgan"])
    pair = load_dotcli_sndcgan_pair(cfg.model, "fashion_mnist", cfg.paths)
    x = pair.generate(pair.sample_z(4, torch.Generator().manual_seed(0)))
    assert x.shape == (4, 3, 32, 32) and pair.prior == "uniform" and pair.z_dim == 128
