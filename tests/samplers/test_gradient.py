"""DOT and naive on linear models, where every update has a closed form."""

import math

import pytest
import torch

from dotcli.samplers.dot import DOTSampler
from dotcli.samplers.gradient import RefinementDiverged, _normal_prior_correction, transport
from dotcli.samplers.naive import NaiveSampler
from tests.conftest import linear_pair

W = torch.tensor([0.6, -0.8])  # ||w|| = 1


def test_first_target_step_uses_unsquared_norm_and_offset():
    # At x = y the gradient of ||x - y + 0.001|| is (0.001, 0.001) / ||(0.001, 0.001)|| = 1/sqrt(2) each.
    pair = linear_pair(torch.eye(2), W)
    y = torch.tensor([[0.3, 0.1], [-0.5, 0.2]])
    x, _ = transport(pair, y, space="target", steps=1, eps=0.1, optimizer="sgd", k_eff=2.0,
                     transport_weight=1.0)
    expected = y - 0.1 * (torch.full((2,), 1 / math.sqrt(2)) - W / 2.0)
    torch.testing.assert_close(x, expected)


def test_dot_stays_at_anchor_when_k_exceeds_lipschitz_constant():
    # With K > ||w|| the objective ||x - y + 0.001|| - w.x/K is minimised at x = y - 0.001.
    pair = linear_pair(torch.eye(2), W)
    y = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    x, _ = transport(pair, y, space="target", steps=200, eps=0.002, optimizer="sgd", k_eff=2.0,
                     transport_weight=1.0)
    assert (x - (y - 0.001)).norm(dim=1).max() < 0.01


def test_naive_moves_along_gradient_of_d():
    pair = linear_pair(torch.eye(2), W)
    y = torch.zeros(3, 2)
    x, _ = transport(pair, y, space="target", steps=7, eps=0.05, optimizer="sgd", k_eff=2.0,
                     transport_weight=0.0)
    torch.testing.assert_close(x, y + 7 * 0.05 * W / 2.0)


def test_latent_naive_clips_to_uniform_box_and_records_steps():
    A = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    pair = linear_pair(A, W)  # D(G(z)) = (A^T w) . z = (1.2, -0.8) . z
    z0 = torch.zeros(1, 2)
    z, rec = transport(pair, z0, space="latent", steps=10, eps=0.1, optimizer="sgd", k_eff=1.0,
                       transport_weight=0.0, clip=(-1.0, 1.0), record_steps=(0, 5, 10))
    torch.testing.assert_close(z, torch.tensor([[1.0, -0.8]]))  # 1.2 clipped to 1
    torch.testing.assert_close(rec[5], torch.tensor([[0.6, -0.4]]))
    torch.testing.assert_close(rec[0], z0)


def test_adam_with_beta1_zero_takes_sign_like_first_step():
    pair = linear_pair(torch.eye(2), W)
    y = torch.zeros(1, 2)
    x, _ = transport(pair, y, space="target", steps=1, eps=0.01, optimizer="adam", k_eff=1.0,
                     transport_weight=0.0)
    # Adam's first step is lr * g / (|g| + eps_adam): every coordinate moves by ~lr.
    torch.testing.assert_close(x, 0.01 * torch.sign(W).reshape(1, 2), atol=1e-6, rtol=0)


def test_normal_prior_corrections():
    g = torch.tensor([[1.0, 2.0]])
    z = torch.tensor([[3.0, -1.0]])
    dot = 1 * 3 + 2 * -1
    torch.testing.assert_close(_normal_prior_correction(g, z, "tanaka"), g - z * dot / 11.31)
    tangent = _normal_prior_correction(g, z, "tangent")
    assert abs((tangent * z).sum().item()) < 1e-6
    torch.testing.assert_close(_normal_prior_correction(g, z, "none"), g)


def test_nan_aborts_with_step_number():
    pair = linear_pair(torch.eye(2), W)
    y = torch.zeros(2, 2)
    with pytest.raises(RefinementDiverged, match="step 1 of 5"):
        transport(pair, y, space="target", steps=5, eps=0.1, optimizer="sgd", k_eff=1e-40,
                  transport_weight=1.0)


def test_samplers_share_latents_and_are_deterministic():
    pair = linear_pair(torch.eye(2) * 0.5, W, sample_range=(-2.0, 2.0))
    dot = DOTSampler(space="target", eps=0.01, steps=5, k_eff=2.0)
    naive = NaiveSampler(space="target", eps=0.01, steps=5, k_eff=2.0)
    a = dot.sample(pair, 10, torch.Generator().manual_seed(3))
    b = dot.sample(pair, 10, torch.Generator().manual_seed(3))
    c = naive.sample(pair, 10, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.x, b.x)
    torch.testing.assert_close(a.x_init, c.x_init)
    assert not torch.allclose(a.x, c.x)


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": -0.1}, "method.eps=-0.1"), ({"steps": -1}, "method.steps=-1"),
    ({"space": "pixel"}, "method.space='pixel'"), ({"optimizer": "rmsprop"}, "method.optimizer"),
    ({"k_eff": 0}, "method.k_eff=0"),
])
def test_bad_parameters_are_named(kwargs, match):
    from dotcli import DotcliError

    with pytest.raises(DotcliError, match=match):
        DOTSampler(**kwargs)
