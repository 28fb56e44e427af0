"""``dot-table``: result records -> comparison tables (Markdown + CSV + LaTeX) under ``results/``.

Records that differ only in ``seed`` are pooled: a row's mean and std run over every trial of
every such record. The newest record wins where the same config and seed were run twice.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dotcli import DotcliError, __version__
from dotcli.records import FAILURE_NAME, config_hash, load_records
from dotcli.reference import published_for

# metric key -> (column title, higher is better)
METRICS = {"hq": ("HQ", True), "modes": ("modes", True), "emd": ("EMD", False),
           "is_mean": ("IS", True), "fid": ("FID", False), "kid_mean": ("KID", False)}
COST = {"g_evals_per_sample": "G evals/sample", "d_evals_per_sample": "D evals/sample",
        "acceptance_rate": "DRS accept", "wall_s": "wall s"}
METHOD_ORDER = ["none", "naive", "drs", "dot"]


def variant_key(record: dict[str, Any]) -> str:
    """Hash of the record's config without the seed: records with equal keys are pooled."""
    cfg = {k: v for k, v in record.get("config", {}).items() if k != "seed"}
    return config_hash(cfg)


def _params_label(rec: dict[str, Any]) -> str:
    p = rec.get("params", {})
    parts = [f"{k}={p[k]}" for k in ("space", "eps", "steps", "optimizer", "gamma_percentile") if k in p]
    return ", ".join(parts)


def _k_eff(rec: dict[str, Any]) -> float | None:
    ks = [s.get("k_eff") for s in rec.get("params", {}).get("setup", []) if isinstance(s.get("k_eff"), float | int)]
    return float(np.mean(ks)) if ks else None


