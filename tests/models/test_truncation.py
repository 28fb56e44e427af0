"""The z-space truncation trick (model.truncation): uniform psi shrink, BigGAN's truncated normal."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from torch import nn

from dotcli import DotcliError
from dotcli.components import load_pair
from dotcli.models.pair import ModelPair


def pair(prior: str, truncation: float | None = None) -> ModelPair:
    return ModelPair(G=nn.Linear(4, 2), D=nn.Linear(2, 1), z_dim=4, prior=prior, truncation=truncation)


def test_uniform_prior_shrinks_the_same_latents_by_psi():
    plain = pair("uniform").sample_z(500, torch.Generator().manual_seed(0))
    shrunk = pair("uniform", 0.3).sample_z(500, torch.Generator().manual_seed(0))
    torch.testing.assert_close(shrunk, plain * 0.3, rtol=0, atol=0)
    assert shrunk.abs().max() <= 0.3


def test_normal_prior_redraws_what_falls_outside_the_threshold():
    z = pair("normal", 0.5).sample_z(2000, torch.Generator().manual_seed(1))
    again = pair("normal", 0.5).sample_z(2000, torch.Generator().manual_seed(1))
    assert z.abs().max() <= 0.5 and torch.equal(z, again)  # same seed, same numbers
    # a truncated standard normal on [-0.5, 0.5] is nearly uniform there: variance ~ 0.0801 (not 1/12 = 0.0833)
    assert z.var().item() == pytest.approx(0.0801, abs=0.006) and abs(z.mean().item()) < 0.02
    wide = pair("normal", 50.0).sample_z(100, torch.Generator().manual_seed(2))
    assert torch.equal(wide, pair("normal").sample_z(100, torch.Generator().manual_seed(2)))


@pytest.mark.parametrize(("prior", "value", "message"), [
    ("uniform", 1.5, "psi in (0, 1]"), ("uniform", 0.0, "psi in (0, 1]"), ("normal", -1.0, "threshold > 0"),
    ("normal", True, "threshold > 0"),
])
def test_bad_truncation_is_one_line(prior, value, message):
    with pytest.raises(DotcliError, match=message.replace("(", r"\(").replace("]", r"\]")):
        pair(prior, value)


def test_model_truncation_reaches_the_pair_and_its_notes():
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        cfg = compose(config_name="run", overrides=["model.truncation=0.5"])
    loaded = load_pair(cfg)
    assert loaded.truncation == 0.5 and loaded.prior == "uniform"
    assert loaded.notes["truncation"] == "z = 0.5 * U[-1, 1]^d (psi)"
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        assert load_pair(compose(config_name="run")).truncation is None
