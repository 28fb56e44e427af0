"""IS, FID, KID and the streaming mean/covariance against formulas, closed forms and torch-fidelity."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from dotcli import DotcliError
from dotcli.metrics import fidelity
from dotcli.metrics.fidelity import MeanCov, fid_from_stats, inception_score, kid

# ---------------------------------------------------------------- Inception Score


def test_is_of_uniform_predictions_is_one():
    mean, std = inception_score(torch.zeros(40, 7), splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_confident_balanced_predictions_is_the_number_of_classes():
    logits = 50.0 * torch.eye(10).repeat(6, 1)  # 60 samples, each class 6 times, p(y|x) one-hot
    mean, std = inception_score(logits, splits=1)
    assert mean == pytest.approx(10.0, rel=1e-9) and std == 0.0


def test_is_matches_the_formula_per_split():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(30, 5)) * 2
    mean, std = inception_score(torch.from_numpy(logits), splits=3, shuffle=False)
    scores = []
    for chunk in np.split(logits, 3):  # IS = exp(mean_x KL(p(y|x) || p(y))), p(y) = mean over the split
        p = np.exp(chunk) / np.exp(chunk).sum(1, keepdims=True)
        q = p.mean(0)
        scores.append(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))))
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


def test_is_matches_torch_fidelity_including_its_shuffle():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(103, 12, generator=torch.Generator().manual_seed(1)) * 3
    ours = inception_score(logits, splits=10)
    theirs = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=2020)
    assert ours[0] == pytest.approx(theirs["inception_score_mean"], rel=1e-12)
    assert ours[1] == pytest.approx(theirs["inception_score_std"], rel=1e-9)


def test_is_rejects_nan_and_too_many_splits():
    with pytest.raises(DotcliError, match="NaN"):
        inception_score(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), splits=1)
    with pytest.raises(DotcliError, match="is_splits=10"):
        inception_score(torch.zeros(5, 3), splits=10)


# ---------------------------------------------------------------- FID


def gaussian_fid(mu1, var1, mu2, var2):
    """Closed form for diagonal covariances: |mu1 - mu2|^2 + sum(v1 + v2 - 2 sqrt(v1 v2))."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2)))


def test_fid_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = gaussian_fid(mu1, v1, mu2, v2)
    assert fid_from_stats(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a common rotation leaves the distance unchanged
    rotated = fid_from_stats(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-8)
    assert fid_from_stats(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-10)


def test_fid_of_sampled_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2, v1, v2 = np.zeros(4), np.full(4, 0.5), np.full(4, 1.0), np.full(4, 2.0)
    a = rng.normal(size=(20000, 4)) * np.sqrt(v1) + mu1
    b = rng.normal(size=(20000, 4)) * np.sqrt(v2) + mu2
    fid = fid_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid == pytest.approx(gaussian_fid(mu1, v1, mu2, v2), rel=0.05)


def _two_feature_sets() -> tuple[dict, dict]:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    return ({"mu": a.mean(0), "sigma": np.cov(a, rowvar=False)},
            {"mu": b.mean(0), "sigma": np.cov(b, rowvar=False)})


def sqrtm_takes_disp() -> bool:
    """SciPy 1.18 removed ``sqrtm(..., disp=)``, which pytorch-fid 0.3.0's ``calculate_frechet_distance`` passes."""
    return "disp" in inspect.signature(scipy.linalg.sqrtm).parameters


def pytorch_fid_distance(s1: dict, s2: dict) -> float:
    """pytorch-fid's FID; where SciPy no longer takes ``disp``, its ``sqrtm`` call is given SciPy's own
    ``sqrtm`` minus that argument (the same square root: ``disp=False`` only returned an error estimate too)."""
    from pytorch_fid import fid_score

    if sqrtm_takes_disp():
        return fid_score.calculate_frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])
    plain = fid_score.linalg.sqrtm

    class _Linalg:  # pytorch-fid reads linalg.sqrtm at call time; its module attribute is restored below
        def __getattr__(self, name):
            return getattr(scipy.linalg, name)

        @staticmethod
        def sqrtm(m, disp=True):
            root = plain(m)
            return root if disp else (root, np.linalg.norm(root @ root - m, "fro") / np.linalg.norm(m, "fro"))

    saved, fid_score.linalg = fid_score.linalg, _Linalg()
    try:
        return fid_score.calculate_frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])
    finally:
        fid_score.linalg = saved


