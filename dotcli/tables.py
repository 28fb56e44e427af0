"""``dot-table``: result records -> comparison tables and figures under ``results/``.

Per table family (``toy`` for the 2-D datasets, else one per image dataset):

* ``<family>.md``: the protocol line, the wide table(s) (rows = model, columns = method, best cell
  per row in bold, the published number beside it with its source), then every cell's numbers and
  costs (wall time, G and D evaluations per output sample, DRS acceptance rate) and the notes on
  skipped and failed cells;
* ``<family>.tex``: the wide table(s) as LaTeX (booktabs); ``<family>_wide.csv``: the same cells;
* ``<family>.csv``: one row per cell with every number (long format, machine-readable);
* figures (``<family>_by_step.png``, ``<family>_sweep_eps.png``, ``<family>_sweep_steps.png``,
  ``<family>_samples.png``) when the records hold what they need (never a rerun);

and ``README.md``, the index of all tables.

Records that differ only in ``seed`` are pooled (same :func:`variant_key`): a cell's mean and std run
over every trial of every such record. The newest record wins where the same config and seed were
run twice. ``failed.json`` and ``skipped.json`` notes of cells without a record become cells that
say why they are empty: a skip (an input this machine lacks) and a failure are written differently.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dotcli import DotcliError, __version__
from dotcli.preflight import SKIP_NAME
from dotcli.records import FAILURE_NAME, config_hash, load_records, write_atomic
from dotcli.reference import NOTES, PaperRow, has_reference, paper_rows, published_for


@dataclass(frozen=True)
class Metric:
    title: str
    higher: bool  # higher is better
    digits: int
    what: str


METRICS = {
    "hq": Metric("HQ", True, 3, "fraction of samples within 4σ of a mode"),
    "modes": Metric("modes", True, 1, "modes with at least one high-quality sample"),
    "emd": Metric("EMD", False, 3, "exact W1 to as many fresh data points"),
    "is_mean": Metric("IS", True, 2, "Inception score"),
    "fid": Metric("FID", False, 2, "Fréchet Inception distance"),
    "kid_mean": Metric("KID", False, 4, "kernel Inception distance"),
}
# a metric whose per-trial value comes with its own spread (IS over 10 splits, KID over subsets)
SPLIT_STD = {"is_mean": "is_std", "kid_mean": "kid_std"}
# the wide tables: each panel is one table, its cells join these metrics with " / "
PANELS = {"toy": [["hq"], ["modes"], ["emd"]], "image": [["is_mean", "fid"], ["kid_mean"]]}
COST = {"wall_s": ("wall s", 1), "g_evals_per_sample": ("G evals/sample", 1),
        "d_evals_per_sample": ("D evals/sample", 1), "acceptance_rate": ("DRS accept", 3),
        "proposals_per_sample": ("proposals/sample", 2)}
PARAM_KEYS = ("space", "eps", "steps", "optimizer", "gamma_percentile")
METHOD_ORDER = ["none", "naive", "drs", "dot"]
MODEL_ORDER = ["tanaka_wgangp", "tanaka_sngan_ns", "tanaka_sngan_hinge", "tanaka_sagan_ns", "dotcli_wgangp",
               "pfn_sngan_projection"]
TITLES = {"toy": "2-D toy experiments", "cifar10": "CIFAR-10 (32px)", "stl10": "STL-10 (48px)",
          "imagenet": "ImageNet (128px, conditional)", "fashion_mnist": "Fashion-MNIST"}
OBJECT_COLUMNS = ("by_step", "config", "figure")  # kept for figures, left out of the CSV
INDEX_JSON = "index.json"


# ---------------------------------------------------------------- rows


def variant_key(record: dict[str, Any]) -> str:
    """Hash of the record's config without the seed: records with equal keys are pooled."""
    cfg = {k: v for k, v in record.get("config", {}).items() if k != "seed"}
    return config_hash(cfg)


def family_of(record: dict[str, Any]) -> str:
    """``toy`` for every 2-D dataset, else the dataset's name: one table per family."""
    kind = record.get("config", {}).get("dataset", {}).get("kind", "toy")
    return "toy" if kind == "toy" else str(record["dataset"])


def _params(method_cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: method_cfg[k] for k in PARAM_KEYS if k in method_cfg}


