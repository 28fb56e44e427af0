"""Text of a family's tables: the wide panels as Markdown, LaTeX and CSV, the protocol line, every cell's
numbers and cost, and the notes on skipped and failed cells."""

from __future__ import annotations

import pandas as pd

from dotcli import __version__
from dotcli.metrics.info import metric_infos
from dotcli.paper.published import NOTES, has_reference
from dotcli.paper.tables import title
from dotcli.tables.layout import Fragments, Wide, add_labels, fmt, panel_title, panels, present, wide_table
from dotcli.tables.methods import METHOD_COST_DIGITS, RUN_COST
from dotcli.tables.rows import value_text

PUBLISHED_SECTION = "docs/protocol.md#published-numbers"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("σ", r"$\sigma$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"),
                 ("†", r"$\dagger$"), ("–", "--")):
        text = text.replace(a, b)
    return text


def render_cell(frags: Fragments, style: str) -> str:
    """A cell's fragments as Markdown (``md``) or LaTeX (``tex``)."""
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


def wide_markdown(w: Wide) -> list[str]:
    """The panel as Markdown table lines."""
    head = ["model", *w.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in w.rows:
        cells = [render_cell(w.cells[row].get(c, []), "md") or "–" for c in w.columns]
        lines.append("| " + " | ".join([row, *cells]) + " |")
    return lines


def wide_latex(w: Wide, caption: str) -> str:
    """The panel as a LaTeX (booktabs) table."""
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex(caption)}}}",
             r"\begin{tabular}{l" + "c" * len(w.columns) + "}", r"\toprule",
             " & ".join(["Model", *(_tex(c) for c in w.columns)]) + r" \\", r"\midrule"]
    for row in w.rows:
        cells = [render_cell(w.cells[row].get(c, []), "tex") or "--" for c in w.columns]
        lines.append(" & ".join([_tex(row), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def wide_csv(w: Wide) -> pd.DataFrame:
    """The panel's cells as plain text, one row per table row."""
    def plain(frags: Fragments) -> str:
        return "".join(f" ({t})" if k == "paper" and len(frags) > 1 else t for k, t in frags)

    return pd.DataFrame([{"table": panel_title(w.metrics), "model": r,
                          **{c: plain(w.cells[r].get(c, [])) for c in w.columns}} for r in w.rows])


def protocol_line(df: pd.DataFrame) -> str:
    """One line: samples, trials, seeds, reference set, feature extractor and weights, quantisation, device,
    dotcli version: every distinct value among the finished cells."""
    ok = df[df.status == "ok"] if "status" in df else df
    if ok.empty:
        return f"Protocol: no finished cell yet; tables by dotcli {__version__}."

    def values(col: str) -> str:
        vals = list(dict.fromkeys(value_text(v) for v in ok[col].dropna())) if col in ok else []
        return "; ".join(vals) if len(vals) < 2 else "mixed: " + "; ".join(vals)

    parts = [f"{values('protocol: samples per trial')} samples per trial",
             f"trials per cell {values('trials')} (seeds {values('seeds')})"]
    for key in ("reference", "features", "resize", "precision/recall", "intra-FID", "quantisation", "device"):
        if f"protocol: {key}" in ok and ok[f"protocol: {key}"].notna().any():
            parts.append(f"{key}: {values(f'protocol: {key}')}")
    parts.append(f"dotcli {values('dotcli')} (tables by {__version__})")
    line = "Protocol: " + "; ".join(parts) + "."
    if "protocol: warning" in ok and ok["protocol: warning"].notna().any():
        line += f" **Warning**: {values('protocol: warning')}."
    return line


def cost_columns(df: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Cost column -> (header, decimals): the runner's, then the methods' own (MethodInfo.cost) in row order."""
    declared = dict.fromkeys(c for costs in df.get("_cost", pd.Series(dtype=object)).dropna() for c in costs)
    cols = {**RUN_COST, **{c: (c.replace("_", " "), METHOD_COST_DIGITS) for c in declared if c not in RUN_COST}}
    return {c: h for c, h in cols.items() if c in df and df[c].notna().any()}


def details_markdown(df: pd.DataFrame) -> list[str]:
    """Every cell in long format: metrics as mean ± std over trials, k_eff and the cost columns."""
    infos = metric_infos()
    metrics = [m for m in infos if m in df and df[m].notna().any()]
    costs = cost_columns(df)
    head = ["dataset", "model", "method", "params", "seeds", "trials", *[infos[m].title for m in metrics],
            "k_eff", *[h for h, _ in costs.values()], "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [r.dataset, r.model, r.method, r.params, r.get("seeds", ""),
                 fmt(r.get("trials"), None, 0) if present(r.get("trials")) else ""]
        cells += [fmt(r.get(m), r.get(f"{m}_std"), infos[m].digits) for m in metrics]
        cells.append(fmt(r.get("k_eff"), None, 3))
        cells += [fmt(r.get(c), None, digits) for c, (_, digits) in costs.items()]
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


def _what(metrics: list[str]) -> str:
    infos = [metric_infos()[m] for m in metrics]
    sections = ", ".join(dict.fromkeys(i.protocol for i in infos if i.protocol))
    return "; ".join(f"{i.title}: {i.description}" for i in infos) + (f" ({sections})" if sections else "") + "."


def _legend(family: str, wides: list[Wide]) -> str:
    text = "Bold: the best cell of its row. (paper X [n]): the published number for this cell, source [n]. "
    if family != "toy":
        text += ("IS is mean ± std over the splits (the papers' convention), FID the mean over trials (± std over "
                 "trials when there are several). ")
    else:
        text += "Mean ± std over all trials of all seeds. "
    text += "Rows named *paper, ...*: published numbers whose model the source does not name."
    if any(w.ours for w in wides):
        text += " †: a method (or variant) of this project, not of a paper."
    return text


def family_markdown(df: pd.DataFrame, family: str) -> tuple[str, str, list[Wide]]:
    """The Markdown and LaTeX text of one family and its wide tables."""
    df = add_labels(df)
    refs: dict[str, int] = {}
    name = title(family)
    layout = panels("toy" if family == "toy" else "image")
    wides = [w for p in layout if (w := wide_table(df, p, refs))]
    if not wides:  # nothing finished yet: still the main table, so that skips, failures and the paper show
        wides = [wide_table(df, layout[0], refs, always=True)]
    md = [f"# {name}", "", protocol_line(df), ""]
    tex = [f"% {name}: written by dot-table (dotcli {__version__})", f"% {protocol_line(df)}"]
    for w in wides:
        md += [f"## {panel_title(w.metrics)}", "", _what(w.metrics), "", *wide_markdown(w), ""]
        tex.append(wide_latex(w, f"{name}: {panel_title(w.metrics)}"))
    md.append(_legend(family, wides))
    datasets = list(dict.fromkeys(df.dataset))
    unknown = [d for d in datasets if not has_reference(d)]
    if unknown:
        md.append(f"No published number is known here for {', '.join(unknown)} ({PUBLISHED_SECTION}).")
    sources = sorted(refs.items(), key=lambda kv: kv[1])
    facts = [f"{text} ({src})" for d in datasets for text, src in NOTES.get(d, [])]
    if sources:
        md += ["", "Sources: " + " ".join(f"[{n}] {s}." for s, n in sources)]
    if facts:
        md += ["", "Sanity values for the metric pipeline: " + "; ".join(facts) + "."]
    md += ["", *notes_markdown(df), "## All cells: numbers and cost", "", *details_markdown(df), "",
           "Mean ± std over all trials of all seeds. Evaluations per output sample count sampling only "
           "(k_eff, calibration and burn-in are in the records); the columns after them are statistics of the "
           "methods that declare them (their samplers' stats())."]
    return "\n".join(md) + "\n", "\n\n".join(tex) + "\n", wides
