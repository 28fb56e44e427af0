"""The gradient loop shared by DOT and the naive improvement (paper, Algorithms 1 and 2).

    target space:  x <- x - eps * grad_x [ ||x - y + 0.001||_2 - D(x) / K ]
    latent space:  z <- z - eps * grad_z [ ||z - z_y + 0.001||_2 - D(G(z)) / K ]

``transport_weight`` is 1 for DOT and 0 for the naive method (ascent on D alone).

``anchor`` says what z_y is in the latent-space transport term (docs/protocol.md#released-anchor):

* ``fixed`` (the paper's algorithm): z_y is the starting latent, for all steps.
* ``released`` (what the released Chainer code computes): ``DOT.py`` / ``DOT_cond.py``
  ``Transporter_in_latent`` keep z_y as the *same array* as the optimised z (``cuda.to_gpu`` returns its
  argument, ``L.Parameter`` wraps it without a copy, SGD updates it in place). So z_y moves with z until a
  clip replaces z's array (``xp.clip`` returns a new one): uniform prior, z_y = the first iterate z_1
  before clipping, from step 2 on; normal prior (never clipped), z_y = z at every step, so the transport
  gradient is the constant (0.001, ..., 0.001) / ||(0.001, ..., 0.001)|| = 1/sqrt(d) per coordinate.
  Implemented the same way: z_y is a view of z's storage, detached when the first clip would replace it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.progress import progress

# The official normal-prior correction divides by this literal (= sqrt(128), rounded).
TANAKA_NORMAL_DIVISOR = 11.31
ANCHORS = ("fixed", "released")


class RefinementDiverged(DotcliError):
    """The refinement produced a non-finite loss or gradient."""


@dataclass
class ClipCount:
    """How many refined points ended on the clip box's boundary (a coordinate at a bound), of how many.

    A large fraction means the steps overshoot (``eps`` too large): the points pile up on the box.
    """

    points: int = 0
    on_boundary: int = 0
    coordinates: int = 0
    coordinates_on_boundary: int = 0

    def add(self, v: torch.Tensor, clip: tuple[float, float]) -> None:
        on = ((v <= clip[0]) | (v >= clip[1])).flatten(1)
        self.points += on.shape[0]
        self.on_boundary += int(on.any(dim=1).sum())
        self.coordinates += on.numel()
        self.coordinates_on_boundary += int(on.sum())

    def stats(self) -> dict[str, float]:
        """``clip_boundary_fraction`` (points) and ``clip_coordinate_fraction``; empty when nothing was clipped."""
        if not self.points:
            return {}
        return {"clip_boundary_fraction": self.on_boundary / self.points,
                "clip_coordinate_fraction": self.coordinates_on_boundary / self.coordinates}


def _normal_prior_correction(grad: torch.Tensor, z: torch.Tensor, mode: str) -> torch.Tensor:
    """Gradient modification for a normal prior (official latent DOT, ``dist == 'normal'``)."""
    if mode == "none":
        return grad
    g, v = grad.flatten(1), z.flatten(1)
    dot = (g * v).sum(dim=1, keepdim=True)
    if mode == "tanaka":  # official: g - z (g.z) / 11.31, not a projection
        return (g - v * dot / TANAKA_NORMAL_DIVISOR).view_as(grad)
    if mode == "tangent":  # remove the radial component: g - z (g.z) / ||z||^2
        return (g - v * dot / (v * v).sum(dim=1, keepdim=True).clamp_min(1e-12)).view_as(grad)
    raise ValueError(f"normal_prior_grad must be tanaka|tangent|none, got {mode!r}")


class SGD:
    """Plain gradient descent, v <- v - eps * grad (the official latent DOT default)."""

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def step(self, v: torch.Tensor, grad: torch.Tensor) -> None:
        v.add_(grad, alpha=-self.eps)


class Adam:
    """Adam (Kingma & Ba 2015, Alg. 1) with lr=eps, betas=(0, 0.9), eps=1e-8 on one tensor (the 2-D demo's optimizer).

    The same operations, in the same order, as ``torch.optim.Adam``'s single-tensor path, so the iterates are
    bit-identical on the CPU; written out because the first ``torch.optim`` step imports ``torch._dynamo``,
    about 2 s of a 2-D run's start-up.
    """

    beta1, beta2, tiny = 0.0, 0.9, 1e-8

    def __init__(self, eps: float) -> None:
        self.eps, self.t = eps, 0
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def step(self, v: torch.Tensor, grad: torch.Tensor) -> None:
        if self.m is None or self.v is None:
            self.m, self.v = torch.zeros_like(v), torch.zeros_like(v)
        self.t += 1
        self.m.lerp_(grad, 1 - self.beta1)  # first moment (beta1 = 0: the gradient itself)
        self.v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.eps / (1 - self.beta1 ** self.t)
        denom = (self.v.sqrt() / (1 - self.beta2 ** self.t) ** 0.5).add_(self.tiny)
        v.addcdiv_(self.m, denom, value=-step_size)


def make_optimizer(name: str, eps: float) -> SGD | Adam:
    """Plain SGD (official latent default) or Adam(beta1=0, beta2=0.9) (official 2-D demo)."""
    if name == "sgd":
        return SGD(eps)
    if name == "adam":
        return Adam(eps)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def transport(pair: ModelPair, start: torch.Tensor, *, space: str, steps: int, eps: float,
              optimizer: str, k_eff: float | torch.Tensor, transport_weight: float,
              y: torch.Tensor | None = None, clip: tuple[float, float] | None = None,
              normal_prior_grad: str = "tanaka", record_steps: tuple[int, ...] = (),
              anchor: str = "fixed", clip_count: ClipCount | None = None,
              ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Run ``steps`` updates from ``start`` (latents or samples) and return the final point.

    Args:
        space: ``"latent"`` (``start`` are latents; D sees G(z)) or ``"target"`` (samples).
        k_eff: a number, or a per-sample tensor ``(n,)`` (per-class K of conditional models).
        clip: box to clamp to after every step (uniform prior / the 2-D code's [-2, 2]).
        record_steps: step counts whose iterate is returned too, ``{step: point}`` (0 = start).
        anchor: ``fixed`` (paper) or ``released`` (the released code's aliased anchor; see the module
            docstring). ``released`` only exists in latent space (the 2-D target-space demo copies its anchor).
        clip_count: with ``clip``, counts the final points that sit on the box's boundary.

    Raises:
        RefinementDiverged: at the first step whose loss or gradient is not finite.
    """
    if anchor not in ANCHORS:
        raise DotcliError(f"method.anchor={anchor!r} is not valid; expected fixed or released")
    if anchor == "released" and space != "latent":
        raise DotcliError("method.anchor=released exists only in latent space (the released target-space "
                          "code copies its anchor, so it equals method.anchor=fixed there)")
    v = start.detach().clone().requires_grad_(True)
    # fixed: a copy of the start; released: a view of v's storage, moved by every in-place optimizer step
    anchor_z = start.detach().clone() if anchor == "fixed" else v.detach()
    aliased = anchor == "released"
    opt = make_optimizer(optimizer, eps)
    k = k_eff if isinstance(k_eff, float | int) else k_eff.reshape(-1)
    recorded = {0: start.detach().clone()} if 0 in record_steps else {}
    for step in progress(range(1, steps + 1), f"{space} steps"):
        v.grad = None
        x = pair.generate(v, y) if space == "latent" else v
        loss = -(pair.discriminate(x, y) / k).sum()  # summed over the batch: samples do not interact
        if transport_weight:
            # un-squared norm (W1 cost); +0.001 on every coordinate keeps the gradient finite at v = anchor
            loss = loss + transport_weight * (v - anchor_z + 0.001).flatten(1).norm(dim=1).sum()
        loss.backward()
        if not (torch.isfinite(loss) and torch.isfinite(v.grad).all()):
            raise RefinementDiverged(
                f"non-finite loss or gradient at refinement step {step} of {steps} "
                f"(eps={eps}, k_eff={_describe(k_eff)}); try a smaller method.eps")
        if space == "latent" and pair.prior == "normal":
            v.grad = _normal_prior_correction(v.grad, v.detach(), normal_prior_grad)
        with torch.no_grad():
            opt.step(v, v.grad)
        if clip is not None:
            with torch.no_grad():
                if aliased:  # the released code's xp.clip makes a new array: z_y keeps the pre-clip iterate
                    anchor_z, aliased = anchor_z.clone(), False
                v.clamp_(*clip)
        if step in record_steps:
            recorded[step] = v.detach().clone()
    if clip is not None and clip_count is not None and steps > 0:
        clip_count.add(v.detach(), clip)
    return v.detach(), recorded


def _describe(k: float | torch.Tensor) -> str:
    if isinstance(k, torch.Tensor):
        return f"per-class in [{k.min().item():.4g}, {k.max().item():.4g}]"
    return f"{k:.4g}"