def _value(v: Any) -> str:
    """A parameter value as the user typed it (pandas turns integer columns with gaps into floats)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _params_label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in params.items())


def _k_eff(rec: dict[str, Any]) -> float | None:
    ks = [s.get("k_eff") for s in rec.get("params", {}).get("setup", []) if isinstance(s.get("k_eff"), float | int)]
    return float(np.mean(ks)) if ks else None


def _std(vals: Sequence[float]) -> float:
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _protocol_facts(rec: dict[str, Any]) -> dict[str, str]:
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
        if ev.get("quantisation"):
            out["quantisation"] = str(ev["quantisation"])
        if ev.get("note"):
            out["warning"] = str(ev["note"])
    elif ev:
        extra = ", n/25 points per mode" if ev.get("balanced_modes") else ""
        out["reference"] = f"{ev.get('name', rec['dataset'])}: {ev.get('reference', '')}{extra}"
    return out


def _pool_metrics(recs: list[dict[str, Any]], source: str = "metrics") -> dict[str, float]:
    out: dict[str, float] = {}
    for m in METRICS:
        vals = [v for r in recs for v in r.get(source, {}).get(f"{m}_trials", [])]
        if vals:
            out[m], out[f"{m}_std"] = float(np.mean(vals)), _std(vals)
        split = SPLIT_STD.get(m)
        svals = [v for r in recs for v in r.get(source, {}).get(f"{split}_trials", [])] if split else []
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


def _record_row(recs: list[dict[str, Any]], vkey: str) -> dict[str, Any]:
    first = recs[0]
    params = {k: v for k, v in first.get("params", {}).items() if k != "setup"}
    row: dict[str, Any] = {
        "family": family_of(first), "dataset": first["dataset"], "model": first["model"], "method": first["method"],
        "params": _params_label(_params(params)), **_params(params), "variant": vkey, "status": "ok",
        "seeds": ",".join(str(s) for s in sorted({r.get("seed") for r in recs}, key=str)),
        "trials": sum(r.get("trials", 1) for r in recs), "n_samples": first.get("n_samples"),
        "device": first.get("device_name", ""),
        "dotcli": ",".join(sorted({r.get("versions", {}).get("dotcli", "") for r in recs})),
    }
    row.update(_pool_metrics(recs))
    for c in COST:
        vals = [r["cost"][c] for r in recs if isinstance(r.get("cost", {}).get(c), float | int)]
        if vals:
            row[c] = float(np.mean(vals))
    ks = [k for k in map(_k_eff, recs) if k is not None]
    row["k_eff"] = float(np.mean(ks)) if ks else None
    for m, pub in published_for(row["dataset"], row["model"], row["method"]).items():
        row[f"paper_{m}"] = pub.value
        row[f"paper_{m}_source"] = pub.source
    for k, v in _protocol_facts(first).items():
        row[f"protocol: {k}"] = v
    row["by_step"] = _by_step(recs)
    row["config"] = first.get("config", {})
    figures = first.get("figures") or []
    row["figure"] = str(Path(first["_path"]).parent / figures[0]) if figures and "_path" in first else None
    return row


def _note_row(note: dict[str, Any], status: str) -> dict[str, Any]:
    cfg = note.get("config", {})
    params = _params(cfg.get("method", {}))
    if status == "skipped":
        what = ", ".join(note.get("skipped") or ["input missing"])
        text, short = note.get("reason", ""), f"skipped: {what}"
    else:
        text, short = note.get("error", ""), "failed"
    return {"family": family_of(note), "dataset": note["dataset"], "model": note["model"], "method": note["method"],
            "params": _params_label(params), **params, "variant": variant_key(note), "status": status,
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
    order = lambda names, s: s.map(lambda x: names.index(x) if x in names else len(names))  # noqa: E731
    df = df.assign(_m=order(METHOD_ORDER, df["method"]), _g=order(MODEL_ORDER, df["model"]))
    return df.sort_values(["dataset", "_g", "model", "_m", "params"], kind="stable").drop(columns=["_m", "_g"])


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
    df = pd.DataFrame(rows)
    return _sort(df).reset_index(drop=True)


# ---------------------------------------------------------------- the wide layout


def _fmt(mean: Any, std: Any = None, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def add_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Row and column labels of the wide layout.

    Column = method, plus the method parameters that differ between its cells in this table (an eps
    sweep gives one column per eps). Row = model (``dataset / model`` in the toy family), plus the
    sample count where rows differ in it. Cells that still collide get the variant hash.
    """
    df = df.copy()
    cols = []
    for _, r in df.iterrows():
        block = df[df.method == r.method]
        keys = [k for k in PARAM_KEYS if k in block and block[k].astype(str).nunique() > 1]
        cols.append(r.method + (f" ({_params_label({k: r[k] for k in keys})})" if keys else ""))
    df["col"] = cols
    base = [f"{r.dataset} / {r.model}" if r.family == "toy" else r.model for _, r in df.iterrows()]
    df["row"] = base
    if "n_samples" in df:
        multi = df.groupby("row")["n_samples"].transform(lambda s: s.astype(str).nunique() > 1)
        df.loc[multi, "row"] = df.loc[multi].apply(lambda r: f"{r.row} (n={_value(r.n_samples)})", axis=1)
    dup = df.duplicated(["row", "col"], keep=False)
    df.loc[dup, "col"] = df.loc[dup].apply(lambda r: f"{r.col} [{r.variant[:6]}]", axis=1)
    return df


