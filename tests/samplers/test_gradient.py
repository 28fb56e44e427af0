"""DOT and naive on linear models, where every update has a closed form."""

import math

import pytest
import torch

from dotcli.models.pair import ModelPair
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


# ---- method.anchor=released: the released Chainer code's aliased anchor (docs/protocol.md#released-anchor)

def _tiny_pair(prior: str) -> ModelPair:
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5))
    D = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
    return ModelPair(G=G, D=D, z_dim=6, prior=prior, name="tiny")


def _chainer_style_released(pair, z0, steps, lr, k, prior, anchor_after_clip=False):
    """A literal re-enactment of DOT.py ``Transporter_in_latent`` with SGD: one tensor object is both the
    anchor ``zy`` and the parameter's array; SGD subtracts in place; the uniform prior's clip makes a new
    tensor (``xp.clip``) that becomes the parameter while ``zy`` keeps pointing at the old one."""
    param = z0.clone()
    zy = param  # self.zy = cuda.to_gpu(zy_xp) and L.Parameter(zy_xp): the same array
    for _ in range(steps):
        z = param.detach().requires_grad_(True)  # the Variable over the parameter's array
        loss = (-pair.D(pair.G(z)).reshape(-1) / k + (z - zy + 0.001).norm(dim=1)).sum()
        (g,) = torch.autograd.grad(loss, z)
        if prior == "normal":  # DOT_cond.py: g <- g - z (g.z) / 11.31, then update
            g = g - param * (g * param).sum(dim=1, keepdim=True) / 11.31
        param.sub_(lr * g)  # chainer SGD: param -= lr * grad, in place (zy moves too while it aliases)
        if prior == "uniform":
            param = torch.clamp(param, -1, 1)  # a new array: zy stays at the pre-clip first iterate
            if anchor_after_clip:  # a wrong reading, to show the test tells the two apart
                zy = param
    return param, zy


@pytest.mark.parametrize("prior", ["uniform", "normal"])
def test_released_anchor_matches_a_literal_aliasing_reference(prior):
    pair = _tiny_pair(prior)
    gen = torch.Generator().manual_seed(1)
    z0 = (torch.rand(16, 6, generator=gen) * 2 - 1) * 0.995 if prior == "uniform" else torch.randn(16, 6, generator=gen)
    lr, k, steps = 0.3, 0.5, 6  # a large step: many first iterates leave [-1, 1] before the clip
    ours, _ = transport(pair, z0, space="latent", steps=steps, eps=lr, optimizer="sgd", k_eff=k,
                        transport_weight=1.0, clip=(-1.0, 1.0) if prior == "uniform" else None,
                        normal_prior_grad="tanaka", anchor="released")
    ref, _ = _chainer_style_released(pair, z0, steps, lr, k, prior)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    fixed, _ = transport(pair, z0, space="latent", steps=steps, eps=lr, optimizer="sgd", k_eff=k,
                         transport_weight=1.0, clip=(-1.0, 1.0) if prior == "uniform" else None,
                         anchor="fixed")
    assert (fixed - ours).abs().max() > 1e-3  # the variants differ after step 1
    one_fixed, _ = transport(pair, z0, space="latent", steps=1, eps=lr, optimizer="sgd", k_eff=k,
                             transport_weight=1.0, anchor="fixed")
    one_released, _ = transport(pair, z0, space="latent", steps=1, eps=lr, optimizer="sgd", k_eff=k,
                                transport_weight=1.0, anchor="released")
    torch.testing.assert_close(one_fixed, one_released)  # at step 1 z = z_y in both


