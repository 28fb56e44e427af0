"""A family's figures from what the records hold (never a rerun): metrics against the update step
(``metrics_by_step``), against eps or steps for a one-parameter sweep, every cell's samples, and the two-metric
planes the metrics declare (:func:`dotcli.metrics.info.metric_planes`: precision against recall, density against
coverage): per model, one point per method, an arrow from the model's baseline (its first method: the bare
generator) to each, and the truncation sweep (``model.truncation``) as a line through the baseline."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dotcli.metrics.info import metric_infos, metric_planes
from dotcli.paper.tables import title
from dotcli.records import config_hash
from dotcli.tables.layout import add_labels, arrow_title, column_order, panels, present
from dotcli.tables.rows import params_label

SWEPT = ("eps", "eta", "steps")  # method parameters a sweep figure is drawn against (when a method declares them)


def _label(r: pd.Series, family: str, skip: tuple[str, ...] = ()) -> str:
    params = {k: r[k] for k in r["_params"] if k in r and k not in skip and present(r[k])}
    name = " / ".join([*([r.dataset] if family == "toy" else []), r.model, r["_label"]])
    return name + (f" ({params_label(params)})" if params else "")


_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)")


def natural_key(label: str) -> tuple[tuple[int, Any], ...]:
    """Sort key reading the numbers inside a label as numbers: ``steps=10`` < ``steps=30`` < ``steps=100``."""
    return tuple((0, float(part)) if i % 2 else (1, part) for i, part in enumerate(_NUMBER.split(label)))


def sweep_lines(ok: pd.DataFrame, param: str, metrics: list[str], label: Callable[[pd.Series], str]) -> list[Any]:
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
    return sorted(lines, key=lambda c: natural_key(c.label))  # legends in numeric order


def planes(df: pd.DataFrame, x: str, y: str) -> list[Any]:
    """The :class:`dotcli.plots.Plane` of every row (model) of the labelled ``df`` whose cells have ``x`` and ``y``."""
    from dotcli.plots import Plane

    ok = df[(df.status == "ok")]
    if x not in ok or y not in ok:
        return []
    ok = ok[ok[x].notna() & ok[y].notna()]
    out = []
    for row in ok["row"].unique():
        cells = ok[ok.row == row]
        truncated = cells["truncation"].notna() if "truncation" in cells else pd.Series(False, index=cells.index)
        plain = cells[~truncated]
        base = plain.sort_values("_order", kind="stable").iloc[0] if len(plain) else None
        line = [(float(r.truncation), float(r[x]), float(r[y])) for _, r in cells[truncated].iterrows()]
        if line and base is not None:
            line.append((math.inf, float(base[x]), float(base[y])))  # untruncated: psi = 1 / no threshold
        out.append(Plane(row, [(r.col, float(r[x]), float(r[y])) for _, r in plain.iterrows()],
                         None if base is None else (float(base[x]), float(base[y])), line,
                         "truncation sweep (model.truncation or truncation_psi)" if line else ""))
    return out


def write_figures(df: pd.DataFrame, family: str, out: Path) -> list[Path]:
    """Write the family's figures into ``out``; return their paths."""
    from dotcli import plots

    ok = df[df.status == "ok"]
    metrics = [m for p in panels("toy" if family == "toy" else "image") for m in p if m in ok and ok[m].notna().any()]
    titles = {m: arrow_title(metric_infos()[m]) for m in metrics}
    name = title(family)
    written = []
    curves = sorted([plots.Curve(_label(r, family), sorted(r.by_step),
                                 {m: [r.by_step[s].get(m) for s in sorted(r.by_step)] for m in metrics})
                     for _, r in ok.iterrows() if isinstance(r.get("by_step"), dict) and r.by_step],
                    key=lambda c: natural_key(c.label))
    if curves:
        path = out / f"{family}_by_step.png"
        plots.curves_figure(curves, titles, "step", f"{name}: metrics along the updates", path)
        written.append(path)
    for param in SWEPT:
        lines = sweep_lines(ok, param, metrics, lambda r, p=param: _label(r, family, (p,)))
        if lines:
            path = out / f"{family}_sweep_{param}.png"
            plots.curves_figure(lines, titles, param, f"{name}: metrics against {param}", path,
                                log_x=param in ("eps", "eta"))
            written.append(path)
    labelled = add_labels(df)
    infos = metric_infos()
    for x, y, fig_name in metric_planes():
        drawn = planes(labelled, x, y)
        if drawn:
            path = out / f"{family}_{fig_name}.png"
            plots.plane_figure(drawn, arrow_title(infos[x]), arrow_title(infos[y]),
                               f"{name}: {infos[x].title} against {infos[y].title}", path)
            written.append(path)
    figs = {(r.row, r.col): Path(r.figure) for _, r in labelled.iterrows()
            if r.status == "ok" and isinstance(r.get("figure"), str) and Path(r.figure).is_file()}
    if figs:
        path = out / f"{family}_samples.png"
        cols = [c for c in column_order(labelled) if any(k[1] == c for k in figs)]
        plots.figure_grid(figs, list(dict.fromkeys(k[0] for k in figs)), cols,
                          f"{name}: samples of each cell (first trial)", path, crop_last_panel=family == "toy")
        written.append(path)
    return written