@dataclass
class Wide:
    """One wide table: ``cells[row][col]`` is the cell text (in a format-neutral markup)."""

    metrics: list[str]
    columns: list[str]
    rows: list[str]
    cells: dict[str, dict[str, list[tuple[str, str]]]]  # row -> col -> [(kind, text)]


def _column_order(df: pd.DataFrame) -> list[str]:
    seen = df.drop_duplicates("col")
    key = seen["method"].map(lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER))
    return list(seen.assign(_k=key).sort_values(["_k", "col"], kind="stable")["col"])


def wide_table(df: pd.DataFrame, metrics: list[str], refs: dict[str, int], always: bool = False) -> Wide | None:
    """The ``metrics`` panel of a family's rows (labelled by :func:`add_labels`); ``refs`` numbers sources.

    A cell is a list of fragments ``(kind, text)``: kind ``best`` (bold), ``value``, ``paper``, ``skip``,
    ``fail``. Returns ``None`` when no finished row has these metrics, unless ``always`` (then the
    panel shows the skipped / failed cells and the published rows).
    """
    ok = df[df.status == "ok"]
    have = [m for m in metrics if m in ok and ok[m].notna().any()]
    if not have and not always:
        return None
    have = have or list(metrics)
    cols = [m for m in have if m in ok]
    datasets = [d for d in df.dataset.unique()
                if ok[ok.dataset == d].empty or ok[ok.dataset == d][cols].notna().any().any()]
    sub = df[df.dataset.isin(datasets)]
    columns = _column_order(df)
    rows: list[str] = []
    cells: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for dataset in datasets:
        block = sub[sub.dataset == dataset]
        for row_label in block["row"].unique():
            line = block[block.row == row_label]
            rows.append(row_label)
            cells[row_label] = {}
            good = line[line.status == "ok"]
            for _, r in line.iterrows():
                frags: list[tuple[str, str]] = []
                if r.status != "ok":
                    frags.append(("skip" if r.status == "skipped" else "fail", r.get("short") or r.status))
                else:
                    for i, m in enumerate(have):
                        std = r.get(f"{m}_split_std") if _present(r.get(f"{m}_split_std")) else (
                            r.get(f"{m}_std") if r.get("trials", 1) > 1 else None)
                        text = _fmt(r.get(m), std, METRICS[m].digits) or "–"
                        col = good[m].dropna() if m in good else pd.Series(dtype=float)
                        best = (col.max() if METRICS[m].higher else col.min()) if len(col) else None
                        kind = "best" if len(col) > 1 and _present(r.get(m)) and r.get(m) == best else "value"
                        frags.append(("sep", " / ") if i else ("sep", ""))
                        frags.append((kind, text))
                    paper = [(m, r.get(f"paper_{m}"), r.get(f"paper_{m}_source")) for m in have
                             if _present(r.get(f"paper_{m}"))]
                    if paper:
                        named = len(paper) < len(have)  # say which metric when the source gives only some
                        nums = " / ".join((f"{METRICS[m].title} " if named else "") + _fmt(v, None, METRICS[m].digits)
                                          for m, v, _ in paper)
                        srcs = ",".join(str(refs.setdefault(s, len(refs) + 1)) for s in dict.fromkeys(
                            s for _, _, s in paper))
                        frags.append(("paper", f"paper {nums} [{srcs}]"))
                cells[row_label][r.col] = frags
        for prow in paper_rows(dataset):
            _add_paper_row(prow, have, columns, rows, cells, refs, df.family.iloc[0])
    rank = lambda c: next((i for i, m in enumerate(METHOD_ORDER) if c == m or c.startswith(m + " ")),  # noqa: E731
                          len(METHOD_ORDER))
    return Wide(have, sorted(columns, key=rank), rows, cells)


