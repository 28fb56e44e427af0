"""Records -> rows: one row per cell (dataset, model, method, variant), trials pooled across seeds.

Records that differ only in ``seed`` are pooled (same :func:`variant_key`): a cell's mean and std run over
every trial of every such record. The newest record wins where the same config and seed were run twice.
``failed.json`` and ``skipped.json`` notes of cells without a record become rows that say why they are
empty (``status`` ``failed`` / ``skipped``). Columns starting with ``_`` are for layout and figures only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dotcli import DotcliError
from dotcli.metrics.info import metric_infos
from dotcli.paper.published import published_for
from dotcli.paper.tables import MODEL_ORDER
from dotcli.records import config_hash, record_file
from dotcli.tables.methods import RUN_COST, column_label, info_for_record, params_of

# kept for the layout and figures, left out of the CSV (with every column starting with "_")
OBJECT_COLUMNS = ("by_step", "config", "figure")


def variant_key(record: dict[str, Any]) -> str:
    """Hash of the record's config without the seed: records with equal keys are pooled."""
    cfg = {k: v for k, v in record.get("config", {}).items() if k != "seed"}
    return config_hash(cfg)


def family_of(record: dict[str, Any]) -> str:
    """``toy`` for every 2-D dataset, else the dataset's name: one table per family."""
    kind = record.get("config", {}).get("dataset", {}).get("kind", "toy")
    return "toy" if kind == "toy" else str(record["dataset"])


def value_text(v: Any) -> str:
    """A parameter value as the user typed it (pandas turns integer columns with gaps into floats)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def params_label(params: dict[str, Any]) -> str:
    """``key=value, ...`` of a cell's method parameters."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in params.items())


def _std(vals: Sequence[float]) -> float:
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _k_eff(rec: dict[str, Any]) -> float | None:
    ks = [s.get("k_eff") for s in rec.get("params", {}).get("setup", []) if isinstance(s.get("k_eff"), float | int)]
    return float(np.mean(ks)) if ks else None


def _pool_metrics(recs: list[dict[str, Any]], source: str = "metrics") -> dict[str, float]:
    out: dict[str, float] = {}
    for m, info in metric_infos().items():
        vals = [v for r in recs for v in r.get(source, {}).get(f"{m}_trials", [])]
        if vals:
            out[m], out[f"{m}_std"] = float(np.mean(vals)), _std(vals)
        svals = [v for r in recs for v in r.get(source, {}).get(f"{info.split_std}_trials", [])] \
            if info.split_std else []
        if svals:
            out[f"{m}_split_std"] = float(np.mean(svals))
    return out


