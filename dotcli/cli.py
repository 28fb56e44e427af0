"""Entry points: ``dot-run`` (a Hydra app) and ``dot-table``.

Importing this module imports nothing beyond the standard library and :mod:`dotcli`: Hydra, OmegaConf and the
resolvers load inside :func:`run_main`, so a Ctrl-C in the first half second of ``dot-run`` (while they import)
is the same one line and exit 130 as later, not a traceback from the console script's import.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dotcli import DotcliError

if TYPE_CHECKING:
    from omegaconf import DictConfig

# This process's multirun jobs (Hydra's basic launcher runs them here, one after another): how many ran and which
# failed, for the one summary line after them. A launcher with other processes leaves both empty.
_SWEEP: dict[str, list[str]] = {"jobs": [], "failed": []}
INTERRUPTED = "interrupted; nothing was written for this run"

# Warn when at least this fraction of the output coordinates ended on the sampler's clip box. Not of the
# samples: a 128-d latent touches the box in some coordinate after a few normal steps (~4% of coordinates).
CLIP_WARN_FRACTION = 0.25


def _run_job(cfg: DictConfig) -> None:
    """One ``dot-run`` job (the Hydra task function): checks, the run directory's lock, the run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from dotcli.records import config_hash
    from dotcli.rundir import RunDirBusy, lock_run_dir, unlock_run_dir
    from dotcli.validation import check_config

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if multirun:
        _SWEEP["jobs"].append(_job_label(hydra_cfg))
    try:
        overrides = list(hydra_cfg.overrides.task)
        for warning in check_config(cfg, overrides):  # before the imports below (torch): a typo costs no model load
            print(f"dot-run: warning: {warning}", file=sys.stderr, flush=True)
        lock_run_dir(out_dir, config_hash(OmegaConf.to_container(cfg, resolve=True)))  # held for the run
    except RunDirBusy as exc:  # another process's directory: write nothing into it
        print(f"dot-run: error: {exc}", file=sys.stderr, flush=True)
        if multirun:
            _SWEEP["failed"].append(_job_label(hydra_cfg))
            raise
        sys.exit(2)
    except DotcliError as exc:
        _fail(exc, cfg, out_dir, multirun)
    try:
        _run_locked(cfg, out_dir, multirun)
    finally:
        if multirun:
            unlock_run_dir(out_dir)  # the next job of this sweep may run in another directory


def _fail(exc: DotcliError, cfg: DictConfig, out_dir: Path, multirun: bool) -> None:
    """The error line on stderr, ``failed.json`` in the run directory, exit 2 (multirun: the next job)."""
    from hydra.core.hydra_config import HydraConfig

    from dotcli.preflight import clear_skip
    from dotcli.records import write_failure

    print(f"dot-run: error: {exc}", file=sys.stderr, flush=True)
    write_failure(cfg, out_dir, str(exc) + job_logs())
    clear_skip(out_dir)
    if multirun:
        _SWEEP["failed"].append(_job_label(HydraConfig.get()))
        raise exc  # Hydra records the failed job and goes on with the others
    sys.exit(2)


def _job_label(hydra_cfg: Any) -> str:
    """``job 3 (method=dot seed=1)``: a multirun job as its summary line names it."""
    try:
        return f"job {hydra_cfg.job.num} ({' '.join(hydra_cfg.overrides.task)})"
    except Exception:  # not a multirun job's config
        return "a job"


def _run_locked(cfg: DictConfig, out_dir: Path, multirun: bool) -> None:
    from dotcli.preflight import clear_skip, skip_if_unavailable
    from dotcli.records import RecordConflict
    from dotcli.runner import run, validate  # imported here: `dot-run --help` and config errors stay fast

    try:
        validate(cfg)  # a bad config fails before the pre-flight checks (never skipped as 'missing')
        skipped = skip_if_unavailable(cfg, out_dir)  # None unless preflight.skip_unavailable=true
        if skipped is not None:  # an input this machine lacks: not a failure, the grid goes on
            print(f"dot-run: skipped: {skipped[1]}", file=sys.stderr, flush=True)
            print(skipped[0], flush=True)
            return
        path = run(cfg, out_dir)
        clear_skip(out_dir)
    except RecordConflict as exc:  # another config's finished record: write nothing into its directory
        print(f"dot-run: error: {exc}", file=sys.stderr, flush=True)
        if multirun:
            raise
        sys.exit(2)
    except DotcliError as exc:
        _fail(exc, cfg, out_dir, multirun)
    for warning in record_warnings(path):
        print(f"dot-run: warning: {warning}", file=sys.stderr, flush=True)
    summary = summary_line(path)
    if summary:
        print(summary, file=sys.stderr, flush=True)
    print(path, flush=True)  # the last line of stdout: scripts read the record's path there