def test_fid_agrees_with_torch_fidelity():
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    s1, s2 = _two_feature_sets()
    ours = fid_from_stats(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])
    assert ours == pytest.approx(fid_statistics_to_metric(s1, s2, False)["frechet_inception_distance"], rel=1e-8)


@pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")  # inside pytorch-fid
def test_fid_agrees_with_pytorch_fid():
    s1, s2 = _two_feature_sets()
    ours = fid_from_stats(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])
    assert ours == pytest.approx(pytorch_fid_distance(s1, s2), rel=1e-8)


def test_fid_and_the_pytorch_fid_cross_check_work_on_scipy_without_disp(monkeypatch):
    # SciPy 1.18 (Python >= 3.12): sqrtm has no `disp` (nor `blocksize`) any more; reproduce it here
    real = scipy.linalg.sqrtm

    def sqrtm_118(A):
        return real(A)

    monkeypatch.setattr(scipy.linalg, "sqrtm", sqrtm_118)
    assert not sqrtm_takes_disp()
    from pytorch_fid import fid_score

    s1, s2 = _two_feature_sets()
    with pytest.raises(TypeError, match="disp"):  # what a user of pytorch-fid 0.3.0 meets on SciPy 1.18
        fid_score.calculate_frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])
    ours = fid_from_stats(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"])  # dotcli's FID never passes disp
    assert ours == pytest.approx(pytorch_fid_distance(s1, s2), rel=1e-8)


def test_no_sqrtm_call_in_dotcli_passes_disp():
    import dotcli

    root = Path(dotcli.__file__).parent
    calls = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if "sqrtm(" in line and "disp" in line]
    assert calls == []


def test_fid_with_fewer_samples_than_dimensions_is_still_accurate():
    # rank-deficient covariances (n < d): the square root exists; only an inaccurate one is refused
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) * 2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2).real.clip(0)
    expected = float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).sum())
    assert fid_from_stats(a.mean(0), s1, b.mean(0), s2) == pytest.approx(expected, rel=1e-6)


def test_fid_refuses_nan_invalid_and_singular_input(monkeypatch):
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(DotcliError, match="NaN"):
        fid_from_stats(np.array([0.0, np.nan, 0.0]), sigma, mu, sigma)
    with pytest.raises(DotcliError, match="NaN"):
        fid_from_stats(mu, sigma, mu, np.full((3, 3), np.inf))
    with pytest.raises(DotcliError, match="negative eigenvalue"):
        fid_from_stats(mu, np.diag([1.0, -1.0, 1.0]), mu, sigma)
    with pytest.raises(DotcliError, match="not symmetric"):
        fid_from_stats(mu, np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]), mu, sigma)
    # a product that overflows (condition ~1e200): no finite square root
    huge = np.diag([1e200, 1.0, 1e-200])
    with pytest.raises(DotcliError, match="singular or ill-conditioned"):
        fid_from_stats(mu, huge, mu, huge)


def test_trace_of_the_square_root_equals_scipy_sqrtm_s():
    # full rank, rank-deficient (n < d) and nearly singular covariances: the eigh route and sqrtm agree
    rng = np.random.default_rng(4)
    for n, d in ((400, 12), (8, 12), (40, 12)):
        a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        expected = float(np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)
        assert fidelity.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_fid_eps_adds_to_both_covariances():
    v1, v2 = np.array([1.0, 4.0]), np.array([2.0, 0.5])
    eps = 1e-3
    got = fid_from_stats(np.zeros(2), np.diag(v1), np.zeros(2), np.diag(v2), eps=eps)
    assert got == pytest.approx(gaussian_fid(np.zeros(2), v1 + eps, np.zeros(2), v2 + eps), rel=1e-10)


