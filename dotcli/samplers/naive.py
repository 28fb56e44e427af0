"""``naive``: gradient ascent on D alone (DOT without the transport term; "naive-D" in the seed).

On the 25 Gaussians it collapses samples onto the mode centres: high quality, no diversity.
"""

from __future__ import annotations

from dotcli.samplers.base import MethodInfo
from dotcli.samplers.dot import DOTSampler


class NaiveSampler(DOTSampler):
    """The DOT loop with transport weight 0: x <- x + eps * grad D(x) / K (or in latent space)."""

    name = "naive"
    info = MethodInfo(label="naive", params=("space", "eps", "steps", "optimizer"),
                      source="Tanaka 2019 (DOT), the transport term dropped", order=10)
    transport_weight = 0.0
