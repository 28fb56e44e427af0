"""Entry points: ``dot-run`` (a Hydra app) and ``dot-table``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import dotcli.resolvers  # noqa: F401  (registers the ${dotcli_*:} resolvers the configs use)
from dotcli import DotcliError


@hydra.main(version_base="1.3", config_path="configs", config_name="run")
def _run_app(cfg: DictConfig) -> None:
    from dotcli.preflight import clear_skip, skip_if_unavailable
    from dotcli.run import run, validate, write_failure  # imported here: `dot-run --help` stays fast

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        validate(cfg)  # a bad config fails before the pre-flight checks (never skipped as 'missing')
        skipped = skip_if_unavailable(cfg, out_dir)  # None unless preflight.skip_unavailable=true
        if skipped is not None:  # an input this machine lacks: not a failure, the grid goes on
            print(f"dot-run: skipped: {skipped[1]}", file=sys.stderr, flush=True)
            print(skipped[0], flush=True)
            return
        path = run(cfg, out_dir)
        clear_skip(out_dir)
    except DotcliError as exc:
        print(f"dot-run: error: {exc}", file=sys.stderr, flush=True)
        write_failure(cfg, out_dir, str(exc) + job_logs())
        clear_skip(out_dir)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job and goes on with the others
        sys.exit(2)
    print(path, flush=True)


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
    """``dot-run [overrides]``."""
    _run_app()


def table_main(argv: list[str] | None = None) -> None:
    """``dot-table [RUN_OR_SWEEP_DIR ...] [--out results]``."""
    from dotcli.tables import main

    try:
        main(argv)
    except DotcliError as exc:
        print(f"dot-table: error: {exc}", file=sys.stderr)
        sys.exit(2)
