"""Toy metrics on hand-made sets."""

import pytest
import torch

from dotcli.data.toy import GAUSSIAN_SCALE, GAUSSIAN_STD, Gaussians25, gaussian_means
from dotcli.metrics.toy import covered_modes, emd, hq_rate, toy_metrics

SIGMA = GAUSSIAN_STD / GAUSSIAN_SCALE


def test_hq_and_modes_on_hand_made_points():
    means = gaussian_means()
    inside = means[:3] + torch.tensor([3.9 * SIGMA, 0.0])  # within 4 sigma of modes 0..2
    outside = means[3:5] + torch.tensor([4.1 * SIGMA, 0.0])  # just outside for modes 3, 4
    samples = torch.cat([inside, outside])
    assert hq_rate(samples, means, SIGMA) == pytest.approx(3 / 5)
    assert covered_modes(samples, means, SIGMA) == 3


def test_emd_of_a_shifted_copy_is_the_shift():
    a = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    assert emd(a, a + torch.tensor([0.3, 0.4])) == pytest.approx(0.5, abs=1e-6)
    assert emd(a, a) == pytest.approx(0.0, abs=1e-9)


def test_emd_is_an_optimal_assignment():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.1], [0.0, 0.1]])  # crossing the points would cost more
    assert emd(a, b) == pytest.approx(0.1, abs=1e-6)


def test_data_itself_scores_perfectly():
    data = Gaussians25(balanced_modes=True)
    gen = torch.Generator().manual_seed(0)
    m = toy_metrics(data.sample(1000, gen), data.sample(1000, gen), data.modes, data.mode_std)
    assert m["hq"] > 0.99 and m["modes"] == 25 and m["emd"] < 0.05


def test_balanced_modes_have_equal_counts():
    data = Gaussians25(balanced_modes=True)
    x = data.sample(1000, torch.Generator().manual_seed(0))
    idx = torch.cdist(x, data.modes).argmin(dim=1)
    assert torch.bincount(idx, minlength=25).tolist() == [40] * 25


def test_emd_by_assignment_equals_pots_network_simplex():
    """Equal sizes go through the optimal assignment; it must equal POT's exact EMD (its oracle here)."""
    import numpy as np
    import ot

    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(300, 2, generator=gen), torch.rand(300, 2, generator=gen) * 3
    x, y = a.double().numpy(), b.double().numpy()
    w = np.full(300, 1 / 300)
    assert emd(a, b) == pytest.approx(ot.emd2(w, w, ot.dist(x, y, metric="euclidean")), rel=1e-12)


def test_emd_of_sets_of_different_sizes():
    # each point of a carries its mass 1/2 to the 2 points of b beside it, both at distance 0.1
    a = torch.tensor([[0.0, 0.0], [5.0, 0.0]])
    ring = torch.tensor([[0.1, 0.0], [-0.1, 0.0]])
    b = torch.cat([ring, ring + torch.tensor([5.0, 0.0])])
    assert emd(a, b) == pytest.approx(0.1, abs=1e-6)  # float32 points
    assert emd(b, a) == pytest.approx(0.1, abs=1e-6)
