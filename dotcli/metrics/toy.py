"""Toy metrics (docs/protocol.md#toy-metrics): high-quality rate, covered modes, exact W1 (EMD)."""

from __future__ import annotations

import numpy as np
import torch


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
    """Exact W1 between two point sets with uniform weights (POT's emd2, Euclidean ground cost)."""
    x, y = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    import ot  # lazy: POT costs seconds to import, and only the evaluation needs it

    cost = ot.dist(x, y, metric="euclidean")
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
