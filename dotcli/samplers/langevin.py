"""The latent-space loop shared by DDLS and DGflow (docs/protocol.md#ddls, docs/protocol.md#dgflow).

Each step evaluates d = D(G(z)) and grad_z d on the batch, then the sampler's ``update`` moves z
(drift from the gradient plus Gaussian noise drawn from the trial's generator). Labels of conditional
models stay fixed. Uniform-prior models: z is clamped to the prior's box [-1, 1]^d after every step
(G never saw latents outside it). Cost per output: ``steps`` G and D forward-backwards and one G
forward for the output; the iterates ``record_every`` steps come for free (G(z_t) is computed anyway).
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.progress import progress
from dotcli.samplers.base import SampleBatch, Sampler
from dotcli.samplers.gradient import RefinementDiverged


def check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise DotcliError(f"method.{name}={value!r} is not valid; expected a number {'>=' if allow_zero else '>'} 0")
    return float(value)


class LatentLangevin(Sampler):
    """z_0 from the prior, ``steps`` updates z_{t+1} = update(z_t, d_t, grad_t), output G(z_T)."""

    def __init__(self, steps: int, record_every: int = 0) -> None:
        if not (isinstance(steps, int) and steps >= 0):
            raise DotcliError(f"method.steps={steps!r} is not valid; expected an integer >= 0")
        if not (isinstance(record_every, int) and record_every >= 0):
            raise DotcliError(f"method.record_every={record_every!r} is not valid; expected an integer >= 0")
        self.steps = steps
        self.record_steps = frozenset([*range(0, steps, record_every), steps]) if record_every else frozenset()

    @abstractmethod
    def update(self, pair: ModelPair, z: torch.Tensor, d: torch.Tensor, grad: torch.Tensor, step: int,
               gen: torch.Generator) -> torch.Tensor:
        """One step from z (``d``: D(G(z)) detached, ``grad``: grad_z D(G(z)); ``step`` counts from 0)."""

    @staticmethod
    def noise(z: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """n ~ N(0, I) from the trial's CPU generator (same numbers on any device)."""
        return torch.randn(z.shape, generator=gen, dtype=z.dtype).to(z.device)

    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        z = pair.sample_z(n, gen)
        y = pair.sample_y(n, gen)  # fixed through all steps
        x_init, recorded = None, {}
        for step in progress(range(self.steps), f"{self.name} steps"):
            v = z.detach().requires_grad_(True)
            x = pair.generate(v, y)
            d = pair.discriminate(x, y)
            (grad,) = torch.autograd.grad(d.sum(), v)  # samples do not interact: the sum gives each its own
            x_init = x.detach() if step == 0 else x_init
            if step in self.record_steps:
                recorded[step] = x.detach()
            z = self.update(pair, z.detach(), d.detach(), grad, step, gen)
            if not (torch.isfinite(d).all() and torch.isfinite(grad).all() and torch.isfinite(z).all()):
                raise RefinementDiverged(f"{self.info.label}: non-finite D, gradient or latent at step {step + 1} "
                                         f"of {self.steps}; try a smaller step size")
            if pair.prior == "uniform":
                z = z.clamp(-1.0, 1.0)
        with torch.no_grad():
            x = pair.generate(z, y)
        if self.steps in self.record_steps:
            recorded[self.steps] = x
        return SampleBatch(x=x, x_init=x if x_init is None else x_init, y=y, steps=recorded)
