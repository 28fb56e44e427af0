"""``dot-reproduce``: the experiment grids through Hydra multirun of ``dot-run``, then the tables.

Each experiment config under ``configs/experiment/`` is one ``dot-run -m experiment=<config>`` in a
subprocess (Hydra runs one multirun per process; its launcher, basic, joblib or submitit, runs the
cells). Every cell runs in a fixed directory ``<runs>/<experiment>/<dataset>_<model>_<method>_s<seed>_<hash>``
whose hash is the run's own config hash (``${dotcli_cell:}``), so

* a finished cell is never recomputed (``dot-run`` returns its record), an interrupted grid continues
  where it stopped, and a different config (another seed, n_samples, eps...) never overwrites it;
* a cell that lacks an input (checkpoint, dataset, weights, a GPU for 50k samples) is skipped with the
  reason (:mod:`dotcli.preflight`), a cell that errors leaves ``failed.json``; neither stops the others.

Then the files of exactly this grid's cells (:func:`plan` recomputes their directories the way Hydra does)
are copied into ``<out>/records/<experiment>/`` (:func:`keep_records`) and ``dot-table`` runs on those copies,
so stale cells of an older config never mix into the tables and ``results/`` holds the records behind its
numbers; a cell whose record is there is adopted rather than recomputed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotcli import DotcliError
from dotcli.console import console_command
from dotcli.preflight import SKIP_NAME
from dotcli.records import (
    FAILURE_NAME,
    FINISHED_FIELDS,
    NOTE_FIELDS,
    RECORD_NAME,
    job_config_hash,
    load_json,
    record_file,
    record_problem,
)
from dotcli.safe_write import make_dir, write_error

RECORDS_DIR = "records"  # <out>/records/<experiment>/<cell>/: the records the tables were built from
COMMITTED_OUT = Path("results")  # the committed tables: written only for the grids as committed, or on request


def discover_experiments() -> dict[str, str]:
    """Short name -> experiment config, for every ``configs/experiment/*.yaml`` (``toy_table`` is ``toy``).

    A new grid is a new experiment config: nothing here names one. They run in name order.
    """
    from importlib import resources

    configs = sorted(p.name.removesuffix(".yaml") for p in (resources.files("dotcli.configs") / "experiment").iterdir()
                     if p.name.endswith(".yaml"))
    return {c.removesuffix("_table"): c for c in configs}


EXPERIMENTS = discover_experiments()


@dataclass
class Cell:
    """One cell of a grid: its overrides, run directory and state (done | skipped | failed | todo)."""

    experiment: str
    overrides: list[str]
    dir: Path | None
    config_hash: str
    status: str = "todo"
    note: str = ""

    def files(self) -> list[Path]:
        """The cell's result, skip or failure file made from this very config."""
        if self.dir is None:
            return []
        out = []
        for name in (RECORD_NAME, SKIP_NAME, FAILURE_NAME):
            path = self.dir / name
            if _hash_of(path) == self.config_hash:
                out.append(path)
        return out


def _hash_of(path: Path) -> str | None:
    """The ``config_hash`` of a regular file that is what its name claims (a finished record, a skip or
    failure note: :func:`~dotcli.records.record_problem`), else ``None``: a stub or a link is no cell's file."""
    if path.is_symlink() or not path.is_file():
        return None
    data, problem = load_json(path)
    full = path.name == RECORD_NAME
    if problem or record_problem(data, FINISHED_FIELDS if full else NOTE_FIELDS, check_hash=full):
        return None
    return data.get("config_hash")


def _note_text(path: Path, key: str) -> str:
    data, _ = load_json(path)
    value = data.get(key, "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else str(value)


def _split(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """Hydra's split of command-line overrides: those of ``hydra`` itself and the job's (which the sweeper sees)."""
    hydra_keys = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    return hydra_keys, [o for o in overrides if o not in hydra_keys]


def plan(experiment: str, overrides: Sequence[str] = (), sweep_dir: str | Path | None = None) -> list[Cell]:
    """The cells ``dot-run -m experiment=<experiment> [overrides]`` runs, with their directories and state.

    Expands the experiment's ``hydra.sweeper.params`` and the overrides as Hydra's basic sweeper does
    (command-line values win), composes each cell and resolves its ``hydra.sweep.dir/subdir``.
    """
    from hydra import compose, initialize_config_module
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    import dotcli.resolvers  # noqa: F401  (registers the dotcli_* resolvers the run directories use)

    hydra_overrides, task_overrides = _split(overrides)
    hydra_overrides += [f"hydra.sweep.dir={sweep_dir}"] if sweep_dir is not None else []
    task_overrides = [f"experiment={experiment}", *task_overrides]
    parser = OverridesParser.create()
    fixed = [o.input_line for o in parser.parse_overrides(task_overrides) if not o.is_sweep_override()]
    GlobalHydra.instance().clear()
    cells = []
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        head = compose("run", overrides=[*hydra_overrides, *fixed], return_hydra_config=True)
        params = [f"{k}={v}" for k, v in (head.hydra.sweeper.get("params") or {}).items()]
        for combo in BasicSweeper.split_arguments(parser.parse_overrides(params + task_overrides), None)[0]:
            cfg = compose("run", overrides=[*hydra_overrides, *combo], return_hydra_config=True)
            try:
                cell_dir = Path(str(OmegaConf.select(cfg, "hydra.sweep.dir"))) / str(
                    OmegaConf.select(cfg, "hydra.sweep.subdir"))
            except Exception:  # a subdir naming hydra.job.num is only known inside the sweep
                cell_dir = None
            cell = Cell(experiment, list(combo), cell_dir, job_config_hash(cfg))
            cell.status, cell.note = _state(cell)
            cells.append(cell)
    GlobalHydra.instance().clear()
    return cells


def _state(cell: Cell) -> tuple[str, str]:
    files = {p.name: p for p in cell.files()}
    if RECORD_NAME in files:
        return "done", ""
    if SKIP_NAME in files:
        return "skipped", _note_text(files[SKIP_NAME], "reason")
    if FAILURE_NAME in files:
        return "failed", _note_text(files[FAILURE_NAME], "error")
    record = cell.dir / RECORD_NAME if cell.dir is not None else None
    if record is not None and os.path.lexists(record):  # there, but no finished record of anything
        data, problem = load_json(record)
        problem = problem or record_problem(data, check_hash=True)
        if problem is not None:
            return "todo", f"{record} {problem[1]}: not a finished record (dot-run sets it aside and recomputes it)"
    return "todo", ""


def adoptable(cells: list[Cell], roots: Sequence[Path]) -> list[tuple[Cell, Path]]:
    """``(cell, record)`` for every cell still to run whose very config has a finished record under ``roots``."""
    todo = {c.config_hash: c for c in cells if c.status == "todo" and c.dir is not None and not c.dir.exists()}
    found = []
    for root in roots:
        for path in sorted(Path(root).rglob(RECORD_NAME)) if todo and Path(root).is_dir() else []:
            cell = todo.pop(_hash_of(path) or "", None)
            if cell is not None:
                found.append((cell, path))
    return found


def _regular_files_only(directory: str, names: list[str]) -> list[str]:
    """``shutil.copytree``'s ignore: links and special files are not copied (their targets are not the record's)."""
    return [n for n in names if os.path.islink(os.path.join(directory, n))
            or not (os.path.isfile(os.path.join(directory, n)) or os.path.isdir(os.path.join(directory, n)))]


def adopt_finished(cells: list[Cell], root: Path) -> list[Cell]:
    """Copy a finished record of a cell's very config found elsewhere under ``root`` into the cell's directory.

    Cells run by an older directory scheme (e.g. ``<dataset>_<model>_<method>`` without the hash) are kept
    instead of recomputed. Copied, not moved: another process may still be writing there. Only regular files
    are copied (no link, so nothing outside the record's directory travels with it).
    """
    adopted = []
    for cell, path in adoptable(cells, [root]):
        shutil.copytree(path.parent, cell.dir, symlinks=True, ignore=_regular_files_only)
        cell.status = "done"
        adopted.append(cell)
    return adopted


def dot_run_command() -> list[str]:
    """``dot-run`` of this Python installation (see :func:`dotcli.console.console_command`)."""
    return console_command("dot-run")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _tie_to_parent(parent: int) -> Callable[[], None]:
    """``preexec_fn`` for a child that must not outlive this process: its own process group (so signals
    reach its whole tree, and a terminal's Ctrl-C reaches it only through us) and, on Linux, SIGTERM
    from the kernel the moment the parent dies, even by SIGKILL (``prctl(PR_SET_PDEATHSIG)``)."""

    def setup() -> None:
        os.setpgrp()
        if sys.platform.startswith("linux"):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return setup


def run_child(cmd: list[str]) -> int:
    """Run ``cmd`` tied to this process (:func:`_tie_to_parent`), forwarding SIGINT and SIGTERM to its
    process group; after a forwarded signal this process exits too (128 + signal), once the child has."""
    proc = subprocess.Popen(cmd, preexec_fn=_tie_to_parent(os.getpid()))
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # a SIGINT that arrived before the handler was set
                forward(signal.SIGINT, None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        print(f"dot-reproduce: stopped by signal {received[0]}; rerun to continue where it stopped",
              file=sys.stderr, flush=True)
        sys.exit(128 + received[0])
    return code


def run_grid(experiment: str, overrides: Sequence[str], sweep_dir: Path) -> int:
    """One ``dot-run -m experiment=<experiment>`` over the whole grid; its exit status (non-zero: a cell failed)."""
    cmd = [*dot_run_command(), "-m", f"experiment={experiment}", f"hydra.sweep.dir={sweep_dir}", *overrides]
    print("dot-reproduce: " + " ".join(cmd[-(len(overrides) + 3):]), flush=True)
    return run_child(cmd)


def keep_records(name: str, cells: list[Cell], out: Path) -> Path:
    """Copy the cells' files (record, skip or failure note, and the record's figures) into
    ``<out>/records/<name>/<cell>/``, replacing what an earlier run left there; return that directory.

    The tables are built from these copies, so ``results/`` holds the records behind its numbers
    (``dot-table results/records --out results`` rebuilds them) and a fresh clone adopts them instead of
    recomputing (:func:`adopt_finished`).
    """
    records = out / RECORDS_DIR
    if records.is_symlink() or (records.exists() and not records.is_dir()):
        raise DotcliError(f"{records} is a link or not a directory; dot-reproduce writes the records only into a "
                          f"directory of {out}'s own (remove it, or choose another --out)")
    make_dir(records)
    dest = records / name
    tmp, old = dest.with_name(f".{name}.tmp"), dest.with_name(f".{name}.old")
    for stale in (tmp, old):
        _remove(stale)
    for cell in cells:
        for path in cell.files():
            target = tmp / path.parent.name
            make_dir(target)  # fresh: a directory of ours, under ours
            _copy_into(path, target / path.name)
            figures = (load_json(path)[0].get("figures") or []) if path.name == RECORD_NAME else []
            for fig in figures:
                try:  # a name from the record: inside its own directory, or refused
                    source = record_file(path, fig)
                except DotcliError as exc:
                    print(f"dot-reproduce: warning: {exc}", file=sys.stderr, flush=True)
                    continue
                if source.is_file():
                    make_dir((target / fig).parent)
                    _copy_into(source, target / fig)
    make_dir(tmp)
    if os.path.lexists(dest):
        dest.rename(old)  # a link at dest is renamed itself (and removed below), never followed
    tmp.rename(dest)
    _remove(old)
    return dest


def _remove(path: Path) -> None:
    """Remove ``path``: a link or file itself, a directory with what is in it (never what links in it point to)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _copy_into(source: Path, target: Path) -> None:
    """Copy one regular file into a fresh directory of ours (``target`` does not exist yet: nothing to follow)."""
    try:
        shutil.copy2(source, target)
    except OSError as exc:
        raise write_error(target, exc) from exc


def summary(name: str, cells: list[Cell]) -> str:
    counts = Counter(c.status for c in cells)
    parts = [f"{counts[s]} {s}" for s in ("done", "adopted", "skipped", "failed", "todo") if counts[s]]
    return f"{name}: {len(cells)} cells: {', '.join(parts) or 'none'}"


def adoption_roots(name: str, runs: Path, out: Path) -> list[Path]:
    """Where finished records of a grid's cells may already be: older run directories, the kept records of
    ``out`` and of the committed ``results/`` (read only: adopting copies into the run directory)."""
    roots = [runs / name, out / RECORDS_DIR / name, COMMITTED_OUT / RECORDS_DIR / name]
    return list(dict.fromkeys(roots))


def choose_out(names: list[str], overrides: Sequence[str], launcher: Sequence[str], runs: Path) -> Path:
    """``--out`` when not given: the committed ``results/`` when the overrides leave every cell of every chosen
    grid as committed (same config hashes: a launcher, a device, paths change no number), else
    ``<runs>/results``, said in one line. The committed tables are never replaced by a smaller or other try."""
    if overrides:
        for name in names:
            try:
                same = {c.config_hash for c in plan(EXPERIMENTS[name], [*overrides, *launcher], runs / name)} == \
                    {c.config_hash for c in plan(EXPERIMENTS[name], list(launcher), runs / name)}
            except Exception:  # a config that does not compose: not the committed grid
                same = False
            if not same:
                out = runs / "results"
                print(f"dot-reproduce: the overrides ({' '.join(overrides)}) change the committed grid {name}: "
                      f"tables go to {out}, not {COMMITTED_OUT} (--out {COMMITTED_OUT} to replace the committed ones)",
                      flush=True)
                return out
    return COMMITTED_OUT


def main(argv: list[str] | None = None) -> int:
    """``dot-reproduce [OVERRIDE ...] [--only toy,cifar10] [--runs DIR] [--out DIR] [--launcher NAME] [--plan]``."""
    ap = argparse.ArgumentParser(
        prog="dot-reproduce",
        description="Run the grids (configs/experiment/*.yaml: the paper's tables, Fashion-MNIST) with Hydra "
                    "multirun, resuming finished cells, then write the tables (dot-table) of exactly those grids and "
                    "keep their records under OUT/records.")
    ap.add_argument("overrides", nargs="*", help="dot-run overrides for every cell, e.g. seed=0,1,2 or "
                                                 "paths.allow_download=false (sweeps add cells)")
    ap.add_argument("--only", default=",".join(EXPERIMENTS),
                    help=f"comma-separated experiments (default: all: {','.join(EXPERIMENTS)})")
    ap.add_argument("--runs", type=Path, default=Path("runs/reproduce"),
                    help="where the cells run: <runs>/<experiment>/<cell> (default: runs/reproduce)")
    ap.add_argument("--out", type=Path, default=None,
                    help="tables and figures (default: results for the grids as committed; with overrides that change "
                         "any cell's config, RUNS/results; --out results replaces the committed tables all the same)")
    ap.add_argument("--launcher", default=None,
                    help="a hydra/launcher option: joblib (local processes), submitit_local, slurm")
    ap.add_argument("--plan", action="store_true", help="list every cell, its directory and state; run nothing")
    ap.add_argument("--tables-only", action="store_true", help="only rewrite the tables from the finished cells")
    args = ap.parse_intermixed_args(argv)  # overrides may come before and after the options
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        ap.error(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")
    launcher = [f"hydra/launcher={args.launcher}"] if args.launcher else []
    overrides = [*args.overrides, *launcher]
    if args.out is None:
        args.out = choose_out(names, args.overrides, launcher, args.runs)

    status = 0
    if not (args.plan or args.tables_only):
        for name in names:
            try:
                grid = plan(EXPERIMENTS[name], overrides, args.runs / name)
                for root in adoption_roots(name, args.runs, args.out):  # older directories, committed records
                    for cell in adopt_finished(grid, root):
                        print(f"dot-reproduce: kept the finished record of {cell.dir.name} from {root}")
            except Exception:  # planning fails where the config does not compose: dot-run says why below
                pass
            if run_grid(EXPERIMENTS[name], overrides, args.runs / name) != 0:
                status = 1  # a cell failed (failed.json says why); the other cells and experiments ran
    cells: dict[str, list[Cell]] = {}
    for name in names:
        try:
            grid = plan(EXPERIMENTS[name], overrides, args.runs / name)
        except Exception as exc:  # a config that does not compose: dot-run said why already
            print(f"dot-reproduce: {name}: cannot list the cells ({exc})", file=sys.stderr)
            status = 1
            continue
        if args.plan:  # what a run would copy instead of computing
            for cell, path in adoptable(grid, adoption_roots(name, args.runs, args.out)):
                cell.status, cell.note = "adopted", f"finished record there: {path}"
        print(summary(name, grid), flush=True)
        for c in grid if not args.plan else []:
            if c.status == "todo" and "not a finished record" in c.note:
                print(f"dot-reproduce: warning: {c.note}", file=sys.stderr, flush=True)
        if args.plan:
            for c in grid:
                print(f"  {c.status:8s} {c.dir}  {' '.join(c.overrides)}" + (f"  # {c.note}" if c.note else ""))
        cells[name] = grid
    if args.plan:
        return status
    if not any(c.files() for grid in cells.values() for c in grid):
        print("dot-reproduce: no finished, skipped or failed cell yet: no tables written", file=sys.stderr)
        return status or 1
    from dotcli.tables import tabulate

    try:
        kept = [keep_records(name, grid, args.out) for name, grid in cells.items()]
        for path in tabulate(kept, args.out, prog="dot-reproduce"):
            print(path)
    except DotcliError as exc:
        print(f"dot-reproduce: error: {exc}", file=sys.stderr)
        return 2
    if any(c.status == "failed" for grid in cells.values() for c in grid):
        status = 1
    return status


def entry() -> None:
    """The ``dot-reproduce`` console script; Ctrl-C before or between the grids' runs is one line, exit 130
    (during a run, :func:`run_child` forwards it to ``dot-run``, which says what it kept)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("dot-reproduce: interrupted; rerun to continue where it stopped (finished cells keep their records)",
              file=sys.stderr, flush=True)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    entry()