# ---------------------------------------------------------------- KID


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, _ = kid(a, b, subsets=20, subset_size=200)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=200)
    further, std = kid(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and 0 < shifted < further and std > 0


def test_kid_matches_torch_fidelity():
    from torch_fidelity.metric_kid import kid_features_to_metric

    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(120, 6, generator=g, dtype=torch.float64), torch.randn(150, 6, generator=g,
                                                                              dtype=torch.float64) + 0.3
    ours = kid(a, b, subsets=7, subset_size=50)
    theirs = kid_features_to_metric(a, b, kid_subsets=7, kid_subset_size=50, verbose=False)
    assert ours[0] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-10)
    assert ours[1] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-8)


def test_kid_checks_the_subset_size():
    with pytest.raises(DotcliError, match="subset size 50"):
        kid(np.zeros((20, 3)), np.zeros((40, 3)), subset_size=50)


# ---------------------------------------------------------------- streaming statistics


def test_streaming_mean_cov_equals_batch_statistics():
    rng = np.random.default_rng(6)
    feats = rng.normal(size=(333, 12)) @ rng.normal(size=(12, 12)) + 1e4  # large offset: no cancellation
    acc = MeanCov()
    start = 0
    for size in (1, 7, 50, 100, 175):
        acc.update(torch.from_numpy(feats[start:start + size]))
        start += size
    assert acc.n == 333
    np.testing.assert_allclose(acc.mean(), feats.mean(0), rtol=1e-13)
    np.testing.assert_allclose(acc.cov(), np.cov(feats, rowvar=False), rtol=1e-9, atol=1e-9)


def test_streaming_stats_refuse_nan_and_too_few_samples():
    acc = MeanCov()
    with pytest.raises(DotcliError, match="NaN"):
        acc.update(torch.tensor([[1.0, float("nan")]]))
    acc.update(torch.ones(1, 2))
    with pytest.raises(DotcliError, match="at least 2"):
        acc.cov()


def test_a_prepared_reference_gives_the_same_fid_as_the_pairwise_formula():
    """The run factorises the reference once; FID to it equals fid_from_stats (and the sqrtm formula)."""
    from scipy import linalg

    from dotcli.metrics.fidelity import fid_to_reference, prepare_fid_reference, trace_sqrt_product

    gen = np.random.default_rng(5)
    a, b = gen.normal(size=(400, 32)), gen.normal(size=(500, 32)) @ gen.normal(size=(32, 32)) * 0.3 + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = prepare_fid_reference(b.mean(0), s2)
    prepared = fid_to_reference(a.mean(0), s1, ref)
    pairwise = fid_from_stats(a.mean(0), s1, b.mean(0), s2)
    d = a.mean(0) - b.mean(0)
    sqrtm = d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert prepared == pytest.approx(pairwise, rel=1e-12) and prepared == pytest.approx(sqrtm, rel=1e-9)
    assert trace_sqrt_product(s1, s2) == pytest.approx(trace_sqrt_product(s2, s1), rel=1e-12)
    with_eps = prepare_fid_reference(b.mean(0), s2, eps=1e-3)
    assert fid_to_reference(a.mean(0), s1, with_eps) == pytest.approx(
        fid_from_stats(a.mean(0), s1, b.mean(0), s2, eps=1e-3), rel=1e-12)
    with pytest.raises(DotcliError, match="negative eigenvalue"):
        prepare_fid_reference(b.mean(0), s2 - 2 * np.eye(32) * np.abs(s2).max())
    # a singular reference (10 samples in 32-d) has no Cholesky factor: its symmetric square root is used
    few = b[:10]
    singular = prepare_fid_reference(few.mean(0), np.cov(few, rowvar=False))
    assert np.allclose(singular.factor, singular.factor.T)  # the square root, not a triangular factor
    d = a.mean(0) - few.mean(0)
    s_few = np.cov(few, rowvar=False)
    expected = d @ d + np.trace(s1) + np.trace(s_few) - 2 * trace_sqrt_product(s1, s_few)
    assert fid_to_reference(a.mean(0), s1, singular) == pytest.approx(expected, rel=1e-7)  # rank 9: round-off
    assert np.allclose(ref.factor, np.tril(ref.factor))  # positive definite: Cholesky
