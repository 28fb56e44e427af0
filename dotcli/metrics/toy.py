"""Toy metrics (docs/protocol.md#toy-metrics): high-quality rate, covered modes, exact W1 (EMD)."""

from __future__ import annotations

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.metrics.info import MetricInfo

# how reports show them (docs/protocol.md#toy-metrics)
METRICS = (
    MetricInfo("hq", "HQ", True, 3, "fraction of samples within 4σ of a mode", "hq", "toy",
               protocol="docs/protocol.md#toy-metrics"),
    MetricInfo("modes", "modes", True, 1, "modes with at least one high-quality sample", "modes", "toy",
               protocol="docs/protocol.md#toy-metrics"),
    MetricInfo("emd", "EMD", False, 3, "exact W1 to as many fresh data points", "emd", "toy",
               protocol="docs/protocol.md#toy-metrics"),
)


# The exact EMD holds an n x n float64 cost matrix (8 n^2 bytes) and the assignment's time grows about as n^3
# (4,000 points: ~50 s on a loaded 2-core CPU). Above this many points per set, refused before a run starts.
EMD_MAX_POINTS = 10_000


def emd_request_error(n: int) -> str | None:
    """Why an exact EMD between two sets of ``n`` points is refused (the limit and the key), or ``None``."""
    if n <= EMD_MAX_POINTS:
        return None
    gib = 8 * n * n / 2**30
    return (f"n_samples={n} is more than the toy evaluation's exact EMD takes (at most {EMD_MAX_POINTS} points "
            f"per trial: its {n} x {n} cost matrix alone is {gib:.1f} GiB, and its time grows about as n^3); "
            f"lower n_samples (the paper's protocol: 1000) or add trials for more samples")


def nearest_mode_distance(samples: torch.Tensor, modes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each sample to its nearest mode, and that mode's index."""
    d = torch.cdist(samples.double(), modes.double())
    dist, idx = d.min(dim=1)
    return dist, idx


def high_quality_mask(samples: torch.Tensor, modes: torch.Tensor, std: float,
                      n_sigma: float = 4.0) -> torch.Tensor:
    """A sample is high quality when within ``n_sigma`` std of its nearest mode."""
    dist, _ = nearest_mode_distance(samples, modes)
    return dist <= n_sigma * std


def hq_rate(samples: torch.Tensor, modes: torch.Tensor, std: float, n_sigma: float = 4.0) -> float:
    """Fraction of high-quality samples."""
    return high_quality_mask(samples, modes, std, n_sigma).double().mean().item()


def covered_modes(samples: torch.Tensor, modes: torch.Tensor, std: float, n_sigma: float = 4.0) -> int:
    """Number of modes with at least one high-quality sample."""
    _, idx = nearest_mode_distance(samples, modes)
    hq = high_quality_mask(samples, modes, std, n_sigma)
    return int(idx[hq].unique().numel())


def emd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Exact W1 between two point sets with uniform weights (Euclidean ground cost).

    With as many points on both sides (the toy protocol), an optimal plan is a permutation (Birkhoff-von
    Neumann), so W1 is the mean cost of the optimal assignment: SciPy's ``linear_sum_assignment``, exact and a
    fraction of a second to import. Sets of different sizes go to POT's network simplex (``ot.emd2``), which
    imports scikit-learn (seconds). Both are exact; tests/metrics/test_toy.py checks that they agree.
    More than :data:`EMD_MAX_POINTS` points is refused (memory and time, see there).
    """
    refused = emd_request_error(max(len(a), len(b)))
    if refused:
        raise DotcliError(refused)
    x, y = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    cost = np.sqrt(sum((x[:, None, k] - y[None, :, k]) ** 2 for k in range(x.shape[1])))  # n x m, no n x m x d
    if len(x) == len(y):
        from scipy.optimize import linear_sum_assignment  # lazy: only the evaluation needs it

        rows, cols = linear_sum_assignment(cost)
        return float(cost[rows, cols].mean())
    import ot  # lazy: POT costs seconds to import

    wa, wb = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    return float(ot.emd2(wa, wb, cost, numItermax=10_000_000))


def toy_metrics(samples: torch.Tensor, reference: torch.Tensor, modes: torch.Tensor | None,
                mode_std: float | None) -> dict[str, float]:
    """All toy metrics of one sample set: ``emd`` always, ``hq`` and ``modes`` where modes exist."""
    out = {"emd": emd(samples, reference)}
    if modes is not None and mode_std is not None:
        out["hq"] = hq_rate(samples, modes, mode_std)
        out["modes"] = float(covered_modes(samples, modes, mode_std))
    return out
