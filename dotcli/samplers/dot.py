"""``dot``: Discriminator Optimal Transport (Tanaka, NeurIPS 2019), target or latent space."""

from __future__ import annotations

from typing import Any

import torch

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import MethodInfo, SampleBatch, Sampler, SetupContext
from dotcli.samplers.gradient import ANCHORS, ClipCount, transport
from dotcli.samplers.keff import (
    estimate_k_eff,
    estimate_k_eff_local,
    estimate_k_eff_local_per_class,
    estimate_k_eff_per_class,
)

#: DOT with ``k_eff: local`` is ours, not the paper's: tables show it under this label
LOCAL_INFO = MethodInfo(label="DOT (local K, ours)", params=("space", "eps", "steps", "optimizer", "anchor"),
                        source="dotcli: K from D's local gradient norms (docs/protocol.md#k-eff-local); "
                               "otherwise Tanaka 2019 (DOT), Alg. 1 / Alg. 2", ours=True, order=31)


class DOTSampler(Sampler):
    """Draw z_y, then move y = G(z_y) (target space) or z_y (latent space) by ``steps`` updates.

    Args:
        space: ``target`` (Alg. 1, refine samples) or ``latent`` (Alg. 2, refine latents).
        eps: step size (learning rate of the optimizer).
        steps: number of updates N.
        optimizer: ``sgd`` (official latent default) or ``adam`` (beta1 0, beta2 0.9; 2-D demo).
        k_eff: ``"auto"`` (the paper's secant estimate), ``"local"`` (ours: the ``k_eff_quantile`` of D's
            gradient norms at generator samples, docs/protocol.md#k-eff-local) or a number.
            Conditional models estimate one K per class.
        k_eff_pairs, k_eff_repeats: pairs per estimate, estimates averaged (2-D demo: 100, 10). ``local``
            uses k_eff_pairs * k_eff_repeats samples (conditional: k_eff_pairs per class).
        k_eff_quantile: the quantile of ``local`` (0.9: see docs/protocol.md#k-eff-local).
        normal_prior_grad: ``tanaka`` | ``tangent`` | ``none`` (latent space, normal prior).
        clip_target: clamp samples to the model's sample range after each target-space step.
        record_every: also output the iterates every this many steps (0 = only the last).
        anchor: ``fixed`` (the paper's z_y, default) or ``released`` (the released code's z_y, which aliases
            the optimised z: docs/protocol.md#released-anchor); latent space only.
    """

    name = "dot"
    info = MethodInfo(label="DOT", params=("space", "eps", "steps", "optimizer", "anchor"),
                      source="Tanaka 2019 (DOT), Alg. 1 (target) / Alg. 2 (latent)", order=30)
    transport_weight = 1.0

    def __init__(self, space: str = "target", eps: float = 0.01, steps: int = 100,
                 optimizer: str = "adam", k_eff: float | str = "auto", k_eff_pairs: int = 100,
                 k_eff_repeats: int = 1, normal_prior_grad: str = "tanaka", clip_target: bool = True,
                 record_every: int = 0, anchor: str = "fixed", k_eff_quantile: float = 0.9) -> None:
        if space not in ("target", "latent"):
            raise DotcliError(f"method.space={space!r} is not valid; expected 'target' or 'latent'")
        if optimizer not in ("sgd", "adam"):
            raise DotcliError(f"method.optimizer={optimizer!r} is not valid; expected 'sgd' or 'adam'")
        if not eps >= 0:
            raise DotcliError(f"method.eps={eps} is not valid; expected a step size >= 0")
        if not (isinstance(steps, int) and steps >= 0):
            raise DotcliError(f"method.steps={steps} is not valid; expected an integer >= 0")
        if k_eff not in ("auto", "local") and not (isinstance(k_eff, int | float) and k_eff > 0):
            raise DotcliError(f"method.k_eff={k_eff!r} is not valid; expected 'auto', 'local' or a number > 0")
        if not (isinstance(record_every, int) and not isinstance(record_every, bool) and record_every >= 0):
            raise DotcliError(f"method.record_every={record_every!r} is not valid; expected an integer >= 0 "
                              "(0: only the last step)")
        if not (isinstance(k_eff_quantile, int | float) and 0 < k_eff_quantile <= 1):
            raise DotcliError(f"method.k_eff_quantile={k_eff_quantile!r} is not valid; expected a number in (0, 1]")
        if k_eff == "local" and self.transport_weight:  # ours: its own name and label in records and tables
            self.name, self.info = "dot_local", LOCAL_INFO
        if normal_prior_grad not in ("tanaka", "tangent", "none"):
            raise DotcliError(f"method.normal_prior_grad={normal_prior_grad!r} is not valid; "
                              "expected tanaka|tangent|none")
        if anchor not in ANCHORS:
            raise DotcliError(f"method.anchor={anchor!r} is not valid; expected fixed or released")
        if anchor == "released" and space != "latent":
            raise DotcliError("method.anchor=released exists only with method.space=latent (the released "
                              "target-space code copies its anchor: use method.anchor=fixed)")
        self.space, self.eps, self.steps, self.optimizer = space, float(eps), steps, optimizer
        self.anchor = anchor
        self.k_eff_cfg, self.k_eff_pairs, self.k_eff_repeats = k_eff, k_eff_pairs, k_eff_repeats
        self.k_eff_quantile = float(k_eff_quantile)
        self.normal_prior_grad, self.clip_target = normal_prior_grad, clip_target
        self.record_steps = tuple(range(0, steps + 1, record_every)) if record_every else ()
        self.k: float | torch.Tensor = 1.0
        self.clip_count = ClipCount()  # over all trials: the record says how many samples the clip box holds

    def setup(self, pair: ModelPair, ctx: SetupContext) -> dict[str, Any]:
        if self.k_eff_cfg == "local":
            return self._setup_local(pair, ctx)
        if self.k_eff_cfg != "auto":
            self.k = float(self.k_eff_cfg)
            return {"k_eff": self.k, "k_eff_source": "fixed"}
        if pair.n_classes:
            self.k = estimate_k_eff_per_class(pair, self.space, ctx.gen, n_pairs=self.k_eff_pairs)
            return {"k_eff": {"mean": self.k.mean().item(), "min": self.k.min().item(),
                              "max": self.k.max().item()}, "k_eff_source": "per_class"}
        self.k = estimate_k_eff(pair, self.space, ctx.gen, self.k_eff_pairs, self.k_eff_repeats)
        return {"k_eff": self.k, "k_eff_source": "estimated"}

    def _setup_local(self, pair: ModelPair, ctx: SetupContext) -> dict[str, Any]:
        q = self.k_eff_quantile
        if pair.n_classes:
            self.k = estimate_k_eff_local_per_class(pair, self.space, ctx.gen, self.k_eff_pairs, q)
            return {"k_eff": {"mean": self.k.mean().item(), "min": self.k.min().item(),
                              "max": self.k.max().item()}, "k_eff_source": "local_per_class", "k_eff_quantile": q}
        n = self.k_eff_pairs * self.k_eff_repeats
        self.k = estimate_k_eff_local(pair, self.space, ctx.gen, n, q, ctx.batch_size)
        return {"k_eff": self.k, "k_eff_source": "local", "k_eff_quantile": q, "k_eff_samples": n}

    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        z = pair.sample_z(n, gen)
        y = pair.sample_y(n, gen)  # drawn once, kept through all steps (conditional DOT)
        with torch.no_grad():
            x_init = pair.generate(z, y)
        k = self.k[y] if isinstance(self.k, torch.Tensor) else self.k
        if self.space == "latent":
            clip = (-1.0, 1.0) if pair.prior == "uniform" else None
            start = z
        else:
            clip = pair.sample_range if self.clip_target else None
            start = x_init
        end, recorded = transport(
            pair, start, space=self.space, steps=self.steps, eps=self.eps, optimizer=self.optimizer,
            k_eff=k, transport_weight=self.transport_weight, y=y, clip=clip,
            normal_prior_grad=self.normal_prior_grad, record_steps=self.record_steps, anchor=self.anchor,
            clip_count=self.clip_count)
        if self.space == "latent":
            with torch.no_grad():
                x = pair.generate(end, y)
                steps = {s: (x if s == self.steps else pair.generate(v, y)) for s, v in recorded.items()}
        else:
            x, steps = end, recorded
        return SampleBatch(x=x, x_init=x_init, y=y, steps=steps)

    def stats(self) -> dict[str, Any]:
        return self.clip_count.stats()
