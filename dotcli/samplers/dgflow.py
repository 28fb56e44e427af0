"""``dgflow``: Discriminator Gradient flow (Ansari, Ang, Soh, ICLR 2021), docs/protocol.md#dgflow.

    z <- z + eta * s * grad_z d(G(z)) + sqrt(2 * eta * gamma) * n,   n ~ N(0, I)

s = 1 (f = KL), sigmoid(d) (JS) or sigmoid(-d) (logD), s not differentiated: the official code's
velocity for the f-divergence's first variation. Prior: the official code has no prior term and no
clipping (and draws z0 from N(0, I) even for its uniform-prior DCGANs). Here z0 comes from the model's
own prior, and uniform-prior latents are clamped to the box [-1, 1]^d after every step, as in latent
DOT and DDLS (G never saw latents outside it); normal-prior latents move freely, as in the official code.
"""

from __future__ import annotations

import math

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo
from dotcli.samplers.langevin import LatentLangevin, check_positive

SCALES = ("kl", "js", "logd")


class DGflowSampler(LatentLangevin):
    """Latent Euler-Maruyama steps of the f-divergence gradient flow.

    Args:
        steps: updates (official: 25). eta: step size (0.1). gamma: noise temperature (0.01).
        f: ``kl`` (official image setting), ``js`` or ``logd``.
        record_every: also output G(z) every this many steps (0 = only the last).
    """

    name = "dgflow"
    info = MethodInfo(label="DGflow", params=("f", "eta", "steps", "gamma"),
                      source="Ansari et al. 2021 (DGflow), Alg. 1 (latent space), as in the official code", order=45)

    def __init__(self, steps: int = 25, eta: float = 0.1, gamma: float = 0.01, f: str = "kl",
                 record_every: int = 0) -> None:
        super().__init__(steps, record_every)
        if f not in SCALES:
            raise DotcliError(f"method.f={f!r} is not valid; expected kl|js|logd")
        self.eta = check_positive("eta", eta)
        self.gamma = check_positive("gamma", gamma, allow_zero=True)
        self.f = f

    def velocity_scale(self, d: torch.Tensor) -> torch.Tensor:
        """s(d) per sample: 1 (KL), sigmoid(d) (JS), sigmoid(-d) (logD); never differentiated."""
        if self.f == "kl":
            return torch.ones_like(d)
        return torch.sigmoid(d if self.f == "js" else -d)

    def update(self, pair: ModelPair, z: torch.Tensor, d: torch.Tensor, grad: torch.Tensor, step: int,
               gen: torch.Generator) -> torch.Tensor:
        s = self.velocity_scale(d).view(-1, *[1] * (z.dim() - 1))
        # z + eta * s * grad d + sqrt(2 eta gamma) n  (DGflow Alg. 1, velocity as in the official code)
        return z + self.eta * s * grad + math.sqrt(2 * self.eta * self.gamma) * self.noise(z, gen)