def _by_step(recs: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    steps = sorted({int(s) for r in recs for s in r.get("metrics_by_step", {})})
    out = {}
    for s in steps:
        parts = [{"metrics": r["metrics_by_step"][str(s)]} for r in recs if str(s) in r.get("metrics_by_step", {})]
        out[s] = _pool_metrics(parts)
    return out


def protocol_facts(rec: dict[str, Any]) -> dict[str, str]:
    """What a reader needs to compare a cell with a published number (from the record's ``evaluation``)."""
    ev = rec.get("evaluation") or {}
    out = {"samples per trial": str(rec.get("n_samples")), "device": str(rec.get("device_name", rec.get("device")))}
    if "feature_extractor" in ev:  # images
        data = ev.get("dataset") or {}
        n = (ev.get("reference_stats") or {}).get("n")
        transform = data.get("reference_transform")
        extra = [f"{n} images"] if n else []
        extra += [transform] if transform and transform != "none" else []
        out["reference"] = " ".join(str(x) for x in (data.get("name", rec["dataset"]), ev.get("reference_set")) if x)
        out["reference"] += f" ({', '.join(extra)})" if extra else ""
        fx = ev["feature_extractor"]
        sha = fx.get("weights_sha256")
        features = [str(fx.get("name"))]
        features[0] += f" ({fx.get('weights_file', 'weights')} sha256 {sha[:12]})" if sha and len(sha) > 12 else ""
        features += [f"FID backend {ev['fid_backend']}"] if ev.get("fid_backend") else []
        features += [f"IS over {ev['is_splits']} splits"] if ev.get("is_splits") else []
        out["features"] = ", ".join(features)
        if ev.get("resize"):  # torch-fidelity's bilinear and dgm-eval's bicubic give different numbers
            out["resize"] = str(ev["resize"])
        intra = ev.get("intra_fid")
        if isinstance(intra, dict):
            counts = [n for t in intra.get("trials", []) for n in t.get("samples_per_class", [])]
            per_class = f", {min(counts)}-{max(counts)} samples per class" if counts else ""
            out["intra-FID"] = (f"reference split {intra.get('reference_split')} by class "
                                f"({(intra.get('reference_stats') or {}).get('classes')} classes){per_class}")
        if ev.get("quantisation"):
            out["quantisation"] = str(ev["quantisation"])
        if ev.get("note"):
            out["warning"] = str(ev["note"])
    elif ev:
        extra = ", n/25 points per mode" if ev.get("balanced_modes") else ""
        out["reference"] = f"{ev.get('name', rec['dataset'])}: {ev.get('reference', '')}{extra}"
    prdc = ev.get("prdc")
    if isinstance(prdc, dict):  # docs/protocol.md#quality-diversity
        sets = (f"{prdc.get('samples')} samples against {prdc.get('reference')} reference points "
                f"({prdc.get('reference_subset')})" if isinstance(prdc.get("samples"), int) else
                f"{prdc.get('space', '')}, {prdc.get('samples', '')} against {prdc.get('reference', '')}")
        out["precision/recall"] = (f"k={prdc.get('k_pr')} (<=), density/coverage k={prdc.get('k_dc')} (<); {sets}")
    return out


#: the model keys of a truncated generator: z-space (``model.truncation``, any family) and StyleGAN's W-space psi
#: (``model.truncation_psi``; 1 = none); a cell uses at most one of them
TRUNCATION_KEYS = (("truncation", None), ("truncation_psi", 1.0))


def truncation_key_of(config: dict[str, Any]) -> tuple[str, float] | None:
    """The cell's truncation as (model key, value); None = the plain prior."""
    model = config.get("model") or {}
    for key, plain in TRUNCATION_KEYS:
        value = model.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value != plain:
            return key, float(value)
    return None


def truncation_of(config: dict[str, Any]) -> float | None:
    """The cell's truncation value (``model.truncation`` or ``model.truncation_psi``; None = the plain prior)."""
    found = truncation_key_of(config)
    return None if found is None else found[1]


def _method_columns(rec: dict[str, Any], method_cfg: dict[str, Any]) -> dict[str, Any]:
    """The method's display (from its MethodInfo) and its parameter columns; a truncated generator's column says
    its truncation (one column per value of a truncation sweep)."""
    info = info_for_record(rec)
    params = params_of(info, method_cfg)
    label = column_label(info)
    found = truncation_key_of(rec.get("config") or {})
    truncation = None if found is None else found[1]
    if found is not None:
        label += f" ({found[0]}={value_text(truncation)})"
    shown = {**params, **({} if found is None else {f"model.{found[0]}": truncation})}
    return {"params": params_label(shown), **params, **({} if truncation is None else {"truncation": truncation}),
            "_label": label, "_order": info.order, "_ours": info.ours, "_params": info.params, "_cost": info.cost,
            "_source": info.source}


def _record_row(recs: list[dict[str, Any]], vkey: str) -> dict[str, Any]:
    first = recs[0]
    method_cfg = {k: v for k, v in first.get("params", {}).items() if k != "setup"}
    row: dict[str, Any] = {
        "family": family_of(first), "dataset": first["dataset"], "model": first["model"], "method": first["method"],
        **_method_columns(first, method_cfg), "variant": vkey, "status": "ok",
        "seeds": ",".join(str(s) for s in sorted({r.get("seed") for r in recs}, key=str)),
        "trials": sum(r.get("trials", 1) for r in recs), "n_samples": first.get("n_samples"),
        "device": first.get("device_name", ""),
        "dotcli": ",".join(sorted({r.get("versions", {}).get("dotcli", "") for r in recs})),
    }
    row.update(_pool_metrics(recs))
    for c in (*RUN_COST, *row["_cost"]):
        vals = [r["cost"][c] for r in recs if isinstance(r.get("cost", {}).get(c), float | int)]
        if vals:
            row[c] = float(np.mean(vals))
    ks = [k for k in map(_k_eff, recs) if k is not None]
    row["k_eff"] = float(np.mean(ks)) if ks else None
    for m, pub in published_for(row["dataset"], row["model"], row["method"]).items():
        row[f"paper_{m}"] = pub.value
        row[f"paper_{m}_source"] = pub.source
    for k, v in protocol_facts(first).items():
        row[f"protocol: {k}"] = v
    row["_features"] = ((first.get("evaluation") or {}).get("feature_extractor") or {}).get("name")
    row["by_step"] = _by_step(recs)
    row["config"] = first.get("config", {})
    figures = first.get("figures") or []
    row["figure"] = _figure(first, figures[0]) if figures and "_path" in first else None
    return row


def _figure(record: dict[str, Any], name: Any) -> str | None:
    """The record's figure inside its own directory; anything else is left out with one warning line."""
    try:
        return str(record_file(record["_path"], name))
    except DotcliError as exc:
        prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name.startswith("dot-") else "dot-table"
        print(f"{prog}: warning: {exc}", file=sys.stderr, flush=True)
        return None


def _note_row(note: dict[str, Any], status: str) -> dict[str, Any]:
    cfg = note.get("config", {})
    if status == "skipped":
        what = ", ".join(note.get("skipped") or ["input missing"])
        text, short = note.get("reason", ""), f"skipped: {what}"
    else:
        text, short = note.get("error", ""), "failed"
    return {"family": family_of(note), "dataset": note["dataset"], "model": note["model"], "method": note["method"],
            **_method_columns(note, cfg.get("method", {})), "variant": variant_key(note), "status": status,
            "seeds": str(cfg.get("seed", "")), "n_samples": cfg.get("n_samples"), "short": short,
            "note": f"{status}: {text}", "config": cfg}


def _newest(items: Iterable[dict[str, Any]], key) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for item in items:
        k = key(item)
        if k not in out or item.get("created", "") > out[k].get("created", ""):
            out[k] = item
    return out


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    model_rank = df["model"].map(lambda x: MODEL_ORDER.index(x) if x in MODEL_ORDER else len(MODEL_ORDER))
    df = df.assign(_g=model_rank)
    df = df.assign(_t=df["truncation"].fillna(float("inf")) if "truncation" in df else float("inf"))
    return df.sort_values(["dataset", "_g", "model", "_order", "method", "params", "_t"],
                          kind="stable").drop(columns=["_g", "_t"])


def build_rows(records: list[dict[str, Any]], failures: Sequence[dict[str, Any]] = (),
               skips: Sequence[dict[str, Any]] = ()) -> pd.DataFrame:
    """One row per (dataset, model, method, variant), trials pooled across seeds.

    ``failures`` (``failed.json``) and ``skips`` (``skipped.json``) become rows with ``status``
    ``failed`` / ``skipped`` and a ``note`` saying why, unless the same variant has a record.
    """
    newest = _newest(records, lambda r: (variant_key(r), r.get("seed")))
    groups: dict[str, list[dict[str, Any]]] = {}
    for (vkey, _), rec in newest.items():
        groups.setdefault(vkey, []).append(rec)
    rows = [_record_row(sorted(recs, key=lambda r: str(r.get("seed"))), vkey) for vkey, recs in groups.items()]
    notes = [{**n, "_status": "failed"} for n in failures] + [{**n, "_status": "skipped"} for n in skips]
    latest = _newest(notes, variant_key)  # a cell failed, then skipped (or the reverse): the newest note
    rows += [_note_row(n, n["_status"]) for vkey, n in latest.items() if vkey not in groups]
    return _sort(pd.DataFrame(rows)).reset_index(drop=True)


def csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as the long CSV writes them: without the layout's and figures' columns."""
    return df.drop(columns=[c for c in df.columns if c in OBJECT_COLUMNS or str(c).startswith("_")])
