"""model=custom: networks from `_target_`, weights from one file or one file per network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.models.custom import load_custom_pair
from dotcli.models.toy import ToyDiscriminator, ToyGenerator

CONFIG = Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model" / "custom.yaml"


def custom_cfg(**kw):
    cfg = OmegaConf.load(CONFIG)
    cfg.G = {"_target_": "dotcli.models.toy.ToyGenerator", "z_dim": 2}
    cfg.D = {"_target_": "dotcli.models.toy.ToyDiscriminator"}
    cfg.z_dim, cfg.prior = 2, "uniform"
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def test_single_file_with_named_entries(tmp_path):
    torch.manual_seed(0)
    G, D = ToyGenerator(), ToyDiscriminator()
    torch.save({"net_G": G.state_dict(), "net_D": D.state_dict()}, tmp_path / "both.pt")
    cfg = custom_cfg(checkpoint=str(tmp_path / "both.pt"), checkpoint_keys={"G": "net_G", "D": "net_D"},
                     d_output="logit")
    pair = load_custom_pair(cfg, "gaussians25", None)
    z = torch.rand(4, 2) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(pair.generate(z), G(z))
        torch.testing.assert_close(pair.discriminate(G(z)), D(G(z)).view(-1))
    assert (pair.z_dim, pair.prior, pair.d_output, pair.sample_range) == (2, "uniform", "logit", (-1.0, 1.0))


def test_one_file_per_network_and_default_keys(tmp_path):
    G, D = ToyGenerator(), ToyDiscriminator()
    torch.save(G.state_dict(), tmp_path / "g.pt")
    torch.save(D.state_dict(), tmp_path / "d.pt")
    cfg = custom_cfg(checkpoint={"G": str(tmp_path / "g.pt"), "D": str(tmp_path / "d.pt")})
    pair = load_custom_pair(cfg, "any", None)
    torch.testing.assert_close(pair.G.l0.weight, G.l0.weight)
    torch.save({"G": G.state_dict(), "D": D.state_dict()}, tmp_path / "both.pt")  # default keys G / D
    load_custom_pair(custom_cfg(checkpoint=str(tmp_path / "both.pt")), "any", None)


def test_errors(tmp_path):
    cfg = OmegaConf.load(CONFIG)
    with pytest.raises(DotcliError, match="model.G needs a `_target_`"):
        load_custom_pair(cfg, "any", None)
    with pytest.raises(DotcliError, match="needs weights"):
        load_custom_pair(custom_cfg(), "any", None)
    torch.save({"G": ToyGenerator().state_dict()}, tmp_path / "g_only.pt")
    with pytest.raises(DotcliError, match="no 'D' entry"):
        load_custom_pair(custom_cfg(checkpoint=str(tmp_path / "g_only.pt")), "any", None)
    torch.save({"G": ToyDiscriminator().state_dict(), "D": ToyDiscriminator().state_dict()}, tmp_path / "bad.pt")
    with pytest.raises(DotcliError, match="do not fit ToyGenerator"):
        load_custom_pair(custom_cfg(checkpoint=str(tmp_path / "bad.pt")), "any", None)
