"""Hydra callbacks: fail early, in one line, when the output directory cannot be written or is in use."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def unwritable_reason(target: Path) -> str | None:
    """Why ``target`` (a directory to be created) cannot be written, or ``None`` if it can."""
    path = target.absolute()
    while not path.exists():  # the nearest existing ancestor decides
        path = path.parent
    if not path.is_dir():
        return f"{path} is not a directory"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def _fail(line: str) -> None:
    print(f"dot-run: error: {line}", file=sys.stderr, flush=True)
    sys.exit(2)


class OutputDirCheck(Callback):
    """Checks ``hydra.run.dir`` / ``hydra.sweep.dir`` before Hydra creates them; locks a run's directory.

    The directory is created here, so a place no file can go (``/proc/x``, ``/sys/x``: writable by
    permission bits for root, refused by the kernel) fails in one line, not in Hydra's traceback.
    """

    def _check(self, directory: str, key: str) -> None:
        reason = unwritable_reason(Path(directory))
        if reason is None:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                probe = Path(directory) / ".dotcli_write_probe"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
        if reason:
            _fail(f"output directory {directory} cannot be created ({reason}); choose another with {key}=...")

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from dotcli.rundir import RunDirBusy, lock_run_dir

        self._check(config.hydra.run.dir, "hydra.run.dir")
        try:  # locked before Hydra writes .hydra/ into it: a busy directory is left as it is
            lock_run_dir(config.hydra.run.dir, _job_hash(config))
        except RunDirBusy as exc:
            _fail(str(exc))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")


def _job_hash(config: DictConfig) -> str | None:
    """The config hash the run's record will carry, or ``None`` when the config does not resolve yet."""
    from dotcli.records import job_config_hash

    try:
        return job_config_hash(config)
    except Exception:  # resolved (and reported) inside the run
        return None
