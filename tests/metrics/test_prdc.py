"""dotcli.metrics.prdc against the papers' formulas (a plain float64 reference below) and torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_prc import calculate_precision_recall_full

import dotcli.metrics
from dotcli import DotcliError
from dotcli.metrics.prdc import knn_radii, prdc


def reference_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """The definitions, written out on full float64 distance matrices (Kynkaanniemi 2019; Naeem 2020)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def kth(a: np.ndarray, k: int) -> np.ndarray:  # k-th neighbour, the point itself being the 0-th
        return np.sort(dist(a, a), axis=1)[:, k]

    d_rf = dist(real, fake)  # [x, y]
    r_real_pr, r_real_dc, r_fake_pr = kth(real, k_pr), kth(real, k_dc), kth(fake, k_pr)
    precision = np.mean([(d_rf[:, j] <= r_real_pr).any() for j in range(len(fake))])
    recall = np.mean([(d_rf[i, :] <= r_fake_pr).any() for i in range(len(real))])
    density = sum((d_rf[:, j] < r_real_dc).sum() for j in range(len(fake))) / (k_dc * len(fake))
    coverage = np.mean([d_rf[i, :].min() < r_real_dc[i] for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def assert_same(got: dict[str, float], want: dict[str, float], tol: float = 1e-9) -> None:
    assert set(got) == {"precision", "recall", "density", "coverage"}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=tol), key


def test_dotcli_metrics_prdc_is_the_function():
    assert callable(dotcli.metrics.prdc) and dotcli.metrics.prdc is prdc


@pytest.mark.parametrize(("n_real", "n_fake", "dim", "shift"), [(200, 200, 8, 0.0), (300, 170, 16, 0.3),
                                                                 (120, 260, 4, 1.0)])
def test_random_features_match_the_formulas(n_real, n_fake, dim, shift):
    gen = torch.Generator().manual_seed(n_real + n_fake)
    real = torch.randn(n_real, dim, generator=gen)
    fake = torch.randn(n_fake, dim, generator=gen) * 1.2 + shift
    assert_same(prdc(real, fake), reference_prdc(real.numpy(), fake.numpy()))


def test_precision_recall_match_torch_fidelity():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(700, 32, generator=gen)
    fake = torch.randn(500, 32, generator=gen) * 0.8 + 0.2
    got = prdc(real, fake)
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=3, batch_size=10000)
    assert got["precision"] == pytest.approx(precision, abs=1e-7)
    assert got["recall"] == pytest.approx(recall, abs=1e-7)


def test_blocks_of_any_size_give_the_same_numbers():
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(257, 6, generator=gen), torch.randn(131, 6, generator=gen)
    whole = prdc(real, fake)
    for block_bytes in (1, 4 * 257 * 3, 4 * 131 * 7):  # one row, three rows, seven rows per block
        assert prdc(real, fake, block_bytes=block_bytes) == whole


def test_ties_on_integer_grids_follow_le_for_precision_and_strict_lt_for_density():
    # integer coordinates: every distance is exact in float32, so boundary points are true ties
    gen = torch.Generator().manual_seed(3)
    real = torch.randint(0, 4, (150, 3), generator=gen).float()  # many duplicates and equal distances
    fake = torch.randint(0, 5, (90, 3), generator=gen).float()
    assert_same(prdc(real, fake), reference_prdc(real.numpy(), fake.numpy()))
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=3, batch_size=10000)
    got = prdc(real, fake)
    assert (got["precision"], got["recall"]) == pytest.approx((precision, recall), abs=1e-7)


def test_a_point_on_a_ball_boundary_counts_for_precision_not_for_density():
    real = torch.arange(10.0)[:, None]  # 0..9: every k=1 radius is 1
    fake = torch.tensor([[10.0], [20.0], [20.0]])  # 10 lies on the boundary of B(9, 1); 20 is duplicated
    got = prdc(real, fake, k_pr=1, k_dc=1)
    # recall: the fake radii are 10 (for 10) and 0 (the duplicated 20s); B(10, 10) holds all of 0..9
    assert got == {"precision": pytest.approx(1 / 3), "recall": 1.0, "density": 0.0, "coverage": 0.0}


def test_identical_sets():
    real = torch.randn(400, 10, generator=torch.Generator().manual_seed(4))
    got = prdc(real, real.clone())
    assert got == {"precision": 1.0, "recall": 1.0, "density": pytest.approx(1.0), "coverage": 1.0}


def test_disjoint_clusters():
    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(100, 5, generator=gen), torch.randn(80, 5, generator=gen) + 100.0
    assert prdc(real, fake) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_one_mode_of_four():
    gen = torch.Generator().manual_seed(6)
    centres = torch.tensor([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [50.0, 50.0]])
    real = torch.cat([c + torch.randn(60, 2, generator=gen) for c in centres])
    fake = real[:60].clone()  # exactly the first mode's real points
    got = prdc(real, fake)
    # each first-mode ball holds its own copy (recall, coverage: that mode's quarter) and k points strictly inside
    assert got == {"precision": 1.0, "recall": 0.25, "density": pytest.approx(1.0), "coverage": 0.25}


def test_cached_radii_give_the_same_numbers_and_match_the_kth_neighbour():
    gen = torch.Generator().manual_seed(7)
    real, fake = torch.randn(90, 4, generator=gen), torch.randn(70, 4, generator=gen)
    radii = knn_radii(real, (3, 5))
    d = torch.cdist(real.double(), real.double())
    want = torch.sort(d, dim=1).values[:, [3, 5]] ** 2
    assert torch.allclose(radii.double(), want, rtol=1e-5, atol=1e-5)
    assert prdc(real, fake, real_radii=radii) == prdc(real, fake)


def test_float64_and_numpy_inputs():
    gen = torch.Generator().manual_seed(8)
    real, fake = torch.randn(60, 3, generator=gen), torch.randn(50, 3, generator=gen)
    assert prdc(real.double().numpy(), fake.numpy()) == prdc(real, fake)


def test_matmul_precision_is_restored():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        prdc(torch.randn(20, 3), torch.randn(20, 3))
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_gpu_agree():
    gen = torch.Generator().manual_seed(9)
    real, fake = torch.randn(3000, 256, generator=gen), torch.randn(2500, 256, generator=gen) * 1.1
    cpu, gpu = prdc(real, fake), prdc(real.cuda(), fake.cuda())
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], abs=2e-3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k_pr": 0}, "k_pr=0 is not valid"),
    ({"k_dc": -1}, "k_dc=-1 is not valid"),
    ({"k_pr": True}, "k_pr=True is not valid"),
    ({"k_dc": 2.5}, "k_dc=2.5 is not valid"),
    ({"k_dc": 10}, "the real set has 10 point(s) but k_dc=10 needs at least 11"),
    ({"k_pr": 8, "k_dc": 2}, "the generated set has 8 point(s) but k_pr=8 needs at least 9"),
])
def test_bad_k_is_one_line(kwargs, message):
    with pytest.raises(DotcliError) as err:
        prdc(torch.randn(10, 2), torch.randn(8, 2), **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_features_are_one_line():
    with pytest.raises(DotcliError, match="2-d but generated ones 3-d"):
        prdc(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(DotcliError, match="must be \\(n, d\\)"):
        prdc(torch.randn(10), torch.randn(10, 1))
    with pytest.raises(DotcliError, match="NaN/inf"):
        prdc(torch.randn(10, 2), torch.full((10, 2), float("nan")))
