"""``none``: the bare generator, the baseline every table compares against."""

from __future__ import annotations

import torch

from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo, SampleBatch, Sampler


class BareSampler(Sampler):
    """x = G(z), z from the prior."""

    name = "none"
    info = MethodInfo(label="none", source="the bare generator", order=0)

    @torch.no_grad()
    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        z = pair.sample_z(n, gen)
        y = pair.sample_y(n, gen)
        x = pair.generate(z, y)
        return SampleBatch(x=x, x_init=x, y=y)