def _add_paper_row(prow: PaperRow, metrics: list[str], columns: list[str], rows: list[str],
                   cells: dict[str, dict[str, list[tuple[str, str]]]], refs: dict[str, int], family: str) -> None:
    if not any(m in vals for vals in prow.cells.values() for m in metrics):
        return
    n = refs.setdefault(prow.source, len(refs) + 1)
    label = f"{prow.dataset} / {prow.label} [{n}]" if family == "toy" else f"{prow.label} [{n}]"
    rows.append(label)
    cells[label] = {}
    for method, vals in prow.cells.items():
        col = next((c for c in columns if c == method or c.startswith(method + " ")), None)
        if col is None:  # the method is not in our table: give it its own column
            col = method
            columns.append(col)
        texts = [_fmt(vals[m], None, METRICS[m].digits) if m in vals else "–" for m in metrics]
        cells[label][col] = [("paper", " / ".join(texts))]


# ---------------------------------------------------------------- Markdown and LaTeX


def _render(frags: list[tuple[str, str]], style: str) -> str:
    out = []
    for kind, text in frags:
        if style == "md":
            out.append({"best": f"**{text}**", "skip": f"*{text}*", "fail": f"*{text}*",
                        "paper": f" ({text})" if len(frags) > 1 else text}.get(kind, text))
        else:
            t = _tex(text)
            out.append({"best": rf"\textbf{{{t}}}", "skip": rf"\textit{{{t}}}", "fail": rf"\textit{{{t}}}",
                        "paper": rf" {{\footnotesize ({t})}}" if len(frags) > 1 else t}.get(kind, t))
    return "".join(out)


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("σ", r"$\sigma$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"),
                 ("–", "--")):
        text = text.replace(a, b)
    return text


def _panel_title(metrics: list[str]) -> str:
    return " / ".join(f"{METRICS[m].title} {'↑' if METRICS[m].higher else '↓'}" for m in metrics)


