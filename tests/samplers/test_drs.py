"""DRS: the acceptance formula, calibration, and the sampler's bookkeeping."""

import math

import pytest
import torch

from dotcli import DotcliError
from dotcli.samplers.base import SetupContext
from dotcli.samplers.calibration import fit_logistic_calibration
from dotcli.samplers.drs import RejectionSampler, acceptance_probability, drs_score
from tests.conftest import linear_pair


@pytest.mark.parametrize("dt, d_max, gamma", [(0.5, 2.0, -1.0), (-3.0, 0.0, 0.2), (1.999, 2.0, 0.0)])
def test_acceptance_probability_matches_formula(dt, d_max, gamma):
    eps = 1e-6
    f = dt - d_max - math.log(1 - math.exp(dt - d_max - eps))
    expected = 1 / (1 + math.exp(-(f - gamma)))
    got = acceptance_probability(torch.tensor([dt], dtype=torch.float64), d_max, gamma, eps).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_score_is_finite_at_the_maximum_and_increasing():
    dt = torch.linspace(-5, 0, 50)
    f = drs_score(dt, 0.0)
    assert torch.isfinite(f).all()
    assert (f[1:] > f[:-1]).all()


def test_logistic_calibration_recovers_a_known_affine_logit():
    gen = torch.Generator().manual_seed(0)
    # real ~ N(1, 1), fake ~ N(-1, 1): the Bayes logit is 2 d (scale 2, shift 0).
    real = torch.randn(20000, generator=gen) + 1
    fake = torch.randn(20000, generator=gen) - 1
    cal = fit_logistic_calibration(real, fake)
    assert cal.scale == pytest.approx(2.0, abs=0.1)
    assert cal.shift == pytest.approx(0.0, abs=0.05)


def _pair():
    return linear_pair(torch.eye(2), torch.tensor([1.0, 0.0]))


def test_rejection_sampler_prefers_high_d_and_reports_cost():
    pair = _pair()
    pair.d_output = "logit"
    drs = RejectionSampler(burn_in=1000, gamma_percentile=80, calibrate="auto")
    info = drs.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0), batch_size=500))
    assert info["calibration"]["fitted"] is False
    batch = drs.sample(pair, 400, torch.Generator().manual_seed(1))
    assert batch.x.shape == (400, 2)
    assert batch.x[:, 0].mean() > 0.2  # D = x_0: accepted samples lean to large x_0
    stats = drs.stats()
    assert 0 < stats["acceptance_rate"] < 1
    assert stats["proposals_per_sample"] >= 1


def test_critic_calibration_needs_real_data():
    drs = RejectionSampler(burn_in=10)
    with pytest.raises(DotcliError, match="held-out real data"):
        drs.setup(_pair(), SetupContext(gen=torch.Generator().manual_seed(0)))


def test_critic_is_calibrated_on_real_data():
    pair = _pair()
    real = lambda n, g: torch.rand(n, 2, generator=g) * 0.5 + 0.5  # noqa: E731  (x_0 > 0.5)
    drs = RejectionSampler(burn_in=100, calibration_samples=500)
    info = drs.setup(pair, SetupContext(gen=torch.Generator().manual_seed(0), real_data=real, batch_size=200))
    assert info["calibration"]["fitted"] and info["calibration"]["scale"] > 0