def build_rows(records: list[dict[str, Any]], failures: list[dict[str, Any]] = ()) -> pd.DataFrame:
    """One row per (dataset, model, method, variant), trials pooled across seeds.

    ``failures`` (``failed.json`` notes) become rows whose ``note`` says why the cell is empty.
    """
    newest: dict[tuple[str, Any], dict[str, Any]] = {}
    for rec in records:
        key = (variant_key(rec), rec.get("seed"))
        if key not in newest or rec.get("created", "") > newest[key].get("created", ""):
            newest[key] = rec
    groups: dict[str, list[dict[str, Any]]] = {}
    for (vkey, _), rec in newest.items():
        groups.setdefault(vkey, []).append(rec)
    rows = []
    for vkey, recs in groups.items():
        first = recs[0]
        row: dict[str, Any] = {"dataset": first["dataset"], "model": first["model"], "method": first["method"],
                               "params": _params_label(first), "variant": vkey,
                               "seeds": ",".join(str(r.get("seed")) for r in recs),
                               "trials": sum(r.get("trials", 1) for r in recs),
                               "n_samples": first.get("n_samples"), "device": first.get("device_name", ""),
                               "dotcli": first.get("versions", {}).get("dotcli", "")}
        for m in METRICS:
            vals = [v for r in recs for v in r["metrics"].get(f"{m}_trials", [])]
            if vals:
                row[m] = float(np.mean(vals))
                row[f"{m}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        for c in COST:
            vals = [r["cost"][c] for r in recs if c in r.get("cost", {})]
            if vals:
                row[c] = float(np.mean(vals))
        ks = [k for k in map(_k_eff, recs) if k is not None]
        row["k_eff"] = float(np.mean(ks)) if ks else None
        for m, pub in published_for(row["dataset"], row["model"], row["method"]).items():
            row[f"paper_{m}"] = pub.value
            row[f"paper_{m}_source"] = pub.source
        rows.append(row)
    for fail in failures:
        rows.append({"dataset": fail["dataset"], "model": fail["model"], "method": fail["method"],
                     "params": _params_label({"params": fail.get("config", {}).get("method", {})}),
                     "variant": variant_key(fail), "note": f"not run: {fail['error']}"})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["_order"] = df["method"].map(lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99)
    return df.sort_values(["dataset", "model", "_order", "params"]).drop(columns="_order").reset_index(drop=True)


def _fmt(mean: float, std: float | None, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return ""
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None and not np.isnan(std) else f"{mean:.{digits}f}"


def to_markdown(df: pd.DataFrame, title: str) -> str:
    """A Markdown table: metrics as mean ± std, best value per (dataset, model) in bold."""
    metrics = [m for m in METRICS if m in df]
    costs = [c for c in COST if c in df]
    head = ["dataset", "model", "method", "params", *[METRICS[m][0] for m in metrics], "k_eff",
            *[COST[c] for c in costs], "paper", "note"]
    lines = [f"# {title}", "", protocol_line(df), "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        block = df[(df.dataset == r.dataset) & (df.model == r.model)]
        cells = [r.dataset, r.model, r.method, r.params]
        for m in metrics:
            text = _fmt(r.get(m), r.get(f"{m}_std"))
            col = block[m].dropna()
            best = col.max() if METRICS[m][1] else col.min()
            if text and len(col) > 1 and r.get(m) == best:
                text = f"**{text}**"
            cells.append(text)
        cells.append(_fmt(r.get("k_eff"), None))
        cells += [_fmt(r.get(c), None, 3 if c == "acceptance_rate" else 1) for c in costs]
        paper = [f"{METRICS[m][0]} {r[f'paper_{m}']} [{i + 1}]" for i, m in enumerate(metrics)
                 if f"paper_{m}" in r and pd.notna(r.get(f"paper_{m}"))]
        cells.append("; ".join(paper))
        cells.append(r.get("note") if isinstance(r.get("note"), str) else "")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    sources = {r[c] for _, r in df.iterrows() for c in df.columns if c.endswith("_source") and pd.notna(r[c])}
    if sources:
        lines += ["", "Sources: " + " ".join(f"[{i + 1}] {s}." for i, s in enumerate(sorted(sources)))]
    lines += ["", "Mean ± std over all trials of all seeds; best value per dataset and model in bold. "
              "Evaluations per sample count sampling only (k_eff, calibration and burn-in are in the records)."]
    return "\n".join(lines) + "\n"


def protocol_line(df: pd.DataFrame) -> str:
    col = lambda c: df[c].dropna() if c in df else []  # noqa: E731
    n = sorted({int(x) for x in col("n_samples")})
    trials = sorted({int(x) for x in col("trials")})
    devices = sorted({str(x) for x in col("device")})
    return (f"Protocol: {', '.join(map(str, n))} samples per trial; trials per row {', '.join(map(str, trials))}; "
            f"device {'; '.join(devices)}; dotcli {__version__}.")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_tables(records: list[dict[str, Any]], out: Path, failures: list[dict[str, Any]] = ()) -> list[Path]:
    """Write one table per family: ``toy`` (all 2-D datasets) and one per image dataset."""
    out.mkdir(parents=True, exist_ok=True)
    families: dict[str, tuple[list, list]] = {}
    for i, rec in enumerate([*records, *failures]):
        kind = rec.get("config", {}).get("dataset", {}).get("kind", "toy")
        family = families.setdefault("toy" if kind == "toy" else rec["dataset"], ([], []))
        family[0 if i < len(records) else 1].append(rec)
    written = []
    for family, (recs, fails) in sorted(families.items()):
        df = build_rows(recs, fails)
        title = "2-D toy experiments" if family == "toy" else f"{family}"
        md, csv = out / f"{family}.md", out / f"{family}.csv"
        _write_atomic(md, to_markdown(df, title))
        _write_atomic(csv, df.to_csv(index=False))
        written += [md, csv]
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="dot-table", description="Result records -> comparison tables.")
    ap.add_argument("paths", nargs="*", default=["runs"],
                    help="run directories, sweep directories or result.json files")
    ap.add_argument("--out", type=Path, default=Path("results"), help="output directory (default: results)")
    args = ap.parse_args(argv)
    records = load_records(args.paths)
    failures = load_records(args.paths, FAILURE_NAME)
    if not records and not failures:
        raise DotcliError(f"no result.json found under {', '.join(args.paths)}")
    for path in write_tables(records, args.out, failures):
        print(path)


if __name__ == "__main__":
    main()
