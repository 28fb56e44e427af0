"""The toy evaluation: precision/recall/density/coverage in data space beside HQ, modes and EMD."""

from __future__ import annotations

import pytest
import torch

from dotcli.data.toy import Gaussians25
from dotcli.evaluation.toy import ToyEvaluation
from dotcli.metrics.prdc import prdc
from dotcli.samplers.base import SampleBatch


def score(ev: ToyEvaluation, x: torch.Tensor, steps: dict[int, torch.Tensor] | None = None) -> dict:
    ev.start_trial(0, torch.Generator().manual_seed(3))
    ev.add(SampleBatch(x=x, steps=steps or {}))
    return ev.finish_trial()


def test_toy_runs_score_the_four_metrics_against_the_trials_fresh_data():
    data = Gaussians25()
    x = data.sample(250, torch.Generator().manual_seed(1)) * 1.3  # spread too wide: lower precision
    out = score(ToyEvaluation(data), x, steps={0: x * 0.5})
    reference = data.sample(250, torch.Generator().manual_seed(3))  # what the evaluation drew for this trial
    want = prdc(reference, x)
    assert {k: out["metrics"][k] for k in want} == pytest.approx(want, abs=1e-12)
    assert {"hq", "modes", "emd"} <= set(out["metrics"])
    assert out["by_step"][0]["precision"] == pytest.approx(prdc(reference, x * 0.5)["precision"])
    assert ToyEvaluation(data).describe()["prdc"]["space"].startswith("data")


def test_toy_prdc_follows_the_metrics_keys():
    data = Gaussians25()
    x = data.sample(100, torch.Generator().manual_seed(2))
    off = score(ToyEvaluation(data, {"prdc": False}), x)["metrics"]
    assert set(off) == {"hq", "modes", "emd"}
    k1 = score(ToyEvaluation(data, {"prdc_k_pr": 1, "prdc_k_dc": 1}), x)["metrics"]
    reference = data.sample(100, torch.Generator().manual_seed(3))
    assert k1["density"] == pytest.approx(prdc(reference, x, 1, 1)["density"])
