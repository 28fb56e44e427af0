"""MH-GAN on a 1-D mixture whose density ratio is known exactly, and its bookkeeping."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torch import nn

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import SetupContext
from dotcli.samplers.mh import MHSampler
from tests.conftest import Linear

G_STD = 1.5  # p_g = N(0, 1.5^2): G(z) = 1.5 z, z ~ N(0, 1)
MIX = [(0.5, -1.0, 0.5), (0.5, 1.2, 0.6)]  # p_d: (weight, mean, std)


def log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def log_p_data(x):
    return torch.logsumexp(torch.stack([math.log(w) + log_normal(x, m, s) for w, m, s in MIX]), dim=0)


class ExactLogRatio(nn.Module):
    """The Bayes-optimal logit log p_d(x) - log p_g(x): a perfectly calibrated D."""

    def forward(self, x):
        return log_p_data(x) - log_normal(x, 0.0, G_STD)


def sample_data(n, gen):
    comp = torch.multinomial(torch.tensor([w for w, _, _ in MIX]), n, replacement=True, generator=gen)
    means, stds = torch.tensor([m for _, m, _ in MIX]), torch.tensor([s for _, _, s in MIX])
    return (means[comp] + stds[comp] * torch.randn(n, generator=gen)).reshape(n, 1)


def mixture_pair():
    return ModelPair(G=Linear(torch.tensor([[G_STD]])), D=ExactLogRatio(), z_dim=1, prior="normal",
                     d_output="logit", name="mixture")


def expected_acceptance_rate():
    """E over x ~ p_d, x' ~ p_g of min(1, r(x') / r(x)), r = p_d / p_g, by quadrature on a grid."""
    x = torch.linspace(-9, 9, 3001, dtype=torch.float64)
    dx = (x[1] - x[0]).item()
    log_r = ExactLogRatio()(x)
    p_d, p_g = log_p_data(x).exp(), torch.exp(log_normal(x, 0.0, G_STD))
    accept = torch.clamp(torch.exp(log_r[None, :] - log_r[:, None]), max=1.0)  # [x, x']
    return (p_d[:, None] * p_g[None, :] * accept).sum().item() * dx * dx


def run_mh(n=4000, chain_length=30, seed=0):
    pair = mixture_pair()
    starts = []

    def real(m, gen):
        starts.append(sample_data(m, gen))
        return starts[-1]

    mh = MHSampler(chain_length=chain_length, calibrate="none")
    mh.setup(pair, SetupContext(gen=torch.Generator().manual_seed(seed), real_data=real))
    batch = mh.sample(pair, n, torch.Generator().manual_seed(seed + 1))
    return batch, mh, starts[0], pair


def test_output_follows_the_data_distribution_and_acceptance_matches_formula():
    batch, mh, start, _ = run_mh()
    data = sample_data(50000, torch.Generator().manual_seed(99)).numpy().ravel()
    out = batch.x.numpy().ravel()
    assert ks_2samp(out, data).pvalue > 0.01
    # the check can fail: G's own samples are far from p_d
    fakes = (G_STD * torch.randn(4000, generator=torch.Generator().manual_seed(7))).numpy()
    assert ks_2samp(fakes, data).pvalue < 1e-6
    # chains start at stationarity (a real sample), so every step accepts at the closed-form rate
    stats = mh.stats()
    assert stats["acceptance_rate"] == pytest.approx(expected_acceptance_rate(), abs=0.01)
    assert stats["fallback_chains"] == 0
    # the outputs are G's proposals, not the starting real samples
    assert abs(np.corrcoef(out, start.numpy().ravel())[0, 1]) < 0.05


def test_cost_counters_and_determinism():
    a, _, _, pair = run_mh(n=50, chain_length=12, seed=3)
    assert (pair.counter.g, pair.counter.d) == (50 * 12, 50 * 13)  # K G and K + 1 D forwards per output
    b, _, _, _ = run_mh(n=50, chain_length=12, seed=3)
    torch.testing.assert_close(a.x, b.x)
    c, _, _, _ = run_mh(n=50, chain_length=12, seed=4)
    assert not torch.allclose(a.x, c.x)


def test_chains_that_never_accept_restart_from_their_first_fake():
    pair = mixture_pair()
    pair.D = Linear(torch.tensor([[100.0]]))  # l = 100 x: the real start at x = 10 is never left
    mh = MHSampler(chain_length=5, calibrate="none")
    mh.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0), real_data=lambda n, g: torch.full((n, 1), 10.0)))
    batch = mh.sample(pair, 200, torch.Generator().manual_seed(1))
    assert mh.stats()["fallback_chains"] == 200 and mh.stats()["fallback_fraction"] == 1.0
    assert batch.x.abs().max() < 8  # every output is one of G's proposals, none is the real start


@pytest.mark.parametrize("calibrate", ["logistic", "isotonic"])
def test_calibration_is_fitted_on_real_and_fake(calibrate):
    pair = mixture_pair()
    mh = MHSampler(chain_length=3, calibrate=calibrate, calibration_samples=2000)
    info = mh.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0), real_data=sample_data, batch_size=500))
    assert info["calibration"]["kind"] == calibrate and info["init"] == "real"
    d = torch.linspace(-3, 1, 50)
    logit = mh.calib(d)
    assert torch.isfinite(logit).all() and (logit[1:] >= logit[:-1] - 1e-9).all()  # monotone in D
    if calibrate == "logistic":  # D is already the exact logit: the fit is close to the identity
        assert mh.calib.scale == pytest.approx(1.0, abs=0.15)


class _CondG(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z, y):
        return z + 10 * y.float()[:, None]


class _CondD(nn.Module):
    def forward(self, x, y):
        assert (x - 10 * y.float()[:, None]).abs().max() < 10  # proposals carry the chain's label
        return -(x - 10 * y.float()[:, None]).pow(2).sum(1)


def test_conditional_chains_keep_their_label_and_start_at_a_fake():
    pair = ModelPair(G=_CondG(), D=_CondD(), z_dim=2, prior="normal", n_classes=4)
    mh = MHSampler(chain_length=20, calibrate="none")
    assert mh.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0)))["init"] == "first_fake"
    pair.counter.reset()
    batch = mh.sample(pair, 64, torch.Generator().manual_seed(1))
    assert (pair.counter.g, pair.counter.d) == (64 * 20, 64 * 20)
    assert ((batch.x - 10 * batch.y.float()[:, None]).norm(dim=1) < 1.5).float().mean() > 0.9  # D pulls to the centre
    with pytest.raises(DotcliError, match="method.calibrate='logistic'"):
        MHSampler(calibrate="logistic").setup(pair, SetupContext(gen=torch.Generator()))


def test_needs_real_data_and_names_bad_values():
    with pytest.raises(DotcliError, match="held-out real sample"):
        MHSampler().setup(mixture_pair(), SetupContext(gen=torch.Generator()))
    with pytest.raises(DotcliError, match="method.chain_length=0"):
        MHSampler(chain_length=0)
    with pytest.raises(DotcliError, match="method.calibrate='platt'"):
        MHSampler(calibrate="platt")
