"""``dot-table``: result records -> comparison tables and figures.

One job per module: :mod:`~dotcli.tables.rows` (records -> one row per cell, trials pooled across seeds),
:mod:`~dotcli.tables.methods` (how a record's method is shown: its ``MethodInfo``),
:mod:`~dotcli.tables.layout` (the wide model x method panels), :mod:`~dotcli.tables.render` (Markdown, LaTeX,
CSV text), :mod:`~dotcli.tables.figures`, :mod:`~dotcli.tables.files` (the files and their index). Metrics
declare their display in :mod:`dotcli.metrics.info`, methods in their sampler's ``info``; what is the paper's
(published numbers, row order, titles) is in :mod:`dotcli.paper`.

Per table family (``toy`` for the 2-D datasets, else one per image dataset): ``<family>.md`` (protocol line,
wide tables with the best cell of a row in bold and the published number beside it, every cell's numbers and
costs, notes on skipped and failed cells), ``<family>.tex`` (booktabs), ``<family>_wide.csv``, ``<family>.csv``
(one row per cell, every number), figures, and ``README.md`` / ``index.json``, the index of all tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dotcli.tables.files import tabulate, write_tables
from dotcli.tables.rows import build_rows, variant_key

__all__ = ["build_rows", "default_out", "main", "tabulate", "variant_key", "write_tables"]


def default_out(paths: list[str]) -> Path:
    """``<first DIR>/tables`` (beside the records, never ``results/``); a file's directory for a record file."""
    first = Path(paths[0])
    return (first.parent if first.is_file() else first) / "tables"


def main(argv: list[str] | None = None) -> None:
    """``dot-table [DIR ...] [--out DIR]``: print the path of every file written."""
    ap = argparse.ArgumentParser(prog="dot-table", description="Result records -> comparison tables and figures.")
    ap.add_argument("paths", nargs="*", default=["runs"],
                    help="run directories, sweep directories or result.json files (default: runs)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output directory (default: DIR/tables inside the first DIR; results/ is written only by "
                         "dot-reproduce and `make table`)")
    args = ap.parse_args(argv)
    out = args.out if args.out is not None else default_out(args.paths)
    for path in tabulate(args.paths, out):
        print(path)
