"""How reports show a metric, declared beside the code that computes it (tables name no metric).

Each metric module holds a ``METRICS`` tuple of :class:`MetricInfo`; :func:`metric_infos` collects them
in the order of :data:`MODULES`, which is also the order of the tables' columns and panels. A new metric
is one ``MetricInfo`` in its module (and its module in :data:`MODULES` when the module is new).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

# the modules that declare metrics, in display order
MODULES = ("dotcli.metrics.toy", "dotcli.metrics.fidelity", "dotcli.metrics.intra_fid", "dotcli.metrics.prdc")


@dataclass(frozen=True)
class MetricInfo:
    """How tables and figures show one metric of a record.

    Attributes:
        key: the record's key: ``metrics[key]``, ``metrics[key + "_std"]``, ``metrics[key + "_trials"]``.
        title: display name (column header, axis label).
        higher: higher is better (tables mark the best cell, figures draw an arrow).
        digits: decimals shown.
        description: one line saying what it measures (under its table).
        panel: metrics with the same panel share one wide table, joined with " / ".
        kind: the dataset kind it belongs to (``toy``, ``image``, or ``any`` for metrics of both): a table with
            nothing finished yet still shows the first panel of its kind.
        split_std: the key of a per-trial spread the metric comes with (IS over splits), shown instead of
            the spread over trials.
        protocol: the section of docs/protocol.md that defines it.
    """

    key: str
    title: str
    higher: bool
    digits: int
    description: str
    panel: str
    kind: str
    split_std: str | None = None
    protocol: str = ""


@cache
def metric_infos() -> dict[str, MetricInfo]:
    """Every declared metric by record key, in display order."""
    out: dict[str, MetricInfo] = {}
    for name in MODULES:
        for info in importlib.import_module(name).METRICS:
            out[info.key] = info
    return out


@cache
def metric_planes() -> list[tuple[str, str, str]]:
    """``(x key, y key, figure name)`` of every two-metric plane a module declares in ``PLANES`` (a figure per
    family: one point per cell, e.g. precision against recall)."""
    out: list[tuple[str, str, str]] = []
    for name in MODULES:
        out += list(getattr(importlib.import_module(name), "PLANES", ()))
    return out
