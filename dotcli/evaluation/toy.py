"""Toy evaluation: HQ, modes, EMD and (``metrics.prdc``) precision/recall/density/coverage in data space, against
fresh data, per trial and per recorded step."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.data.toy import ToyDataset
from dotcli.evaluation.base import Evaluation
from dotcli.metrics.prdc import prdc
from dotcli.metrics.toy import emd_request_error, toy_metrics
from dotcli.records import write_atomic
from dotcli.samplers.base import SampleBatch

SAMPLES_NAME = "samples.npz"


class ToyEvaluation(Evaluation):
    """Collects a trial's samples (small in 2-D) and scores them against ``n`` fresh data points.

    ``metrics``: only ``prdc`` (default true), ``prdc_k_pr`` and ``prdc_k_dc`` apply here (the same four metrics on
    the 2-D points themselves, the whole trial against its fresh reference; ``prdc_samples`` is an image key).
    ``device`` is part of every evaluation's constructor (the runner passes it); the toy metrics run on the CPU.
    ``save_samples``: also write every trial's output points (float32, with their trial) as ``samples.npz``
    beside the figure.
    """

    def __init__(self, dataset: ToyDataset, metrics: Mapping[str, Any] | None = None,
                 device: torch.device | str = "cpu", save_samples: bool = False) -> None:
        m = dict(metrics or {})
        self.dataset = dataset
        self.use_prdc = bool(m.get("prdc", True)) and bool(m.get("evaluate", True))
        self.prdc_k = (int(m.get("prdc_k_pr", 3)), int(m.get("prdc_k_dc", 5)))
        self._first: dict[str, torch.Tensor] | None = None
        self.save_samples = bool(save_samples)
        self._saved: list[tuple[int, torch.Tensor]] = []
        self._samples_file: str | None = None

    @classmethod
    def check_request(cls, n_samples: int, trials: int, metrics: Any) -> None:
        """Each trial's exact EMD is between ``n_samples`` points and as many data points: bounded here."""
        refused = emd_request_error(n_samples)
        if refused:
            raise DotcliError(refused)

    def start_trial(self, trial: int, gen: torch.Generator) -> None:
        self.trial, self.gen = trial, gen
        self.x: list[torch.Tensor] = []
        self.x_init: list[torch.Tensor] = []
        self.steps: dict[int, list[torch.Tensor]] = {}

    def add(self, batch: SampleBatch) -> None:
        self.x.append(batch.x.detach().cpu())
        if batch.x_init is not None:
            self.x_init.append(batch.x_init.detach().cpu())
        for step, xs in batch.steps.items():
            self.steps.setdefault(step, []).append(xs.detach().cpu())

    def finish_trial(self) -> dict[str, Any]:
        x = torch.cat(self.x)
        if self.save_samples:
            self._saved.append((self.trial, x))
        reference = self.dataset.sample(len(x), self.gen)

        def score(s: torch.Tensor) -> dict[str, float]:
            out = toy_metrics(s, reference, self.dataset.modes, self.dataset.mode_std)
            if self.use_prdc:
                out.update(prdc(reference.float(), s.float(), *self.prdc_k))
            return out

        by_step = {step: score(torch.cat(xs)) for step, xs in sorted(self.steps.items())}
        if self._first is None:  # the figure shows the first trial
            self._first = {"real": reference, "after": x,
                           "before": torch.cat(self.x_init) if self.x_init else None}
        return {"metrics": score(x), "by_step": by_step}

    def save_figures(self, out_dir: Path, title: str) -> list[str]:
        """Write the figure of the first trial (and ``samples.npz`` with ``save_samples``)."""
        if self._saved:
            arrays = {"x": torch.cat([x for _, x in self._saved]).numpy().astype(np.float32),
                      "trial": np.concatenate([np.full(len(x), t, dtype=np.int16) for t, x in self._saved])}
            write_atomic(Path(out_dir) / SAMPLES_NAME, lambda f: np.savez(f, **arrays))
            self._samples_file, self._saved = SAMPLES_NAME, []
        if self._first is None:
            return []
        name = "samples.png"
        from dotcli.plots import toy_figure  # lazy: matplotlib is needed only for the figure

        toy_figure(self._first["real"], self._first["before"], self._first["after"], title, out_dir / name)
        return [name]

    def describe(self) -> dict[str, Any]:
        out = {"reference": "fresh data, one set per trial, as many points as samples", **self.dataset.describe()}
        if self._samples_file:
            out["samples_file"] = self._samples_file
        if self.use_prdc:
            out["prdc"] = {"k_pr": self.prdc_k[0], "k_dc": self.prdc_k[1], "space": "data (2-D points)",
                           "samples": "all of each trial", "reference": "the trial's fresh data",
                           "rule": "precision/recall <= (Kynkaanniemi 2019), density/coverage < (Naeem 2020)"}
        return out
