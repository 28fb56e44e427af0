"""DDLS and DGflow (the shared latent loop): a linear model whose chain has a closed-form law, and
single steps against the hand formulas."""

import math

import pytest
import torch

from dotcli import DotcliError
from dotcli.samplers.ddls import DDLSSampler
from dotcli.samplers.dgflow import DGflowSampler
from dotcli.samplers.gradient import RefinementDiverged
from tests.conftest import linear_pair

W = torch.tensor([0.6, -0.8])


@pytest.mark.parametrize("noise_scale", [1.0, 0.5])
def test_ddls_chain_matches_its_closed_form_law(noise_scale):
    # G = I, D(x) = w.x, prior N(0, I): E(z) = |z|^2/2 - w.z and the DDLS step is the AR(1) chain
    #   z' = a z + (eps/2) w + sqrt(eps) s n,  a = 1 - eps/2.
    # From z_0 ~ N(0, I), after T steps: mean w (1 - a^T), variance a^(2T) + eps s^2 (1 - a^(2T)) / (1 - a^2).
    # Its limit N(w, s^2 / (1 - eps/4) I) is the Langevin target exp(-E / s^2) = N(w, s^2 I) up to the
    # discretisation factor 1 / (1 - eps/4) (exp(-E) itself only when s = 1).
    eps, steps, n = 0.2, 60, 20000
    pair = linear_pair(torch.eye(2), W, prior="normal")
    batch = DDLSSampler(steps=steps, eps=eps, noise_scale=noise_scale).sample(pair, n, torch.Generator().manual_seed(0))
    a = 1 - eps / 2
    mean = W * (1 - a**steps)
    var = a ** (2 * steps) + eps * noise_scale**2 * (1 - a ** (2 * steps)) / (1 - a**2)
    x = batch.x.double()
    se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
    assert (x.mean(0) - mean.double()).abs().max() < 4 * se_mean
    assert (x.var(0) - var).abs().max() < 4 * se_var
    assert abs(var - noise_scale**2 / (1 - eps / 4)) < 1e-3  # T is long enough to be at the limit


def test_ddls_uniform_prior_is_kept_in_the_box():
    pair = linear_pair(torch.eye(2), torch.tensor([50.0, -50.0]))  # uniform prior, a steep pull to (1, -1)
    batch = DDLSSampler(steps=20, eps=0.1).sample(pair, 500, torch.Generator().manual_seed(0))
    assert batch.x.abs().max() <= 1.0
    assert batch.x[:, 0].mean() > 0.9 and batch.x[:, 1].mean() < -0.9


def test_ddls_decay_follows_studiogan_schedule():
    # decay_steps 1: step t uses eps * decay^t and noise multiplier decay^t (t = 0, 1, 2).
    pair = linear_pair(torch.eye(2), W, prior="normal")
    eps, decay, s = 0.1, 0.5, 0.3
    got = DDLSSampler(steps=3, eps=eps, noise_scale=s, decay=decay, decay_steps=1).sample(
        pair, 4, torch.Generator().manual_seed(5)).x
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(4, 2, generator=gen)
    for t in range(3):
        e, f = eps * decay**t, decay**t
        z = z - 0.5 * e * (z - W) + math.sqrt(e) * s * f * torch.randn(4, 2, generator=gen)
    torch.testing.assert_close(got, z)


@pytest.mark.parametrize("f", ["kl", "js", "logd"])
def test_dgflow_one_step_matches_hand_formula(f):
    A = torch.tensor([[2.0, 0.5], [0.0, 1.0]])
    pair = linear_pair(A, W, prior="normal")  # d(G(z)) = w.Az, grad_z = A^T w, varies per sample via d
    eta, gamma = 0.1, 0.01
    got = DGflowSampler(steps=1, eta=eta, gamma=gamma, f=f).sample(pair, 6, torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(2)
    z0 = torch.randn(6, 2, generator=gen)
    d = z0 @ A.T @ W
    s = {"kl": torch.ones(6), "js": torch.sigmoid(d), "logd": torch.sigmoid(-d)}[f]
    z1 = z0 + eta * s[:, None] * (A.T @ W) + math.sqrt(2 * eta * gamma) * torch.randn(6, 2, generator=gen)
    torch.testing.assert_close(got.x, z1 @ A.T)
    torch.testing.assert_close(got.x_init, z0 @ A.T)


def test_dgflow_kl_without_noise_is_plain_ascent_and_clips_uniform_latents():
    pair = linear_pair(torch.eye(2), W)  # uniform prior
    z0 = torch.rand(3, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = DGflowSampler(steps=4, eta=0.25, gamma=0.0).sample(pair, 3, torch.Generator().manual_seed(1)).x
    z = z0
    for _ in range(4):
        z = (z + 0.25 * W).clamp(-1, 1)
    torch.testing.assert_close(got, z)


@pytest.mark.parametrize("make", [lambda: DDLSSampler(steps=7, eps=0.05, record_every=3),
                                  lambda: DGflowSampler(steps=7, record_every=3)])
def test_same_seed_same_output_and_cost_formula(make):
    pair = linear_pair(torch.eye(2) * 0.5, W, prior="normal")
    a = make().sample(pair, 10, torch.Generator().manual_seed(3))
    pair.counter.reset()
    b = make().sample(pair, 10, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.x, b.x)
    assert (pair.counter.g, pair.counter.d) == (10 * (7 + 1), 10 * 7)  # steps G+D passes, one G for the output
    assert sorted(b.steps) == [0, 3, 6, 7]  # every 3 steps and the output
    torch.testing.assert_close(b.steps[7], b.x)
    torch.testing.assert_close(b.steps[0], b.x_init)
    c = make().sample(pair, 10, torch.Generator().manual_seed(4))
    assert not torch.allclose(a.x, c.x)


def test_non_finite_update_names_the_step():
    pair = linear_pair(torch.eye(2), torch.tensor([1e30, 1e30]), prior="normal")
    with pytest.raises(RefinementDiverged, match="DDLS: .*step 1 of 3"):
        DDLSSampler(steps=3, eps=1e20).sample(pair, 2, torch.Generator().manual_seed(0))
    with pytest.raises(RefinementDiverged, match="DGflow: .*step 1 of 3"):
        DGflowSampler(steps=3, eta=1e20).sample(pair, 2, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make, match", [
    (lambda: DDLSSampler(eps=0), "method.eps=0"), (lambda: DDLSSampler(steps=-1), "method.steps=-1"),
    (lambda: DDLSSampler(decay_steps=-2), "method.decay_steps=-2"),
    (lambda: DGflowSampler(f="hellinger"), "method.f='hellinger'"), (lambda: DGflowSampler(gamma=-1), "gamma"),
])
def test_bad_parameters_are_named(make, match):
    with pytest.raises(DotcliError, match=match):
        make()
