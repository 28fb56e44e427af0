"""IS, FID and KID as pure functions over feature tensors, plus a streaming mean/covariance.

Conventions follow torch-fidelity 0.4.0 (``metric_isc.py``, ``metric_fid.py``, ``metric_kid.py``)
so that the same features give the same numbers; the functions keep no state between calls.
Feature extraction (Inception and friends) lives in :mod:`dotcli.metrics.extractors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.metrics.info import MetricInfo

# how reports show them (docs/protocol.md#image-metrics); the feature space (Inception, a classifier) is the
# record's evaluation.feature_extractor, shown by the tables where cells differ in it
METRICS = (
    MetricInfo("is_mean", "IS", True, 2, "Inception score", "is_fid", "image", split_std="is_std",
               protocol="docs/protocol.md#image-metrics"),
    MetricInfo("fid", "FID", False, 2, "Fréchet Inception distance", "is_fid", "image",
               protocol="docs/protocol.md#image-metrics"),
    MetricInfo("kid_mean", "KID", False, 4, "kernel Inception distance", "kid", "image", split_std="kid_std",
               protocol="docs/protocol.md#image-metrics"),
)

# torch-fidelity's default seed for the IS shuffle and the KID subsets (defaults.py: rng_seed=2020).
FIDELITY_SEED = 2020


def _as_float64(x: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise DotcliError(f"{what} contains {bad} NaN/inf value(s); the samples or the feature extractor "
                          "produced non-finite numbers, so no metric can be computed from them")
    return arr


def inception_score(logits: torch.Tensor | np.ndarray, splits: int = 10, shuffle: bool = True,
                    seed: int = FIDELITY_SEED) -> tuple[float, float]:
    """Inception Score (mean, std over ``splits``) from classifier logits ``(N, C)``.

    IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y) the split's mean prediction (Salimans et al. 2016,
    sec. 4). As torch-fidelity ``isc_features_to_metric``: rows shuffled with ``RandomState(seed)``,
    split ``i`` = rows ``[i*N//splits, (i+1)*N//splits)``, float64, std with ddof=0.
    """
    if isinstance(logits, torch.Tensor):  # stays on its device (a GPU's float64 is faster than the host's)
        feats = logits.detach().double()
        if not torch.isfinite(feats).all():
            _as_float64(logits, "Inception logits")  # raises, naming how many values are not finite
    else:
        feats = torch.from_numpy(_as_float64(logits, "Inception logits"))
    if feats.ndim != 2:
        raise DotcliError(f"inception_score expects logits of shape (N, classes), got {tuple(feats.shape)}")
    n = feats.shape[0]
    if not (isinstance(splits, int) and 1 <= splits <= n):
        raise DotcliError(f"is_splits={splits} is not valid for {n} samples; expected 1 <= splits <= N")
    if shuffle:
        feats = feats[torch.from_numpy(np.random.RandomState(seed).permutation(n)).to(feats.device)]
    p, log_p = feats.softmax(dim=1), feats.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(kl.exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def _check_covariance(sigma: np.ndarray, d: int, what: str, psd: bool = True) -> float:
    """Shape, symmetry and (``psd``) positive semi-definiteness (to round-off) of a covariance; returns its scale.

    PSD is tested with one Cholesky factorisation of ``sigma + 1e-6 * scale * I`` (it exists exactly when the
    lowest eigenvalue is above ``-1e-6 * scale``), several times cheaper than the eigenvalues, which are computed
    only to name the offending one.
    """
    if sigma.shape != (d, d):
        raise DotcliError(f"FID: {what} covariance has shape {sigma.shape}, expected ({d}, {d})")
    scale = max(float(np.abs(sigma).max()), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max() > 1e-8 * scale:
        raise DotcliError(f"FID: {what} covariance is not symmetric, so it is not a covariance matrix")
    if not psd:
        return scale
    try:
        np.linalg.cholesky(sigma + 1e-6 * scale * np.eye(d))
    except np.linalg.LinAlgError:
        lowest = float(np.linalg.eigvalsh(sigma).min())
        raise DotcliError(f"FID: {what} covariance has a negative eigenvalue ({lowest:.3g}), so it is not a "
                          "covariance matrix (corrupted statistics?)") from None
    return scale


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a PSD matrix (round-off eigenvalues below zero count as zero)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_given_factor(f: np.ndarray, s: np.ndarray) -> float:
    """tr((S F F^T)^{1/2}) as the sum of the square roots of the eigenvalues of the symmetric PSD F^T S F.

    S F F^T and F^T S F share their nonzero eigenvalues (AB and BA, A = S F, B = F^T), for any factor F.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        m = f.T @ s @ f
    if not np.isfinite(m).all():
        return float("nan")
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^{1/2}) for symmetric positive semi-definite S1, S2.

    S1 S2 is similar to M = S1^{1/2} S2 S1^{1/2}, which is symmetric PSD, so the eigenvalues of (S1 S2)^{1/2}
    are the square roots of M's: two symmetric eigendecompositions instead of the Schur-based
    ``scipy.linalg.sqrtm`` of the non-symmetric product (4x faster on 2048-d Inception covariances, the same
    FID to ~1e-14 relative; tests cross-check torch-fidelity and pytorch-fid, which use sqrtm). Round-off
    eigenvalues below zero count as zero. The value is symmetric in S1 and S2 (tr sqrt(S1 S2) = tr sqrt(S2 S1)).
    """
    return _trace_sqrt_given_factor(_sqrt_psd(s1), s2)


@dataclass(frozen=True)
class FIDReference:
    """The reference side of FID, checked and factorised once: mean, covariance (+ eps I) and a factor F of it.

    ``sigma = F F^T``: its Cholesky factor when it is positive definite (the usual case: 50k reference
    features in 2048-d), else its symmetric square root. A run scores many sample sets (every trial, every
    recorded step) against the same reference; preparing it once leaves one Cholesky (the check) and one
    symmetric eigenvalue problem per FID.
    """

    mu: np.ndarray
    sigma: np.ndarray
    factor: np.ndarray
    eps: float = 0.0


def prepare_fid_reference(mu: np.ndarray | torch.Tensor, sigma: np.ndarray | torch.Tensor, eps: float = 0.0,
                          what: str = "reference") -> FIDReference:
    """Check ``(mu, sigma)`` and factorise ``sigma + eps I`` for :func:`fid_to_reference`."""
    mu, s = _as_float64(mu, f"FID {what} mean"), _as_float64(sigma, f"FID {what} covariance")
    if mu.ndim != 1:
        raise DotcliError(f"FID: the {what} mean has shape {mu.shape}; expected a (d,) vector")
    d = mu.shape[0]
    if s.shape == (d, d) and eps > 0:
        s = s + eps * np.eye(d)
    try:  # a positive definite covariance passes every check by having a Cholesky factor
        _check_covariance(s, d, what, psd=False)
        factor = np.linalg.cholesky(s)
    except np.linalg.LinAlgError:  # semi-definite (fewer samples than dimensions) or not a covariance at all
        _check_covariance(s, d, what)
        factor = _sqrt_psd(s)
    return FIDReference(mu=mu, sigma=s, factor=factor, eps=eps)


def fid_to_reference(mu: np.ndarray | torch.Tensor, sigma: np.ndarray | torch.Tensor, ref: FIDReference,
                     what: str = "first") -> float:
    """Frechet distance between N(mu, sigma) and a prepared reference (see :func:`fid_from_stats`)."""
    mu1, s1 = _as_float64(mu, f"FID {what} mean"), _as_float64(sigma, f"FID {what} covariance")
    if mu1.ndim != 1 or mu1.shape != ref.mu.shape:
        raise DotcliError(f"FID: means have shapes {mu1.shape} and {ref.mu.shape}; expected two equal (d,) vectors")
    d = mu1.shape[0]
    _check_covariance(s1, d, what)
    if ref.eps > 0:
        s1 = s1 + ref.eps * np.eye(d)
    hint = (f"the product of the covariances is singular or ill-conditioned (features of dimension {d}: "
            "use more samples than feature dimensions, check the feature extractor, or set metrics.fid_eps "
            "to e.g. 1e-6 to add eps*I to both covariances)")
    diff = mu1 - ref.mu
    # Heusel et al. 2017, eq. 6: ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})
    fid = float(diff @ diff + np.trace(s1) + np.trace(ref.sigma) - 2.0 * _trace_sqrt_given_factor(ref.factor, s1))
    if not np.isfinite(fid):
        raise DotcliError(f"FID is not finite ({fid}); {hint}")
    return fid


def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                   eps: float = 0.0) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})  (Heusel et al. 2017, eq. 6; TTUR fid.py), the trace
    of the square root as in :func:`trace_sqrt_product`. Scoring many sets against one reference: prepare it
    once with :func:`prepare_fid_reference` and call :func:`fid_to_reference`.

    ``eps > 0`` adds ``eps * I`` to both covariances first, always (not only on failure, unlike pytorch-fid's
    1e-6 fallback), so the number never jumps with the condition of the data; the default 0 adds nothing.
    Raises :class:`DotcliError` instead of returning NaN when an input is not finite, a covariance is not
    symmetric positive semi-definite, or the product overflows (singular or ill-conditioned covariances).
    """
    mu1 = _as_float64(mu1, "FID mean 1")
    mu2 = _as_float64(mu2, "FID mean 2")
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise DotcliError(f"FID: means have shapes {mu1.shape} and {mu2.shape}; expected two equal (d,) vectors")
    return fid_to_reference(mu1, sigma1, prepare_fid_reference(mu2, sigma2, eps, what="second"), what="first")


