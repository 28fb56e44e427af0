"""A finished record as ``dot-run`` writes it (every field of :class:`dotcli.records.Record`), for any config."""

from __future__ import annotations

from typing import Any

from dotcli.records import SCHEMA_VERSION, config_hash


def finished_record_json(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A complete ``result.json`` of ``config`` (its ``config_hash`` is the config's own)."""
    record = {
        "dataset": str(config.get("dataset", {}).get("name", "gaussians25")),
        "model": str(config.get("model", {}).get("name", "dotcli_wgangp")),
        "method": str(config.get("method", {}).get("name", "dot")), "method_info": {"label": "DOT"},
        "params": {"setup": [{}]}, "metrics": {"hq": 0.5, "hq_std": 0.0, "hq_trials": [0.5]},
        "metrics_by_step": {}, "cost": {"wall_s": 1.0}, "evaluation": {}, "seed": int(config.get("seed", 0)),
        "trials": 1, "n_samples": 10, "device": "cpu", "device_name": "cpu", "versions": {"dotcli": "0"},
        "created": "2026-01-01T00:00:00+00:00", "figures": [], "config": config, "config_hash": config_hash(config),
        "model_notes": {}, "schema_version": SCHEMA_VERSION}
    return {**record, **changes}
