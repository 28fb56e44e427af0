"""The evaluation interface the runner drives."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from dotcli.samplers.base import SampleBatch


class Evaluation(ABC):
    """Consumes the batches of one trial and returns its metrics.

    ``finish_trial`` returns ``{"metrics": {name: value}, "by_step": {step: {name: value}}}``;
    ``by_step`` is empty unless the sampler recorded intermediate steps. The runner builds it as
    ``cls(dataset=..., metrics=<the metrics config>, device=..., **<dataset.evaluation keys>)``: a
    constructor takes exactly those (no ``**kwargs``), so a mistyped key in a config is an error.
    """

    def check_pair(self, pair: Any) -> None:
        """Called once with the model pair before any sampling: refuse a pair this evaluation cannot score
        (e.g. intra-class FID of an unconditional model) and do pair-dependent preparation."""
        return None

    @abstractmethod
    def start_trial(self, trial: int, gen: torch.Generator) -> None: ...

    @abstractmethod
    def add(self, batch: SampleBatch) -> None: ...

    @abstractmethod
    def finish_trial(self) -> dict[str, Any]: ...

    def save_figures(self, out_dir: Path, title: str) -> list[str]:
        """Write the run's figures into ``out_dir``; return their file names."""
        return []

    def describe(self) -> dict[str, Any]:
        """Protocol facts to record with the result (reference set, sample counts...)."""
        return {}