def wide_markdown(w: Wide) -> list[str]:
    head = ["model", *w.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in w.rows:
        lines.append("| " + " | ".join([row, *(_render(w.cells[row].get(c, []), "md") or "–" for c in w.columns)])
                     + " |")
    return lines


def wide_latex(w: Wide, caption: str) -> str:
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex(caption)}}}",
             r"\begin{tabular}{l" + "c" * len(w.columns) + "}", r"\toprule",
             " & ".join(["Model", *(_tex(c) for c in w.columns)]) + r" \\", r"\midrule"]
    for row in w.rows:
        lines.append(" & ".join([_tex(row), *(_render(w.cells[row].get(c, []), "tex") or "--" for c in w.columns)])
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def wide_csv(w: Wide) -> pd.DataFrame:
    plain = lambda frags: "".join(f" ({t})" if k == "paper" and len(frags) > 1 else t for k, t in frags)  # noqa: E731
    return pd.DataFrame([{"table": _panel_title(w.metrics), "model": r, **{c: plain(w.cells[r].get(c, []))
                                                                             for c in w.columns}} for r in w.rows])


def protocol_line(df: pd.DataFrame) -> str:
    """One line: samples, trials, seeds, reference set, feature extractor and weights, quantisation, device,
    dotcli version: every distinct value among the finished cells."""
    ok = df[df.status == "ok"] if "status" in df else df
    if ok.empty:
        return f"Protocol: no finished cell yet; tables by dotcli {__version__}."

    def values(col: str) -> str:
        vals = list(dict.fromkeys(_value(v) for v in ok[col].dropna())) if col in ok else []
        return "; ".join(vals) if len(vals) < 2 else "mixed: " + "; ".join(vals)

    parts = [f"{values('protocol: samples per trial')} samples per trial",
             f"trials per cell {values('trials')} (seeds {values('seeds')})"]
    for key in ("reference", "features", "quantisation", "device"):
        if f"protocol: {key}" in ok and ok[f"protocol: {key}"].notna().any():
            parts.append(f"{key}: {values(f'protocol: {key}')}")
    parts.append(f"dotcli {values('dotcli')} (tables by {__version__})")
    line = "Protocol: " + "; ".join(parts) + "."
    if "protocol: warning" in ok and ok["protocol: warning"].notna().any():
        line += f" **Warning**: {values('protocol: warning')}."
    return line


def details_markdown(df: pd.DataFrame) -> list[str]:
    """Every cell in long format: metrics as mean ± std over trials, k_eff and the cost columns."""
    metrics = [m for m in METRICS if m in df and df[m].notna().any()]
    costs = [c for c in COST if c in df and df[c].notna().any()]
    head = ["dataset", "model", "method", "params", "seeds", "trials", *[METRICS[m].title for m in metrics],
            "k_eff", *[COST[c][0] for c in costs], "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [r.dataset, r.model, r.method, r.params, r.get("seeds", ""),
                 _fmt(r.get("trials"), None, 0) if _present(r.get("trials")) else ""]
        cells += [_fmt(r.get(m), r.get(f"{m}_std"), METRICS[m].digits) for m in metrics]
        cells.append(_fmt(r.get("k_eff"), None, 3))
        cells += [_fmt(r.get(c), None, COST[c][1]) for c in costs]
        cells.append(r.status if r.status == "ok" else r.get("short", r.status))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def notes_markdown(df: pd.DataFrame) -> list[str]:
    """Why cells are empty, grouped by reason (one line per reason, naming its cells)."""
    bad = df[df.status != "ok"]
    if bad.empty:
        return []
    lines = ["## Skipped and failed cells", ""]
    for (status, note), block in bad.groupby(["status", "note"], sort=False):
        where = "; ".join(f"{d} / {m}: {', '.join(g['method'])}"
                          for (d, m), g in block.groupby(["dataset", "model"], sort=False))
        lines.append(f"- **{status}** ({where}): {note.split(': ', 1)[1] if ': ' in note else note}")
    return lines + [""]


def family_markdown(df: pd.DataFrame, family: str) -> tuple[str, str, list[Wide]]:
    """The Markdown and LaTeX text of one family and its wide tables."""
    df = add_labels(df)
    refs: dict[str, int] = {}
    title = TITLES.get(family, family)
    layout = PANELS["toy" if family == "toy" else "image"]
    panels = [w for p in layout if (w := wide_table(df, p, refs))]
    if not panels:  # nothing finished yet: still the main table, so that skips, failures and the paper show
        panels = [wide_table(df, layout[0], refs, always=True)]
    md = [f"# {title}", "", protocol_line(df), ""]
    tex = [f"% {title}: written by dot-table (dotcli {__version__})", f"% {protocol_line(df)}"]
    for w in panels:
        what = "; ".join(f"{METRICS[m].title}: {METRICS[m].what}" for m in w.metrics)
        md += [f"## {_panel_title(w.metrics)}", "", f"{what}.", "", *wide_markdown(w), ""]
        tex.append(wide_latex(w, f"{title}: {_panel_title(w.metrics)}"))
    md.append(_legend(family, panels))
    datasets = list(dict.fromkeys(df.dataset))
    unknown = [d for d in datasets if not has_reference(d)]
    if unknown:
        md.append(f"No published number is known here for {', '.join(unknown)} (PROTOCOL.md section 5).")
    sources = sorted(refs.items(), key=lambda kv: kv[1])
    facts = [f"{text} ({src})" for d in datasets for text, src in NOTES.get(d, [])]
    if sources:
        md += ["", "Sources: " + " ".join(f"[{n}] {s}." for s, n in sources)]
    if facts:
        md += ["", "Sanity values for the metric pipeline: " + "; ".join(facts) + "."]
    md += ["", *notes_markdown(df), "## All cells: numbers and cost", "", *details_markdown(df), "",
           "Mean ± std over all trials of all seeds. Evaluations per output sample count sampling only "
           "(k_eff, calibration and burn-in are in the records); DRS accept = accepted / proposed."]
    return "\n".join(md) + "\n", "\n\n".join(tex) + "\n", panels


def _legend(family: str, panels: list[Wide]) -> str:
    text = "Bold: the best cell of its row. (paper X [n]): the published number for this cell, source [n]. "
    if family != "toy":
        text += ("IS is mean ± std over the splits (the papers' convention), FID the mean over trials (± std over "
                 "trials when there are several). ")
    else:
        text += "Mean ± std over all trials of all seeds. "
    return text + "Rows named *paper, ...*: published numbers whose model the source does not name."


# ---------------------------------------------------------------- files


def _write_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def write_figures(df: pd.DataFrame, family: str, out: Path) -> list[Path]:
    """The family's figures from what the records hold (metrics_by_step, sweeps, run figures)."""
    from dotcli import plots

    ok = df[df.status == "ok"]
    metrics = [m for p in PANELS["toy" if family == "toy" else "image"] for m in p if m in ok and ok[m].notna().any()]
    titles = {m: f"{METRICS[m].title} {'↑' if METRICS[m].higher else '↓'}" for m in metrics}
    written = []

    def label(r: pd.Series, skip: tuple[str, ...] = ()) -> str:
        params = {k: r[k] for k in PARAM_KEYS if k in r and k not in skip and _present(r[k])}
        name = " / ".join([*([r.dataset] if family == "toy" else []), r.model, r.method])
        return name + (f" ({_params_label(params)})" if params else "")

    curves = [plots.Curve(label(r), sorted(r.by_step), {m: [r.by_step[s].get(m) for s in sorted(r.by_step)]
                                                         for m in metrics})
              for _, r in ok.iterrows() if isinstance(r.get("by_step"), dict) and r.by_step]
    if curves:
        path = out / f"{family}_by_step.png"
        plots.curves_figure(curves, titles, "step", f"{TITLES.get(family, family)}: metrics along the updates", path)
        written.append(path)
    for param in ("eps", "steps"):
        lines = sweep_lines(ok, param, metrics, lambda r, p=param: label(r, (p,)))
        if lines:
            path = out / f"{family}_sweep_{param}.png"
            plots.curves_figure(lines, titles, param, f"{TITLES.get(family, family)}: metrics against {param}",
                                path, log_x=param == "eps")
            written.append(path)
    labelled = add_labels(df)
    figs = {(r.row, r.col): Path(r.figure) for _, r in labelled.iterrows()
            if r.status == "ok" and isinstance(r.get("figure"), str) and Path(r.figure).is_file()}
    if figs:
        path = out / f"{family}_samples.png"
        plots.figure_grid(figs, list(dict.fromkeys(k[0] for k in figs)), [c for c in _column_order(labelled)
                                                                          if any(k[1] == c for k in figs)],
                          f"{TITLES.get(family, family)}: samples of each cell (first trial)", path,
                          crop_last_panel=family == "toy")
        written.append(path)
    return written


def sweep_lines(ok: pd.DataFrame, param: str, metrics: list[str], label) -> list[Any]:
    """Lines of a one-parameter sweep: cells that differ only in ``method.<param>`` (and the seed)."""
    from dotcli.plots import Curve

    if param not in ok:
        return []
    groups: dict[str, list[Any]] = {}
    for _, r in ok[ok[param].notna()].iterrows():
        cfg = {k: v for k, v in r.config.items() if k != "seed"}
        cfg["method"] = {k: v for k, v in cfg.get("method", {}).items() if k != param}
        groups.setdefault(config_hash(cfg), []).append(r)
    lines = []
    for rows in groups.values():
        if len({float(r[param]) for r in rows}) < 2:
            continue
        rows = sorted(rows, key=lambda r: float(r[param]))
        lines.append(Curve(label(rows[0]), [float(r[param]) for r in rows],
                           {m: [r.get(m) for r in rows] for m in metrics},
                           {m: [r.get(f"{m}_std") for r in rows] for m in metrics}))
    return lines


def write_tables(records: list[dict[str, Any]], out: Path, failures: Sequence[dict[str, Any]] = (),
                 skips: Sequence[dict[str, Any]] = ()) -> list[Path]:
    """Write every family's tables and figures, and the index (``README.md``, ``index.json``); return the paths.

    The index keeps the entries of tables written earlier into ``out`` (from other records) whose files
    are still there, so tables built one family at a time still share one index.
    """
    out.mkdir(parents=True, exist_ok=True)
    df = build_rows(records, failures, skips)
    if df.empty:
        raise DotcliError("no result.json, failed.json or skipped.json to tabulate")
    written, entries = [], []
    for family in sorted(df.family.unique(), key=lambda f: (f != "toy", f)):
        fam = df[df.family == family].reset_index(drop=True)
        md, tex, panels = family_markdown(fam, family)
        files = {"md": out / f"{family}.md", "csv": out / f"{family}.csv", "tex": out / f"{family}.tex",
                 "wide csv": out / f"{family}_wide.csv"}
        _write_atomic(files["md"], md)
        _write_atomic(files["tex"], tex)
        _write_atomic(files["csv"], fam.drop(columns=[c for c in OBJECT_COLUMNS if c in fam]).to_csv(index=False))
        _write_atomic(files["wide csv"], pd.concat([wide_csv(w) for w in panels]).to_csv(index=False))
        figures = write_figures(fam, family, out)
        written += [*files.values(), *figures]
        counts = fam.status.value_counts()
        entries.append({"family": family, "title": TITLES.get(family, family),
                        "cells": {k: int(counts.get(k, 0)) for k in ("ok", "skipped", "failed")},
                        "files": {k: p.name for k, p in files.items()}, "figures": [p.name for p in figures],
                        "protocol": protocol_line(fam)})
    index = _merge_index(out, entries)
    _write_atomic(out / INDEX_JSON, json.dumps({"dotcli": __version__, "tables": index}, indent=2) + "\n")
    readme = out / "README.md"
    _write_atomic(readme, index_markdown(index))
    return [*written, out / INDEX_JSON, readme]


def _merge_index(out: Path, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        old = json.loads((out / INDEX_JSON).read_text()).get("tables", [])
    except (OSError, ValueError):
        old = []
    merged = {e["family"]: e for e in old if isinstance(e, dict) and (out / e.get("files", {}).get("md", "")).is_file()}
    merged.update({e["family"]: e for e in entries})
    return sorted(merged.values(), key=lambda e: (e["family"] != "toy", e["family"]))


def index_markdown(index: list[dict[str, Any]]) -> str:
    """``results/README.md``: one line per table with its cell counts and files, then each table's protocol."""
    lines = ["# Results", "",
             f"Written by `dot-table` (dotcli {__version__}). `make reproduce` runs the paper's grid (only the cells "
             "not finished yet) and rewrites these files; `make table` only rewrites them. A skipped cell lacks an "
             "input on the machine that ran the grid (the table says which); a failed cell raised an error.", "",
             "| table | finished | skipped | failed | files | figures |", "|---|---|---|---|---|---|"]
    for e in index:
        family, n = e["family"], e["cells"]
        links = " · ".join(f"[{k}]({name})" for k, name in e["files"].items())
        figs = " · ".join(f"[{Path(f).stem.removeprefix(family + '_')}]({f})" for f in e["figures"]) or "–"
        lines.append(f"| [{e['title']}]({e['files']['md']}) | {n['ok']} | {n['skipped']} | {n['failed']} | "
                     f"{links} | {figs} |")
    lines.append("")
    lines += [f"- {e['title']}: {e['protocol']}" for e in index]
    return "\n".join(lines) + "\n"


def tabulate(paths: Sequence[str | Path], out: Path) -> list[Path]:
    """Load every record, failure and skip note under ``paths`` and write the tables into ``out``."""
    records = load_records(paths)
    failures = load_records(paths, FAILURE_NAME)
    skips = load_records(paths, SKIP_NAME)
    if not records and not failures and not skips:
        raise DotcliError(f"no result.json (or failed.json / skipped.json) found under {', '.join(map(str, paths))}")
    return write_tables(records, out, failures, skips)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="dot-table", description="Result records -> comparison tables and figures.")
    ap.add_argument("paths", nargs="*", default=["runs"],
                    help="run directories, sweep directories or result.json files (default: runs)")
    ap.add_argument("--out", type=Path, default=Path("results"), help="output directory (default: results)")
    args = ap.parse_args(argv)
    for path in tabulate(args.paths, args.out):
        print(path)


if __name__ == "__main__":
    main()
