"""k_eff on functions whose Lipschitz constant is known."""

import torch

from dotcli.samplers.keff import estimate_k_eff, estimate_k_eff_per_class
from tests.conftest import linear_pair


def test_target_space_k_eff_of_linear_d_approaches_norm_of_w():
    w = torch.tensor([3.0, 4.0])  # Lipschitz constant 5
    pair = linear_pair(torch.eye(2), w)
    k = estimate_k_eff(pair, "target", torch.Generator().manual_seed(0), n_pairs=100, repeats=10)
    assert 4.9 < k <= 5.0 + 1e-5


def test_latent_space_k_eff_includes_the_generator():
    w = torch.tensor([3.0, 4.0])
    pair = linear_pair(torch.eye(2) * 2.0, w)  # D(G(z)) has Lipschitz constant 10 in z
    k_latent = estimate_k_eff(pair, "latent", torch.Generator().manual_seed(0), n_pairs=100, repeats=10)
    k_target = estimate_k_eff(pair, "target", torch.Generator().manual_seed(0), n_pairs=100, repeats=10)
    assert 9.8 < k_latent <= 10.0 + 1e-4
    assert 4.9 < k_target <= 5.0 + 1e-5


def test_k_eff_is_a_max_over_pairs_not_a_mean():
    pair = linear_pair(torch.eye(2), torch.tensor([1.0, 0.0]))
    one_pair = estimate_k_eff(pair, "target", torch.Generator().manual_seed(1), n_pairs=1)
    many = estimate_k_eff(pair, "target", torch.Generator().manual_seed(1), n_pairs=500)
    assert many >= one_pair and many > 0.99


class _CondG(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, z, y):
        return z


class _CondD(torch.nn.Module):
    def forward(self, x, y):
        return x[:, 0] * (y.float() + 1)  # class c has Lipschitz constant c + 1


def test_per_class_k_eff_is_one_max_per_class():
    from dotcli.models.pair import ModelPair

    pair = ModelPair(G=_CondG(), D=_CondD(), z_dim=2, prior="uniform", n_classes=3)
    k = estimate_k_eff_per_class(pair, "target", torch.Generator().manual_seed(0), n_pairs=200)
    assert k.shape == (3,)
    for c in range(3):
        assert 0.95 * (c + 1) < k[c].item() <= (c + 1) + 1e-5


def test_dot_setup_uses_k_eff_pairs_same_class_pairs_per_class():
    from dotcli.models.pair import ModelPair
    from dotcli.samplers.base import SetupContext
    from dotcli.samplers.dot import DOTSampler

    for n_pairs in (50, 100):
        pair = ModelPair(G=_CondG(), D=_CondD(), z_dim=2, prior="uniform", n_classes=3)
        out = DOTSampler(space="latent", k_eff_pairs=n_pairs).setup(pair, SetupContext(gen=torch.Generator()))
        assert out["k_eff_source"] == "per_class"
        assert pair.counter.d == 2 * n_pairs * 3 and pair.counter.g == 2 * n_pairs * 3  # 2 members x pairs x classes
