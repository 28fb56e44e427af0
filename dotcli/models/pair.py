"""The one interface every sampler sees: a frozen generator/discriminator pair.

Whatever the file format or architecture, a loader returns a :class:`ModelPair`. It counts
every sample that goes through G or D, so samplers get their cost accounting for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dotcli import DotcliError


@dataclass
class EvalCounter:
    """Number of samples passed through G and D (a forward+backward counts once)."""

    g: int = 0
    d: int = 0

    def reset(self) -> None:
        self.g = 0
        self.d = 0


@dataclass
class ModelPair:
    """A frozen GAN: ``G(z[, y]) -> x`` and ``D(x[, y]) -> raw score`` (no sigmoid).

    Attributes:
        G, D: the networks, put in eval mode with gradients off for their parameters.
        z_dim: latent size; latents are ``(n, z_dim)``.
        prior: ``"uniform"`` (U[-1, 1]^d) or ``"normal"`` (N(0, I)).
        n_classes: 0 for unconditional models; else labels ``y`` in ``[0, n_classes)``.
        d_output: ``"logit"`` (non-saturating D: a probability-type logit) or ``"critic"``
            (WGAN or hinge: must be calibrated before DRS).
        sample_range: the box generated samples live in, e.g. (-1, 1) for tanh images.
        notes: what the loader found and decided (attention block used, how SN sigma is computed...);
            written into every record as ``model_notes``.
        truncation: the truncation trick in z-space (``model.truncation``; None = the plain prior). Uniform prior:
            psi in (0, 1], latents shrunk towards 0, ``z = psi * u`` (the uniform analogue of StyleGAN's psi);
            normal prior: a threshold t > 0, every coordinate with ``|z_i| > t`` redrawn until inside (BigGAN,
            Brock et al. 2019, sec. 3.1).
    """

    G: nn.Module
    D: nn.Module
    z_dim: int
    prior: str
    n_classes: int = 0
    d_output: str = "critic"
    sample_range: tuple[float, float] | None = None
    name: str = ""
    counter: EvalCounter = field(default_factory=EvalCounter)
    notes: dict[str, Any] = field(default_factory=dict)
    truncation: float | None = None

    def __post_init__(self) -> None:
        if self.prior not in ("uniform", "normal"):
            raise DotcliError(f"prior={self.prior!r} is not valid; expected uniform or normal")
        if self.d_output not in ("critic", "logit"):
            raise DotcliError(f"d_output={self.d_output!r} is not valid; expected critic or logit")
        if not (isinstance(self.z_dim, int) and self.z_dim >= 1):
            raise DotcliError(f"z_dim={self.z_dim!r} is not valid; expected an integer >= 1")
        if self.truncation is not None:
            self.set_truncation(self.truncation)
        for net in (self.G, self.D):
            net.eval()
            net.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def to(self, device: torch.device | str) -> ModelPair:
        self.G.to(device)
        self.D.to(device)
        return self

    def set_truncation(self, value: float | None) -> None:
        """Turn the z-space truncation trick on (see ``truncation``) or off (None); a bad value is one DotcliError."""
        from dotcli import DotcliError

        if value is None:
            self.truncation = None
            self.notes.pop("truncation", None)
            return
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if self.prior == "uniform" and not (ok and value <= 1):
            raise DotcliError(f"model.truncation={value!r} is not valid for a uniform prior; expected psi in (0, 1] "
                              "(latents shrunk towards 0) or null")
        if self.prior == "normal" and not ok:
            raise DotcliError(f"model.truncation={value!r} is not valid for a normal prior; expected a threshold > 0 "
                              "(truncated normal) or null")
        self.truncation = float(value)
        self.notes["truncation"] = (f"z = {self.truncation:g} * U[-1, 1]^d (psi)" if self.prior == "uniform" else
                                    f"z ~ N(0, I) truncated to |z_i| <= {self.truncation:g}, redrawn (BigGAN)")

    def sample_z(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Draw ``n`` latents from the prior with a CPU generator (same numbers on any device)."""
        if self.prior == "uniform":
            z = torch.rand(n, self.z_dim, generator=gen) * 2 - 1
            if self.truncation is not None:
                z = z * self.truncation  # shrink towards the prior's centre by psi
        else:
            z = torch.randn(n, self.z_dim, generator=gen)
            if self.truncation is not None:  # BigGAN's truncated normal: redraw what falls outside [-t, t]
                outside = z.abs() > self.truncation
                while outside.any():
                    z[outside] = torch.randn(int(outside.sum()), generator=gen)
                    outside = z.abs() > self.truncation
        return z.to(self.device)

    def sample_y(self, n: int, gen: torch.Generator) -> torch.Tensor | None:
        """Uniform class labels for conditional models, ``None`` otherwise."""
        if self.n_classes == 0:
            return None
        return torch.randint(0, self.n_classes, (n,), generator=gen).to(self.device)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.counter.g += z.shape[0]
        return self.G(z) if y is None else self.G(z, y)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Raw discriminator output, flattened to shape ``(n,)``."""
        self.counter.d += x.shape[0]
        out = self.D(x) if y is None else self.D(x, y)
        if not isinstance(out, torch.Tensor) or out.numel() != x.shape[0]:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
            raise DotcliError(f"the discriminator returned {got} for {x.shape[0]} samples; expected one raw score "
                              f"per sample, shape ({x.shape[0]},) or ({x.shape[0]}, 1)")
        return out.reshape(x.shape[0])
