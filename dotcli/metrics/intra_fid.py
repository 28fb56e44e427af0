"""Intra-class FID for conditional models: FID per class against that class's reference images, averaged.

Miyato & Koyama (ICLR 2018, sec. 5.2; pfnet sngan_projection ``evaluations/calc_intra_FID.py``): for each
class c, the FID (Heusel et al. 2017, eq. 6) between the features of the images generated with label c and
the features of the reference images of class c; intra-FID is the mean over classes. A pure function over
features and labels; the per-class reference statistics come from a callable, so only one class's covariance
is in memory at a time (1000 ImageNet classes of 2048-d covariances would be 32 GB at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.metrics.fidelity import MeanCov, fid_to_reference, prepare_fid_reference
from dotcli.metrics.info import MetricInfo

METRICS = (
    MetricInfo("intra_fid", "intra-FID", False, 2, "intra-class FID: mean over classes of the FID of each class's "
               "samples against that class's reference images (Miyato & Koyama 2018)", "intra_fid", "image",
               protocol="docs/protocol.md#intra-class-fid"),
)


@dataclass
class IntraFID:
    """The mean and what it is the mean of."""

    value: float
    fid_per_class: list[float | None]  # None: the class had fewer than 2 generated or reference images
    samples_per_class: list[int]
    classes_scored: int
    classes_skipped: list[int] = field(default_factory=list)


def intra_fid(features: torch.Tensor, labels: torch.Tensor, n_classes: int,
              reference_of: Callable[[int], tuple[np.ndarray, np.ndarray]], reference_counts: np.ndarray,
              eps: float = 0.0) -> IntraFID:
    """Intra-class FID of generated ``features`` ``(N, d)`` with class ``labels`` ``(N,)``.

    ``reference_of(c)`` gives class c's reference ``(mu, sigma)``; ``reference_counts[c]`` its image count.
    Classes with fewer than 2 generated or 2 reference images have no covariance and are skipped (listed in
    ``classes_skipped``); the mean is over the others. ``eps`` as in :func:`dotcli.metrics.fidelity.fid_from_stats`.
    """
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise DotcliError(f"intra-FID expects features (N, d) and labels (N,), got {tuple(features.shape)} and "
                          f"{tuple(labels.shape)}")
    labels = labels.to(features.device).long()
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise DotcliError(f"intra-FID: generated labels span {int(labels.min())}..{int(labels.max())}, but the "
                          f"reference set has classes 0..{n_classes - 1}")
    counts = torch.bincount(labels, minlength=n_classes).tolist()
    per_class: list[float | None] = []
    skipped = []
    for c in range(n_classes):
        if counts[c] < 2 or int(reference_counts[c]) < 2:
            per_class.append(None)
            skipped.append(c)
            continue
        stats = MeanCov()
        stats.update(features[labels == c])
        mu, sigma = reference_of(c)
        ref = prepare_fid_reference(mu, sigma, eps=eps, what=f"class {c} reference")
        per_class.append(fid_to_reference(stats.mean(), stats.cov(), ref, what=f"class {c} generated"))
    scored = [v for v in per_class if v is not None]
    if not scored:
        raise DotcliError(f"intra-FID: no class has 2 or more generated and reference images ({len(labels)} "
                          f"samples over {n_classes} classes); generate more samples")
    return IntraFID(float(np.mean(scored)), per_class, counts, len(scored), skipped)