# Kernel entries computed at once: a block of rows x all columns (128 MB of float64). The m x m kernel of a
# subset of m features is summed block by block, so KID's memory stays this, not 8 m^2 bytes (20 GB at m = 50k);
# a subset of up to KID_BLOCK_ELEMENTS / m rows (all of torch-fidelity's default 1000) is one block: the same sums.
KID_BLOCK_ELEMENTS = 1 << 24


def _kernel_sum(x: np.ndarray, y: np.ndarray, g: float, coef0: float, degree: int, same: bool) -> float:
    """The sum of k(x_i, y_j) = (g x_i.y_j + coef0)^degree over all i, j, less the diagonal when ``same``
    (x is y: K_XX's off-diagonal sum), in row blocks of at most :data:`KID_BLOCK_ELEMENTS` entries."""
    rows = max(1, KID_BLOCK_ELEMENTS // max(1, len(y)))
    total = 0.0
    for start in range(0, len(x), rows):
        block = (x[start:start + rows] @ y.T * g + coef0) ** degree
        total += block.sum() - (np.trace(block, offset=start) if same else 0.0)
    return total


def kid(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray, subsets: int = 100,
        subset_size: int = 1000, degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
        seed: int = FIDELITY_SEED) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over ``subsets``): unbiased MMD^2 with a polynomial kernel.

    k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/d by default (Binkowski et al. 2018, sec. 3). As
    torch-fidelity ``kid_features_to_metric``: per subset, ``subset_size`` rows of A then of B drawn
    without replacement by one ``RandomState(seed)``; float64 here (torch-fidelity keeps the input dtype).
    """
    a, b = _as_float64(features_a, "KID features A"), _as_float64(features_b, "KID features B")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DotcliError(f"KID expects two (N, d) feature sets with equal d, got {a.shape} and {b.shape}")
    if not 2 <= subset_size <= min(len(a), len(b)):
        raise DotcliError(f"KID subset size {subset_size} needs 2 <= size <= the smaller set "
                          f"({len(a)} and {len(b)} samples); lower metrics.kid_subset_size")
    g = 1.0 / a.shape[1] if gamma is None else gamma
    kernel = lambda x, y, same: _kernel_sum(x, y, g, coef0, degree, same)  # noqa: E731
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        m = len(x)
        # unbiased MMD^2 (torch-fidelity metric_kid.mmd2, mmd_est="unbiased"): diagonals dropped from K_XX, K_YY
        mmds[i] = float((kernel(x, x, True) + kernel(y, y, True)) / (m * (m - 1)) - 2.0 * kernel(x, y, False) / (m * m))
    return float(mmds.mean()), float(mmds.std())


class MeanCov:
    """Streaming mean and covariance of feature batches, in float64, so no batch is kept.

    Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979):
    M2 <- M2 + M2_b + delta delta^T * n n_b / (n + n_b), delta = mean_b - mean, which avoids the
    cancellation of the raw-sums formula. The work runs on the batch's device (GPU when features come
    from one); ``cov()`` uses ddof=1 as ``np.cov`` (torch-fidelity and pytorch-fid).
    """

    def __init__(self) -> None:
        self.n = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    def update(self, features: torch.Tensor) -> None:
        """Add a batch ``(b, d)`` of features."""
        x = features.detach().to(torch.float64)
        if x.ndim != 2:
            raise DotcliError(f"feature batches must be (batch, dim), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise DotcliError("the feature extractor returned NaN/inf features; FID cannot be computed")
        nb = x.shape[0]
        if nb == 0:
            return
        mean_b = x.mean(dim=0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        if self._mean is None:
            self.n, self._mean, self._m2 = nb, mean_b, m2_b
            return
        if mean_b.shape != self._mean.shape:
            raise DotcliError(f"feature dimension changed from {self._mean.shape[0]} to {mean_b.shape[0]}")
        delta = mean_b.to(self._mean.device) - self._mean
        total = self.n + nb
        self._m2 = self._m2 + m2_b.to(self._m2.device) + torch.outer(delta, delta) * (self.n * nb / total)
        self._mean = self._mean + delta * (nb / total)
        self.n = total

    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise DotcliError("no features were accumulated")
        return self._mean.cpu().numpy()

    def cov(self) -> np.ndarray:
        if self._m2 is None or self.n < 2:
            raise DotcliError(f"a covariance needs at least 2 samples, got {self.n}")
        return (self._m2 / (self.n - 1)).cpu().numpy()
