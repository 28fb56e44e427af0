"""The wide layout: rows = model, columns = method, one table (panel) per group of metrics.

A cell is a list of fragments ``(kind, text)`` in a format-neutral markup that :mod:`dotcli.tables.render`
turns into Markdown, LaTeX or plain text: kind ``best`` (bold), ``value``, ``sep``, ``paper`` (a published
number), ``skip``, ``fail``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dotcli.metrics.info import MetricInfo, metric_infos
from dotcli.paper.published import PaperRow, paper_rows
from dotcli.tables.methods import column_label, info_for_name
from dotcli.tables.rows import params_label, value_text

Fragments = list[tuple[str, str]]


def fmt(mean: Any, std: Any = None, digits: int = 3) -> str:
    """``mean ± std`` with ``digits`` decimals; empty for a missing mean, no ``±`` for a missing std."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def present(value: Any) -> bool:
    """Whether a cell value exists (not ``None``, not NaN)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def panels(kind: str) -> list[list[str]]:
    """The metric groups of one wide table each, in display order; those of ``kind`` (toy | image) first."""
    groups: dict[str, list[str]] = {}
    infos = sorted(metric_infos().values(), key=lambda i: i.kind != kind)  # stable: declared order within a kind
    for info in infos:
        groups.setdefault(info.panel, []).append(info.key)
    return list(groups.values())


def panel_title(metrics: list[str]) -> str:
    """``HQ ↑``, ``IS ↑ / FID ↓``: the metrics' titles with the better direction."""
    return " / ".join(arrow_title(metric_infos()[m]) for m in metrics)


def arrow_title(info: MetricInfo) -> str:
    """The metric's title with an arrow pointing to better."""
    return f"{info.title} {'↑' if info.higher else '↓'}"


