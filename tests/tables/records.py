"""Hand-made records, skip and failure notes as dot-run writes them, for the table tests."""

from __future__ import annotations

import numpy as np


def record(dataset="gaussians25", model="dotcli_wgangp", method="dot", seed=0, metrics=None, params=None,
           kind="toy", n=1000, created="2026-01-01T00:00:00", cost=None, by_step=None, evaluation=None):
    """A result record as dotcli.runner writes it, with per-trial metric lists."""
    metrics = metrics or {"hq": [0.5, 0.7], "modes": [25.0, 25.0], "emd": [0.2, 0.1]}
    params = params if params is not None else ({"space": "target", "eps": 0.01, "steps": 100}
                                                if method in ("dot", "naive") else {})
    agg = {}
    for m, vals in metrics.items():
        agg.update({m: float(np.mean(vals)), f"{m}_std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                    f"{m}_trials": list(vals)})
    trials = len(next(iter(metrics.values())))
    config = {"dataset": {"name": dataset, "kind": kind}, "model": {"name": model},
              "method": {"name": method, **params}, "seed": seed, "n_samples": n, "trials": trials}
    return {"dataset": dataset, "model": model, "method": method, "params": {**params, "setup": [{}] * trials},
            "metrics": agg, "metrics_by_step": by_step or {},
            "cost": cost or {"wall_s": 2.0, "g_evals_per_sample": 1.0, "d_evals_per_sample": 100.0},
            "evaluation": evaluation or {"reference": "fresh data", "name": dataset}, "seed": seed, "trials": trials,
            "n_samples": n, "device": "cpu", "device_name": "test cpu", "versions": {"dotcli": "0.1.0"},
            "created": created, "config": config}


def skip(model="tanaka_wgangp", method="dot", dataset="gaussians25", reason="checkpoint X not found", kind="toy"):
    rec = record(dataset=dataset, model=model, method=method, kind=kind)
    return {"dataset": dataset, "model": model, "method": method, "skipped": ["checkpoint missing"],
            "reason": reason, "config": rec["config"], "created": "2026-01-01T00:00:00"}


def failure(model="dotcli_wgangp", method="naive", error="method.eps=-1 is not valid"):
    rec = record(model=model, method=method)
    return {"dataset": "gaussians25", "model": model, "method": method, "error": error, "config": rec["config"],
            "created": "2026-01-01T00:00:00"}