def summary_line(path: Path) -> str | None:
    """The record's metrics in one line for stderr, e.g. ``HQ 0.704  modes 24.5  EMD 0.122  (10 trials, 7.3 s)``:
    titles and decimals as the tables show them (each metric's ``MetricInfo``); ``None`` without a record."""
    import json
    import math

    from dotcli.metrics.info import metric_infos

    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    metrics = rec.get("metrics") or {}
    infos = metric_infos()
    parts = []
    ordered = [k for k in infos if k in metrics] + [k for k in metrics if k not in infos]  # the tables' order
    for key in ordered:
        value = metrics[key]
        if key.endswith(("_std", "_trials")) or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        info = infos.get(key)
        shown = "nan" if not math.isfinite(value) else f"{value:.{info.digits}f}" if info else f"{value:.4g}"
        parts.append(f"{info.title if info else key} {shown}")
    trials = rec.get("trials")
    wall = (rec.get("cost") or {}).get("wall_s")
    tail = [f"{trials} trial{'s' if trials != 1 else ''}"] if isinstance(trials, int) else []
    if isinstance(wall, int | float):
        tail.append(f"{wall:.1f} s")
    head = "  ".join(parts) or "no metrics (metrics=none)"
    return f"{head}  ({', '.join(tail)})" if tail else head


def record_warnings(path: Path) -> list[str]:
    """What a finished record says the user should know: samples stuck on the clip boundary."""
    import json

    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    out = []
    cost = rec.get("cost") or {}
    samples, coords = cost.get("clip_boundary_fraction"), cost.get("clip_coordinate_fraction")
    if isinstance(coords, int | float) and coords >= CLIP_WARN_FRACTION:
        out.append(f"{samples:.1%} of the samples ended on the clip boundary ({coords:.1%} of their coordinates; "
                   f"cost.clip_boundary_fraction in {path}): the step size is likely too large (method.eps)")
    return out


def job_logs() -> str:
    """Where this job's stdout/stderr go when a submitit launcher (``hydra/launcher=slurm``, ``submitit_local``)
    runs it, as a note for ``failed.json``'s error and so the table's failure reason; "" otherwise."""
    if "SUBMITIT_FOLDER" not in os.environ:
        return ""
    try:
        import submitit

        env = submitit.JobEnvironment()
        return f" ({env.cluster} job {env.job_id}; its stdout/stderr: {env.paths.stdout} / {env.paths.stderr.name})"
    except Exception:  # not a submitit job after all: the error alone
        return ""


def run_main() -> None:
    """``dot-run [overrides]``: the Hydra app, with every error of Hydra's own (an unknown option or key, an
    override that does not parse, a misplaced flag) and Ctrl-C as one line (:mod:`dotcli.hydra_errors`)."""
    from dotcli.hydra_errors import one_line_errors

    _SWEEP["jobs"].clear()
    _SWEEP["failed"].clear()
    try:
        import hydra

        import dotcli.resolvers  # noqa: F401  (registers the ${dotcli_*:} resolvers the configs use)

        app = hydra.main(version_base="1.3", config_path="configs", config_name="run")(_run_job)
        with one_line_errors("dot-run", sweep_summary):
            app()
    except KeyboardInterrupt:
        what = INTERRUPTED if not _SWEEP["jobs"] else (
            f"interrupted; nothing was written for the running job ({len(_SWEEP['jobs']) - 1} finished jobs keep "
            "their records: rerun to go on)")
        print(f"dot-run: {what}", file=sys.stderr, flush=True)
        sys.exit(130)


def sweep_summary(exc: BaseException) -> str | None:
    """The summary line of a multirun that had a failing job (each job's own line is above it), or ``None``
    when ``exc`` is not a job's failure."""
    if not isinstance(exc, DotcliError):
        return None
    failed, jobs = _SWEEP["failed"], _SWEEP["jobs"]
    if not failed:  # the jobs ran in other processes (joblib, submitit): this is the first failure
        return f"a job of this multirun failed: {exc}"
    return (f"{len(failed)} of {len(jobs)} jobs failed: {'; '.join(failed)} (each one's error is above and in "
            "its directory's failed.json)")


def run_entry() -> NoReturn:
    """The ``dot-run`` console script: :func:`run_main`, then :func:`exit_without_teardown`."""
    exit_without_teardown(run_main)


def exit_without_teardown(main: Callable[[], object]) -> NoReturn:
    """Run ``main``, then end the process the way the interpreter would, minus its module teardown.

    Finalising a process that imported torch, SciPy and matplotlib takes about 0.8 s on 2 CPU cores (a twelfth
    of the default run) and writes nothing: by then every record is written atomically and closed. So, when no
    other thread or child process is still running (a launcher's pool, whose shutdown is the interpreter's
    business): the atexit handlers (logging's flush and close), the standard streams flushed, ``os._exit`` with
    the status ``sys.exit`` gives. Otherwise, and for any exception other than ``SystemExit``, the usual exit.
    """
    code = 0
    try:
        main()
    except SystemExit as exc:
        if isinstance(exc.code, str):  # as the interpreter does: the message on stderr, status 1
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    import multiprocessing
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others or multiprocessing.active_children():
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter runs before its teardown
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def table_main(argv: list[str] | None = None) -> None:
    """``dot-table [RUN_OR_SWEEP_DIR ...] [--out DIR]`` (default: DIR/tables)."""
    from dotcli.tables import main

    try:
        main(argv)
    except DotcliError as exc:
        print(f"dot-table: error: {exc}", file=sys.stderr)
        sys.exit(2)