def test_released_anchor_uniform_keeps_the_pre_clip_first_iterate():
    pair = _tiny_pair("uniform")
    z0 = (torch.rand(16, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1) * 0.995
    lr, k = 0.3, 0.5  # a large step: some first iterates leave [-1, 1], most do not
    z = z0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((-pair.D(pair.G(z)).reshape(-1) / k).sum(), z)
    z1 = z0 - lr * (g + 1 / math.sqrt(6))  # step 1: D term + the 1/sqrt(d) offset direction
    assert (z1.abs() > 1).any()
    _, zy = _chainer_style_released(pair, z0, 3, lr, k, "uniform")
    torch.testing.assert_close(zy, z1)  # the reference's anchor is the unclipped z_1 ...
    ours, _ = transport(pair, z0, space="latent", steps=3, eps=lr, optimizer="sgd", k_eff=k,
                        transport_weight=1.0, clip=(-1.0, 1.0), anchor="released")
    ref, _ = _chainer_style_released(pair, z0, 3, lr, k, "uniform")
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    post, _ = _chainer_style_released(pair, z0, 3, lr, k, "uniform", anchor_after_clip=True)
    assert (post - ours).abs().max() > 1e-4  # ... and an anchor at the clipped z_1 gives other numbers


def test_released_anchor_normal_prior_is_ascent_plus_constant_drift():
    # With D constant the released normal-prior update is z <- z - lr (c 1 - z (c 1 . z) / 11.31), c = 1/sqrt(d):
    # the transport term's gradient is (0.001, ..., 0.001) / ||(0.001, ..., 0.001)|| at every step.
    d = 6
    pair = linear_pair(torch.eye(d), torch.zeros(d), prior="normal")
    z0 = torch.randn(3, d, generator=torch.Generator().manual_seed(2))
    z, _ = transport(pair, z0, space="latent", steps=5, eps=0.1, optimizer="sgd", k_eff=1.0,
                     transport_weight=1.0, normal_prior_grad="tanaka", anchor="released")
    expected = z0.clone()
    c = torch.full((1, d), 1 / math.sqrt(d))
    for _ in range(5):
        expected = expected - 0.1 * (c - expected * (c * expected).sum(dim=1, keepdim=True) / 11.31)
    torch.testing.assert_close(z, expected, rtol=1e-5, atol=1e-6)


def test_released_anchor_is_refused_in_target_space():
    from dotcli import DotcliError

    with pytest.raises(DotcliError, match="method.anchor=released exists only"):
        DOTSampler(space="target", anchor="released")
    with pytest.raises(DotcliError, match="method.anchor='moving'"):
        DOTSampler(space="latent", anchor="moving")
    pair = linear_pair(torch.eye(2), W)
    with pytest.raises(DotcliError, match="latent space"):
        transport(pair, torch.zeros(1, 2), space="target", steps=1, eps=0.1, optimizer="sgd", k_eff=1.0,
                  transport_weight=1.0, anchor="released")


def test_dot_records_its_anchor_variant():
    assert "anchor" in DOTSampler.info.params
    s = DOTSampler(space="latent", anchor="released", eps=0.1, steps=3, k_eff=1.0, optimizer="sgd")
    pair = _tiny_pair("uniform")
    a = s.sample(pair, 5, torch.Generator().manual_seed(0))
    b = DOTSampler(space="latent", eps=0.1, steps=3, k_eff=1.0, optimizer="sgd").sample(
        pair, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.x_init, b.x_init)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_written_out_optimizers_equal_torch_optim_bit_for_bit(name):
    """SGD and Adam(0, 0.9) are written out (no torch._dynamo import); the iterates equal torch.optim's exactly."""
    import torch.optim

    from dotcli.samplers.gradient import make_optimizer

    gen = torch.Generator().manual_seed(3)
    v0 = torch.randn(64, 5, generator=gen)
    grads = [torch.randn(64, 5, generator=gen) * 10 ** (i % 3 - 1) for i in range(30)]
    ours, ref = v0.clone(), v0.clone().requires_grad_(True)
    opt = make_optimizer(name, 0.01)
    torch_opt = (torch.optim.SGD([ref], lr=0.01) if name == "sgd"
                 else torch.optim.Adam([ref], lr=0.01, betas=(0.0, 0.9), foreach=False))
    for g in grads:
        opt.step(ours, g.clone())
        ref.grad = g.clone()
        torch_opt.step()
    assert torch.equal(ours, ref.detach())
    assert not torch.equal(ours, v0)
