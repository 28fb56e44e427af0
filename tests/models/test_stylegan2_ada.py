"""dotcli's StyleGAN2-ADA networks against the official code's outputs (fixtures made by
scripts/make_stylegan2_ada_fixtures.py from NVlabs/stylegan2-ada-pytorch), through a file in the original format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dotcli import DotcliError
from dotcli.models.stylegan2_ada import read_networks
from dotcli.models.stylegan2_layers import set_fused_modconv

FIXTURES = Path(__file__).parent / "fixtures" / "stylegan2_ada"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.pt"))
TOLERANCE = 1e-4  # relative: max |ours - official| / max |official|


def load_fixture(name: str) -> dict:
    return torch.load(FIXTURES / f"{name}.pt", map_location="cpu", weights_only=True)


def fixture_inputs(fx: dict) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """z, one-hot c for G, x, one-hot c for D: regenerated from the fixture's seed as the script drew them."""
    gk = fx["init_kwargs"]["G"]
    gen = torch.Generator().manual_seed(fx["seed"])
    z = torch.randn(fx["n_g"], gk["z_dim"], generator=gen)
    yg = torch.randint(0, max(gk["c_dim"], 1), (fx["n_g"],), generator=gen)
    res = gk["img_resolution"]
    x = torch.randn(fx["n_d"], 3, res, res, generator=gen) * 0.7
    yd = torch.randint(0, max(gk["c_dim"], 1), (fx["n_d"],), generator=gen)
    assert torch.equal(z, fx["inputs"]["z"]) and torch.equal(yg, fx["inputs"]["y_g"])

    def onehot(y):
        return torch.nn.functional.one_hot(y, gk["c_dim"]).float() if gk["c_dim"] else torch.zeros(len(y), 0)

    return z, onehot(yg), x, onehot(yd)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def test_fixtures_present():
    assert len(NAMES) >= 4, f"fixtures missing in {FIXTURES}"


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_official_code(name, fused, tmp_path):
    from tests.models.nvidia_pickle_writer import fixture_pickle

    fx = load_fixture(name)
    nets = read_networks(fixture_pickle(tmp_path / f"{name}.pkl", fx))
    for key in ("G", "G_ema"):
        set_fused_modconv(nets[key], fused)
    z, cg, x, cd = fixture_inputs(fx)
    want = fx["outputs"]
    with torch.no_grad():
        got = {"G_ema": nets["G_ema"](z, cg, noise_mode="const"),
               "G_ema_trunc07": nets["G_ema"](z, cg, truncation_psi=0.7, noise_mode="const"),
               "G": nets["G"](z, cg, noise_mode="const")}
    xr = x.clone().requires_grad_(True)
    d = nets["D"](xr, cd)
    (got["grad_D"],) = torch.autograd.grad(d.sum(), xr)
    got["D"] = d.detach()
    zr = z.clone().requires_grad_(True)
    (got["grad_z_D_G_ema"],) = torch.autograd.grad(nets["D"](nets["G_ema"](zr, cg, noise_mode="const"), cg).sum(), zr)
    for key in ("G_ema", "G_ema_trunc07", "G", "D", "grad_D", "grad_z_D_G_ema"):
        assert got[key].shape == want[key].shape, key
        assert rel(got[key], want[key]) <= TOLERANCE, (key, rel(got[key], want[key]))
    # the comparison can fail: truncation, G vs G_ema, and D's batch mates all change the numbers
    assert rel(want["G_ema_trunc07"], want["G_ema"]) > 1e-2
    assert rel(want["G"], want["G_ema"]) > 1e-2


def test_wrong_shape_names_key_and_shapes(tmp_path):
    from tests.models.nvidia_pickle_writer import fixture_pickle

    fx = load_fixture("cifar_uncond_small")
    fx["state"]["D"]["b4.fc.weight"] = fx["state"]["D"]["b4.fc.weight"][:, :-1]
    with pytest.raises(DotcliError, match=r"b4\.fc\.weight.*\(16, 255\).*\(16, 256\)"):
        read_networks(fixture_pickle(tmp_path / "bad.pkl", fx))


def test_unknown_architecture_key_is_refused(tmp_path):
    from tests.models.nvidia_pickle_writer import fixture_pickle

    fx = load_fixture("cifar_uncond_small")
    fx["init_kwargs"]["D"]["epilogue_kwargs"]["mbstd_mode"] = "x"
    with pytest.raises(DotcliError, match="mbstd_mode"):
        read_networks(fixture_pickle(tmp_path / "bad.pkl", fx))
