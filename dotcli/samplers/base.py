"""The sampler interface: ``setup`` once per trial, then ``sample`` batch by batch.

The runner knows no method by name: it instantiates the method config's ``_target_`` and
calls these two methods. Cost is counted by the :class:`~dotcli.models.ModelPair` itself
(G and D evaluations) and by the runner (wall time), so no sampler can under-report it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from dotcli.models.pair import ModelPair

RealSampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class SetupContext:
    """What a sampler may use to prepare itself (k_eff, calibration).

    Attributes:
        gen: the trial's CPU random generator (all randomness flows from it).
        real_data: draws ``n`` held-out real samples (on the pair's device), or ``None``
            where no real data is available (then samplers that need it raise).
        batch_size: the largest batch the sampler should push through G and D at once.
    """

    gen: torch.Generator
    real_data: RealSampler | None = None
    batch_size: int = 1000


@dataclass
class SampleBatch:
    """One batch of output samples.

    Attributes:
        x: the output samples, ``(n, ...)``.
        x_init: the generator samples they started from (same latents), for figures; ``None``
            where the method keeps no such pairing (rejection sampling).
        y: class labels for conditional models.
        steps: intermediate outputs ``{step: samples}`` for methods that record them
            (the last step's entry is ``x``), so one run scores every N in a step sweep.
    """

    x: torch.Tensor
    x_init: torch.Tensor | None = None
    y: torch.Tensor | None = None
    steps: dict[int, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodInfo:
    """How reports show a method, declared beside its sampler (tables name no method).

    Attributes:
        label: display name in tables and figures.
        params: method config keys worth a column (they tell variants of the method apart).
        cost: keys of :meth:`Sampler.stats` worth a column.
        source: where the algorithm comes from (a paper, or ``dotcli`` for our own variants).
        ours: the method (or variant) is this project's, not a paper's: tables mark it.
        order: position among methods in tables (smaller first).
    """

    label: str
    params: tuple[str, ...] = ()
    cost: tuple[str, ...] = ()
    source: str = ""
    ours: bool = False
    order: int = 100


class Sampler(ABC):
    """A way to draw samples from a frozen GAN, possibly improved by its discriminator."""

    #: short method name written into result records (``none``, ``dot``, ...)
    name: str = "sampler"
    #: how tables show it (written into every record as ``method_info``)
    info: ClassVar[MethodInfo] = MethodInfo(label="sampler")

    def setup(self, pair: ModelPair, ctx: SetupContext) -> dict[str, Any]:
        """Prepare for sampling (estimate k_eff, calibrate D...).

        Returns the quantities to record (e.g. ``{"k_eff": 1.97}``).
        """
        return {}

    @abstractmethod
    def sample(self, pair: ModelPair, n: int, gen: torch.Generator) -> SampleBatch:
        """Return exactly ``n`` output samples."""

    def stats(self) -> dict[str, Any]:
        """Method-specific cost statistics accumulated so far (e.g. DRS acceptance rate)."""
        return {}
