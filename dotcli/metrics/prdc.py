"""Precision, recall, density and coverage of a generated set against a real set (docs/metrics/quality-diversity.md).

With real features X (N rows), generated features Y (M rows) and NND_k(a) the distance from a to its k-th nearest
neighbour in its own set (itself excluded, duplicates counted):

* precision = share of Y inside at least one real ball B(x, NND_3(x))       (Kynkaanniemi et al. 2019, eq. 1-2; ``<=``)
* recall    = share of X inside at least one generated ball B(y, NND_3(y))  (Kynkaanniemi et al. 2019, eq. 2)
* density   = 1 / (k M) * sum_y #{x : d(x, y) < NND_5(x)}                    (Naeem et al. 2020, eq. 5; strict ``<``)
* coverage  = share of X whose ball B(x, NND_5(x)) holds at least one y      (Naeem et al. 2020, eq. 6; strict ``<``)

Everything is exact and needs three distance products (X-X, Y-Y, X-Y), each streamed in row blocks so no N x M
matrix is ever held: the X-Y pass folds all four metrics out of each block. Distances are compared squared
(``|a|^2 + |b|^2 - 2 a.b``, clamped at 0, self-distances set to exactly 0), in float32 on the features' device with
TF32/bf16 matmuls switched off for the call, so the answers agree on CPU and GPU to float tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.metrics.info import MetricInfo

METRICS = (
    MetricInfo("precision", "precision", True, 3, "share of samples inside the real k-NN balls (k=3, Kynkäänniemi "
               "et al. 2019)", "prdc", "any", protocol="docs/protocol.md#quality-diversity"),
    MetricInfo("recall", "recall", True, 3, "share of real points inside the samples' k-NN balls (k=3)", "prdc",
               "any", protocol="docs/protocol.md#quality-diversity"),
    MetricInfo("density", "density", True, 3, "mean count of real k-NN balls holding a sample, over k (k=5, Naeem "
               "et al. 2020)", "prdc", "any", protocol="docs/protocol.md#quality-diversity"),
    MetricInfo("coverage", "coverage", True, 3, "share of real k-NN balls holding a sample (k=5)", "prdc", "any",
               protocol="docs/protocol.md#quality-diversity"),
)
KEYS = tuple(m.key for m in METRICS)
# the quality/diversity planes dot-table draws per family: <family>_<name>.png
PLANES = (("precision", "recall", "precision_recall"), ("density", "coverage", "density_coverage"))

K_PR, K_DC = 3, 5  # the papers' neighbourhood sizes
BLOCK_BYTES = 128 * 2**20  # one distance block (rows x N float32); the comparisons add a few bool blocks of it


def check_k(k_pr: int, k_dc: int) -> None:
    """Both neighbourhood sizes are integers >= 1 (one line naming the bad one otherwise)."""
    for name, k in (("k_pr", k_pr), ("k_dc", k_dc)):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise DotcliError(f"prdc: {name}={k!r} is not valid; expected an integer >= 1")


def check_sizes(n_real: int, n_fake: int, k_pr: int, k_dc: int) -> None:
    """Each set has more points than its largest k: a k-th neighbour other than the point itself must exist."""
    check_k(k_pr, k_dc)
    for what, n, k, name in (("real", n_real, max(k_pr, k_dc), "k_pr" if k_pr >= k_dc else "k_dc"),
                             ("generated", n_fake, k_pr, "k_pr")):
        if n < k + 1:
            raise DotcliError(f"prdc: the {what} set has {n} point(s) but {name}={k} needs at least {k + 1} "
                              f"(k < the set size)")


@contextmanager
def exact_float32() -> Iterator[None]:
    """Full-precision float32 matmuls (no TF32 on CUDA, no bf16 on CPU) inside the block, restored after."""
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved)


def _as_features(features: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
    x = torch.as_tensor(features)
    if x.ndim != 2:
        raise DotcliError(f"prdc: {what} features must be (n, d), got shape {tuple(x.shape)}")
    x = x.detach().to(torch.float32)
    if not torch.isfinite(x).all():
        raise DotcliError(f"prdc: the {what} features hold NaN/inf")
    return x


def _rows_per_block(n_cols: int, block_bytes: int) -> int:
    return max(1, block_bytes // (4 * max(1, n_cols)))


def _sq_dist_blocks(a: torch.Tensor, b: torch.Tensor, block_bytes: int,
                    same: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
    """(row offset, squared distances of a block of ``a``'s rows to all of ``b``), never the whole matrix."""
    a_sq, b_sq = (a * a).sum(1), (b * b).sum(1)
    rows = _rows_per_block(len(b), block_bytes)
    for start in range(0, len(a), rows):
        block = a[start:start + rows]
        # (|a|^2 + |b|^2) - 2 a.b: the sum first, so d(a, b) and d(b, a) round alike (ties stay ties across blocks)
        d = torch.addmm(a_sq[start:start + rows, None] + b_sq[None, :], block, b.T, alpha=-2.0).clamp_min_(0.0)
        if same:  # a point's distance to itself is 0, not the rounding residue of |a|^2 + |a|^2 - 2 a.a
            idx = torch.arange(start, start + len(block), device=d.device)
            d[idx - start, idx] = 0.0
        yield start, d


def knn_radii(features: torch.Tensor | np.ndarray, ks: Sequence[int],
              block_bytes: int = BLOCK_BYTES) -> torch.Tensor:
    """Squared distance of every point to its k-th nearest neighbour in its own set, for each k: ``(n, len(ks))``.

    The point itself is the 0-th neighbour (distance 0), so this is the (k+1)-th smallest, as the papers' code
    (``kthvalue(k + 1)``; ``np.partition(..., k)[:, k]``). Duplicates count as neighbours at distance 0.
    """
    x = _as_features(features, "radius")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or max(ks) >= len(x):
        raise DotcliError(f"prdc: k={ks} needs 1 <= k < the set size ({len(x)})")
    out = torch.empty(len(x), len(ks), dtype=torch.float32, device=x.device)
    kmax = max(ks)
    with exact_float32():
        for start, d in _sq_dist_blocks(x, x, block_bytes, same=True):
            smallest = torch.topk(d, kmax + 1, dim=1, largest=False, sorted=True).values
            out[start:start + len(d)] = smallest[:, ks]
    return out


def prdc(real_features: torch.Tensor | np.ndarray, fake_features: torch.Tensor | np.ndarray, k_pr: int = K_PR,
         k_dc: int = K_DC, *, real_radii: torch.Tensor | None = None,
         block_bytes: int = BLOCK_BYTES) -> dict[str, float]:
    """Precision and recall (k_pr, ``<=``) and density and coverage (k_dc, strict ``<``) of ``fake`` against ``real``.

    Args:
        real_features: ``(N, d)`` reference features (float32 or castable; on the device the work runs on).
        fake_features: ``(M, d)`` generated features.
        k_pr: neighbourhood of precision/recall (Kynkaanniemi et al. 2019: 3).
        k_dc: neighbourhood of density/coverage (Naeem et al. 2020: 5).
        real_radii: ``knn_radii(real_features, (k_pr, k_dc))`` computed before (the cached reference radii).
        block_bytes: size of one distance block: memory beyond the features is a few times this.

    Returns:
        ``{"precision", "recall", "density", "coverage"}`` as floats.
    """
    check_k(k_pr, k_dc)
    real = _as_features(real_features, "real")
    fake = _as_features(fake_features, "generated").to(real.device)
    if real.shape[1] != fake.shape[1]:
        raise DotcliError(f"prdc: real features are {real.shape[1]}-d but generated ones {fake.shape[1]}-d")
    check_sizes(len(real), len(fake), int(k_pr), int(k_dc))
    if real_radii is None:
        real_radii = knn_radii(real, (k_pr, k_dc), block_bytes)
    real_radii = torch.as_tensor(real_radii, dtype=torch.float32, device=real.device)
    if tuple(real_radii.shape) != (len(real), 2):
        raise DotcliError(f"prdc: cached real radii have shape {tuple(real_radii.shape)}, expected ({len(real)}, 2)")
    r_pr, r_dc = real_radii[:, 0], real_radii[:, 1]
    fake_r_pr = knn_radii(fake, (k_pr,), block_bytes)[:, 0]
    in_real_ball = 0          # generated points inside some real k_pr-ball (precision)
    real_ball_hits = 0        # sum over generated points of the real k_dc-balls holding them (density)
    recalled = torch.zeros(len(real), dtype=torch.bool, device=real.device)   # real points in a generated ball
    covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)    # real k_dc-balls holding a sample
    with exact_float32():
        for start, d in _sq_dist_blocks(fake, real, block_bytes):  # d[y, x]: one X-Y block
            in_real_ball += int(torch.count_nonzero((d <= r_pr[None, :]).any(1)))
            inside_dc = d < r_dc[None, :]
            real_ball_hits += int(torch.count_nonzero(inside_dc))  # count_nonzero: a bool .sum() is ~10x slower
            covered |= inside_dc.any(0)
            recalled |= (d <= fake_r_pr[start:start + len(d), None]).any(0)
    return {"precision": in_real_ball / len(fake), "recall": int(torch.count_nonzero(recalled)) / len(real),
            "density": real_ball_hits / (k_dc * len(fake)), "coverage": int(torch.count_nonzero(covered)) / len(real)}
