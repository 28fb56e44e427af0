"""``ddls``: Discriminator Driven Latent Sampling (Che et al., NeurIPS 2020), docs/protocol.md#ddls.

Langevin dynamics on the latent energy E(z) = -log p0(z) - d(G(z)), d the raw output of D:

    z <- z - (eps/2) grad E(z) + sqrt(eps) * noise_scale * n,   n ~ N(0, I)

Normal prior: grad(-log p0(z)) = z. Uniform prior U[-1, 1]^d: -log p0 is flat inside the box, so only
-d drives z, and z is clamped to the box after every step (clipping, not reflection: the box is the
support of p0, E is infinite outside it). noise_scale = 1 is the paper's sampler of exp(-E); another
value samples exp(-E / noise_scale^2). Optional decay as StudioGAN's ``langevin_sampling``: after every
``decay_steps`` steps both eps and the noise multiplier are multiplied by ``decay``.
"""

from __future__ import annotations

import math

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo
from dotcli.samplers.langevin import LatentLangevin, check_positive


class DDLSSampler(LatentLangevin):
    """Latent Langevin on E(z) = -log p0(z) - D(G(z)).

    Args:
        steps: Langevin steps. eps: step size. noise_scale: multiplier of the noise (1: the paper).
        decay, decay_steps: eps and the noise multiplier times ``decay`` every ``decay_steps`` steps
            (``decay_steps: 0`` = no decay).
        record_every: also output G(z) every this many steps (0 = only the last).
    """

    name = "ddls"
    info = MethodInfo(label="DDLS", params=("eps", "steps", "noise_scale"),
                      source="Che et al. 2020 (DDLS), Langevin on the latent energy E(z)", order=40)

    def __init__(self, steps: int = 100, eps: float = 0.01, noise_scale: float = 1.0, decay: float = 0.1,
                 decay_steps: int = 0, record_every: int = 0) -> None:
        super().__init__(steps, record_every)
        self.eps = check_positive("eps", eps)
        self.noise_scale = check_positive("noise_scale", noise_scale, allow_zero=True)
        self.decay = check_positive("decay", decay)
        if not (isinstance(decay_steps, int) and decay_steps >= 0):
            raise DotcliError(f"method.decay_steps={decay_steps!r} is not valid; expected an integer >= 0 (0: off)")
        self.decay_steps = decay_steps

    def update(self, pair: ModelPair, z: torch.Tensor, d: torch.Tensor, grad: torch.Tensor, step: int,
               gen: torch.Generator) -> torch.Tensor:
        factor = self.decay ** (step // self.decay_steps) if self.decay_steps else 1.0  # StudioGAN's schedule
        eps = self.eps * factor
        grad_energy = (z - grad) if pair.prior == "normal" else -grad  # grad E = grad(-log p0) - grad d
        # z - (eps/2) grad E + sqrt(eps) * noise * n  (Langevin step on E, Che et al. 2020)
        return z - 0.5 * eps * grad_energy + math.sqrt(eps) * self.noise_scale * factor * self.noise(z, gen)
