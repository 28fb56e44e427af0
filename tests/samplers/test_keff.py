"""k_eff on functions whose Lipschitz constant is known."""

import math

import pytest
import torch

from dotcli import DotcliError
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


# ---- k_eff: local (ours): a quantile of D's gradient norms at G's samples


def test_local_k_of_linear_d_is_the_gradient_norm_in_either_space():
    from dotcli.samplers.keff import estimate_k_eff_local

    pair = linear_pair(torch.eye(2) * 2.0, torch.tensor([3.0, 4.0]))
    gen = torch.Generator().manual_seed(0)
    assert estimate_k_eff_local(pair, "target", gen, 100, 0.9) == pytest.approx(5.0, rel=1e-5)
    assert estimate_k_eff_local(pair, "latent", gen, 100, 0.9) == pytest.approx(10.0, rel=1e-5)


class _HalfSquare(torch.nn.Module):
    def forward(self, x):
        return 0.5 * (x * x).sum(1)  # grad = x: the gradient norm is |x|


def test_local_k_is_the_quantile_of_gradient_norms():
    # G = I on U[-1, 1]^2: P(|x| <= r) = pi r^2 / 4 for r <= 1, so the median of |x| is sqrt(2 / pi).
    from dotcli.models.pair import ModelPair
    from dotcli.samplers.keff import estimate_k_eff_local
    from tests.conftest import Linear

    pair = ModelPair(G=Linear(torch.eye(2)), D=_HalfSquare(), z_dim=2, prior="uniform")
    k = estimate_k_eff_local(pair, "target", torch.Generator().manual_seed(0), 20000, 0.5, batch_size=4096)
    assert k == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)
    k90 = estimate_k_eff_local(pair, "target", torch.Generator().manual_seed(0), 20000, 0.9, batch_size=4096)
    assert k90 > k


def test_local_k_per_class():
    from dotcli.models.pair import ModelPair
    from dotcli.samplers.keff import estimate_k_eff_local_per_class

    pair = ModelPair(G=_CondG(), D=_CondD(), z_dim=2, prior="uniform", n_classes=3)
    k = estimate_k_eff_local_per_class(pair, "target", torch.Generator().manual_seed(0), 10, 0.9)
    torch.testing.assert_close(k, torch.tensor([1.0, 2.0, 3.0]))


def test_dot_local_records_k_and_is_labelled_ours():
    from dotcli.samplers.base import SetupContext
    from dotcli.samplers.dot import DOTSampler
    from dotcli.samplers.naive import NaiveSampler

    pair = linear_pair(torch.eye(2), torch.tensor([3.0, 4.0]))
    dot = DOTSampler(space="target", k_eff="local", k_eff_pairs=50, k_eff_repeats=2, k_eff_quantile=0.8)
    info = dot.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0)))
    assert info == {"k_eff": pytest.approx(5.0), "k_eff_source": "local", "k_eff_quantile": 0.8, "k_eff_samples": 100}
    assert dot.info.ours and "ours" in dot.info.label and dot.name == "dot_local"
    # its own method name and label tell it apart in tables; k_eff is no parameter column (that column is the
    # estimated K of every cell)
    assert not DOTSampler().info.ours and DOTSampler().name == "dot" and DOTSampler().info.label != dot.info.label
    assert "k_eff" not in dot.info.params and "k_eff" not in DOTSampler().info.params
    assert not NaiveSampler(k_eff="local").info.ours
    with pytest.raises(DotcliError, match="method.k_eff_quantile=0"):
        DOTSampler(k_eff="local", k_eff_quantile=0)