def add_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Row and column labels of the wide layout.

    Column = the method's label (from its MethodInfo), plus the method parameters that differ between its
    cells in this table (an eps sweep gives one column per eps). Row = model (``dataset / model`` in the toy
    family), plus the feature extractor and the sample count where rows differ in them. Finished cells that
    still collide get the variant hash.

    Skipped and failed cells never add a column (``_wide`` False: they are left out of the wide tables, their
    notes say why): they take the column of the finished cells of their method with the same parameters, or,
    when their method has no finished cell in the table, its plain label; one such cell per table position.
    """
    df = df.copy()
    ok_rows = df.status == "ok"
    cols = []
    for _, r in df.iterrows():
        block = df[(df.method == r.method) & ok_rows] if r.status == "ok" else df[df.method == r.method]
        if r.status != "ok" and (block.status == "ok").any():
            block = block[block.status == "ok"]
        elif r.status != "ok":  # no finished cell of this method: one column, its plain label
            block = block.iloc[:0]
        keys = [k for k in r["_params"] if k in block and block[k].astype(str).nunique() > 1]
        cols.append(r["_label"] + (f" ({params_label({k: r[k] for k in keys})})" if keys else ""))
    df["col"] = cols
    df["row"] = [f"{r.dataset} / {r.model}" if r.family == "toy" else r.model for _, r in df.iterrows()]
    suffixes: list[list[str]] = [[] for _ in range(len(df))]
    for key, text in (("_features", str), ("n_samples", lambda n: f"n={value_text(n)}")):
        if key not in df:
            continue
        # rows with a finished cell are told apart by their finished cells alone: a skipped try beside them
        # (another sample count, say) adds no row of its own
        basis = df[key].where(ok_rows | ~df["row"].isin(df.loc[ok_rows, "row"]))
        differs = basis.groupby(df["row"]).transform(lambda s: s.dropna().astype(str).nunique() > 1)
        for i, (flag, v) in enumerate(zip(differs, df[key], strict=True)):
            if flag and present(v):
                suffixes[i].append(text(v))
    df["row"] = [f"{row} ({', '.join(s)})" if s else row for row, s in zip(df["row"], suffixes, strict=True)]
    ok_cols = set(zip(df.loc[ok_rows, "method"], df.loc[ok_rows, "col"], strict=True))
    ok_methods = set(df.loc[ok_rows, "method"])
    ok_places = set(zip(df.loc[ok_rows, "row"], df.loc[ok_rows, "col"], strict=True))
    taken: set[tuple[str, str]] = set()
    wide = []
    for _, r in df.iterrows():
        if r.status == "ok":
            wide.append(True)
            continue
        place = (r.row, r.col)
        fits = (r.method, r.col) in ok_cols if r.method in ok_methods else True
        wide.append(fits and place not in ok_places and place not in taken)
        taken.add(place)
    df["_wide"] = wide
    dup = ok_rows & df[ok_rows].duplicated(["row", "col"], keep=False).reindex(df.index, fill_value=False)
    df.loc[dup, "col"] = df.loc[dup].apply(lambda r: f"{r.col} [{r.variant[:6]}]", axis=1)
    return df


@dataclass
class Wide:
    """One wide table: ``cells[row][col]`` is the cell's fragments.

    Attributes:
        metrics: the panel's metric keys.
        columns: column labels, in method order.
        rows: row labels, in display order.
        cells: row -> column -> fragments.
        ours: whether a column is a method of this project's own (its label carries a dagger).
    """

    metrics: list[str]
    columns: list[str]
    rows: list[str]
    cells: dict[str, dict[str, Fragments]]
    ours: bool = False
    methods: dict[str, str] = field(default_factory=dict)  # column label -> method name


def column_order(df: pd.DataFrame) -> list[str]:
    """Column labels of labelled rows, by method order, then label."""
    seen = df.drop_duplicates("col")
    return list(seen.sort_values(["_order", "col"], kind="stable")["col"])


def _cell(r: pd.Series, have: list[str], good: pd.DataFrame, refs: dict[str, int]) -> Fragments:
    if r.status != "ok":
        return [("skip" if r.status == "skipped" else "fail", r.get("short") or r.status)]
    infos = metric_infos()
    frags: Fragments = []
    for i, m in enumerate(have):
        std = r.get(f"{m}_split_std") if present(r.get(f"{m}_split_std")) else (
            r.get(f"{m}_std") if r.get("trials", 1) > 1 else None)
        text = fmt(r.get(m), std, infos[m].digits) or "–"
        col = good[m].dropna() if m in good else pd.Series(dtype=float)
        best = (col.max() if infos[m].higher else col.min()) if len(col) else None
        kind = "best" if len(col) > 1 and present(r.get(m)) and r.get(m) == best else "value"
        frags += [("sep", " / " if i else ""), (kind, text)]
    paper = [(m, r.get(f"paper_{m}"), r.get(f"paper_{m}_source")) for m in have if present(r.get(f"paper_{m}"))]
    if paper:
        named = len(paper) < len(have)  # say which metric when the source gives only some
        nums = " / ".join((f"{infos[m].title} " if named else "") + fmt(v, None, infos[m].digits) for m, v, _ in paper)
        srcs = ",".join(str(refs.setdefault(s, len(refs) + 1)) for s in dict.fromkeys(s for _, _, s in paper))
        frags.append(("paper", f"paper {nums} [{srcs}]"))
    return frags


def wide_table(df: pd.DataFrame, metrics: list[str], refs: dict[str, int], always: bool = False) -> Wide | None:
    """The ``metrics`` panel of a family's rows (labelled by :func:`add_labels`); ``refs`` numbers sources.

    Returns ``None`` when no finished row has these metrics, unless ``always`` (then the panel shows the
    skipped / failed cells and the published rows).
    """
    if "_wide" in df:  # a skipped or failed cell that would add a column or hide a number is in the notes only
        df = df[df["_wide"]]
    ok = df[df.status == "ok"]
    have = [m for m in metrics if m in ok and ok[m].notna().any()]
    if not have and not always:
        return None
    have = have or list(metrics)
    cols = [m for m in have if m in ok]
    datasets = [d for d in df.dataset.unique()
                if ok[ok.dataset == d].empty or ok[ok.dataset == d][cols].notna().any().any()]
    sub = df[df.dataset.isin(datasets)]
    wide = Wide(have, column_order(df), [], {}, ours=bool(df["_ours"].any()),
                methods=dict(zip(df["col"], df["method"], strict=True)))
    order = dict(zip(df["method"], df["_order"], strict=True))
    for dataset in datasets:
        block = sub[sub.dataset == dataset]
        for row_label in block["row"].unique():
            line = block[block.row == row_label]
            wide.rows.append(row_label)
            good = line[line.status == "ok"]
            wide.cells[row_label] = {r.col: _cell(r, have, good, refs) for _, r in line.iterrows()}
        for prow in paper_rows(dataset):
            _add_paper_row(prow, wide, refs, df.family.iloc[0], order)
    wide.columns.sort(key=lambda c: order[wide.methods[c]])  # stable: labels in order within a method
    return wide


def _add_paper_row(prow: PaperRow, wide: Wide, refs: dict[str, int], family: str, order: dict[str, int]) -> None:
    """Published numbers whose model is not one of ours: a row of their own, each under its method's column."""
    if not any(m in vals for vals in prow.cells.values() for m in wide.metrics):
        return
    n = refs.setdefault(prow.source, len(refs) + 1)
    label = f"{prow.dataset} / {prow.label} [{n}]" if family == "toy" else f"{prow.label} [{n}]"
    wide.rows.append(label)
    wide.cells[label] = {}
    for method, vals in prow.cells.items():
        col = next((c for c in wide.columns if wide.methods.get(c) == method), None)
        if col is None:  # the method is not in our table: give it its own column
            info = info_for_name(method)
            col = column_label(info)
            wide.columns.append(col)
            wide.methods[col] = method
            wide.ours = wide.ours or info.ours
            order.setdefault(method, info.order)
        texts = [fmt(vals[m], None, metric_infos()[m].digits) if m in vals else "–" for m in wide.metrics]
        wide.cells[label][col] = [("paper", " / ".join(texts))]
