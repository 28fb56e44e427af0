"""Figures with matplotlib's object API: no pyplot (no global figure state, ~0.3 s less import), headless."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.image
import matplotlib.ticker
import numpy as np
import torch
from matplotlib.figure import Figure

from dotcli.safe_write import save_figure


def toy_figure(real: torch.Tensor, before: torch.Tensor | None, after: torch.Tensor, title: str,
               path: Path, lim: float = 2.0) -> None:
    """Data | G samples | output samples, with arrows from each G sample to its output (paper Fig. 2).

    Always three panels of the same size (the results' composite crops the last one); without a
    G-to-output pairing (rejection sampling) the middle panel says so.
    """
    save_figure(toy_figure_object(real, before, after, title, lim), path, dpi=110)


def toy_figure_object(real: torch.Tensor, before: torch.Tensor | None, after: torch.Tensor, title: str,
                      lim: float = 2.0) -> Figure:
    """The :func:`toy_figure` itself. Constrained layout keeps every label inside the figure and the title clear of
    the panels' titles; ticks stop short of the panel edges, so neighbouring panels' labels never meet."""
    fig = Figure(figsize=(12.6, 4.4), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    axes[0].scatter(real[:, 0], real[:, 1], s=4, alpha=0.5, color="gray")
    axes[0].set_title("data")
    axes[1].set_title("G samples")
    if before is not None:
        axes[1].scatter(before[:, 0], before[:, 1], s=4, alpha=0.5, color="tab:blue")
    else:
        axes[1].text(0, 0, "no pairing of G samples\nand outputs (rejection)", ha="center", va="center")
    ax = axes[-1]
    if before is not None and before.shape == after.shape:
        moved = (after - before).norm(dim=1) > 1e-6
        ax.scatter(before[:, 0], before[:, 1], s=3, alpha=0.25, color="tab:blue", label="before")
        if moved.any():
            d = after[moved] - before[moved]
            ax.quiver(before[moved, 0], before[moved, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy",
                      scale=1, width=0.002, alpha=0.35, color="gray")
        ax.scatter(after[:, 0], after[:, 1], s=4, alpha=0.6, color="tab:red", label="after")
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.scatter(after[:, 0], after[:, 1], s=4, alpha=0.6, color="tab:red")
    ax.set_title("output samples")
    ticks = np.linspace(-lim, lim, 5)[1:-1]  # -1, 0, 1 for the toys' box: no label on a panel's edge
    for a in axes:
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_xticks(ticks)
        a.set_yticks(ticks)
        a.set_aspect("equal")
    fig.suptitle(title, fontweight="bold")  # set apart from the panel titles below it
    return fig


@dataclass
class Curve:
    """One line of a figure: ``values[metric][i]`` (and optional ``stds``) at ``x[i]``."""

    label: str
    x: list[float]
    values: dict[str, list[float | None]]
    stds: dict[str, list[float | None]] = field(default_factory=dict)


def curves_figure(curves: list[Curve], metrics: dict[str, str], xlabel: str, title: str, path: Path,
                  log_x: bool = False) -> None:
    """One panel per metric (``metrics``: key -> axis title), one line per curve, error bars where given."""
    keys = [m for m in metrics if any(v is not None for c in curves for v in c.values.get(m, []))]
    fig = Figure(figsize=(5.0 * max(1, len(keys)), 4.0))
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)
    for ax, m in zip(axes[0], keys, strict=False):
        for c in curves:
            pts = [(x, v, (c.stds.get(m) or [None] * len(c.x))[i]) for i, (x, v) in enumerate(
                zip(c.x, c.values.get(m, []), strict=False)) if v is not None and not math.isnan(v)]
            if not pts:
                continue
            xs, ys, es = zip(*pts, strict=True)
            err = [e if e is not None and not math.isnan(e) else 0.0 for e in es] if any(
                e is not None for e in es) else None
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=3, capsize=2, label=c.label)
        ax.set_xlabel(xlabel)
        ax.set_title(metrics[m])
        if log_x:  # ticks at the swept values, written plainly
            ax.set_xscale("log")
            ticks = sorted({x for c in curves for x in c.x})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = 1 if not labels or max(map(len, labels)) > 30 * len(keys) else 2
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.suptitle(title)
    legend_rows = math.ceil(len(labels) / ncol) if handles else 0
    fig.set_figheight(4.0 + 0.16 * legend_rows)
    fig.tight_layout(rect=(0, min(0.6, 0.16 * legend_rows / fig.get_figheight() + 0.02), 1, 1))
    save_figure(fig, path, dpi=110)


@dataclass
class Plane:
    """One panel of a two-metric figure: a point per cell, an arrow from the baseline to each, a sweep as a line.

    ``points``: (label, x, y); ``base``: the baseline cell's (x, y) or None; ``line``: (value, x, y) of a sweep,
    drawn in order of value and annotated with it (``inf``: the untruncated end).
    """

    title: str
    points: list[tuple[str, float, float]]
    base: tuple[float, float] | None = None
    line: list[tuple[float, float, float]] = field(default_factory=list)
    line_label: str = ""


def plane_figure(planes: list[Plane], xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """One panel per :class:`Plane` (a model), framed on its points; the sweep line may run out of the frame."""
    fig = Figure(figsize=(5.6 * len(planes), 5.0))
    axes = fig.subplots(1, len(planes), squeeze=False)
    colours = matplotlib.colormaps["tab10"]
    for ax, plane in zip(axes[0], planes, strict=True):
        if plane.line:
            pts = sorted(plane.line)
            ax.plot([p[1] for p in pts], [p[2] for p in pts], "-", color="0.55", lw=1.2, marker=".", ms=5,
                    label=plane.line_label, zorder=1)
            for value, x, y in pts:
                text = "untruncated" if math.isinf(value) else f"{value:g}"
                ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, -9), fontsize=6, color="0.35")
        for i, (label, x, y) in enumerate(plane.points):
            colour = colours(i % 10)
            if plane.base is not None and (x, y) != plane.base:
                ax.annotate("", (x, y), plane.base, arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.0,
                                                                "alpha": 0.7})
            ax.scatter([x], [y], color=colour, s=30, label=label, zorder=3)
        if plane.points:  # framed on the methods (a long sweep would squeeze them into a corner); the line is clipped
            xs, ys = [p[1] for p in plane.points], [p[2] for p in plane.points]
            for axis, values in ((ax.set_xlim, xs), (ax.set_ylim, ys)):
                pad = max(0.3 * (max(values) - min(values)), 0.03)
                axis(min(values) - pad, max(values) + pad)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(plane.title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def last_panel(image: np.ndarray) -> np.ndarray:
    """The right-most panel of a :func:`toy_figure` PNG (its panels are 4.2 x 4.4 inches side by side)."""
    h, w = image.shape[:2]
    panels = max(1, round(w / h * 4.4 / 4.2))
    return image[:, w - w // panels:]


def figure_grid(images: dict[tuple[str, str], Path], rows: list[str], cols: list[str], title: str,
                path: Path, width: float = 4.0, crop_last_panel: bool = False) -> None:
    """A grid of existing PNG figures (each run's ``samples.png``), ``images[(row, col)]``; empty cells stay blank.

    ``crop_last_panel``: show only the output panel of each :func:`toy_figure` (G samples, arrows, outputs).
    """
    imread = matplotlib.image.imread
    load = (lambda p: last_panel(imread(p))) if crop_last_panel else imread  # noqa: E731
    first = load(next(iter(images.values())))
    aspect = first.shape[0] / first.shape[1]
    fig = Figure(figsize=(width * len(cols), width * aspect * len(rows) + 0.8))
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.axis("off")
            if (r, c) in images:
                ax.imshow(load(images[(r, c)]))
            if i == 0:
                ax.set_title(c, fontsize=10)
            if j == 0:
                ax.text(-0.02, 0.5, r, transform=ax.transAxes, rotation=90, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
