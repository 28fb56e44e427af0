"""Hydra callbacks: fail early, in one line, when the output directory cannot be written or is in use.

Importing this module (Hydra does, to build the callbacks, in every process that runs a job) also makes
Hydra save ``.hydra/*.yaml`` through :mod:`dotcli.safe_write`, so they are never written through a symlink.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dotcli import DotcliError
from dotcli.records import RECORD_NAME, config_hash, load_json, record_problem
from dotcli.safe_write import UnwritableDir, check_writable_dir, replace_link, write_text_atomic


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
            try:  # a probe made with O_EXCL: never a file that a link at some name points to
                check_writable_dir(directory, key)
            except UnwritableDir as exc:
                reason = exc.reason
        if reason:
            _fail(f"output directory {directory} cannot be created ({reason}); choose another with {key}=...")

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from dotcli.records import claim_run_dir
        from dotcli.rundir import lock_run_dir

        self._check(config.hydra.run.dir, "hydra.run.dir")
        chash = _job_hash(config)
        try:  # locked before Hydra writes .hydra/ into it: a busy directory is left as it is
            lock_run_dir(config.hydra.run.dir, chash)
            if chash is not None:  # another config's finished record: its .hydra/ and log stay as they are
                claim_run_dir(Path(config.hydra.run.dir), chash)
        except DotcliError as exc:
            _fail(str(exc))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")
        try:  # Hydra's sweeper saves multirun.yaml by opening its name: replace a link there first
            replace_link(Path(config.hydra.sweep.dir) / "multirun.yaml")
        except DotcliError as exc:
            _fail(str(exc))


def _job_hash(config: DictConfig) -> str | None:
    """The config hash the run's record will carry, or ``None`` when the config does not resolve yet."""
    from dotcli.records import job_config_hash

    try:
        return job_config_hash(config)
    except Exception:  # resolved (and reported) inside the run
        return None


_foreign: set[str] = set()  # .hydra directories of a run dir that holds another config's finished record


def save_yaml_config(cfg: Any, filename: str, output_dir: Path) -> None:
    """Hydra's ``_save_config`` (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``), written atomically.

    A link at ``.hydra`` itself (a directory elsewhere) is replaced by a directory of the run's own. When the
    run directory holds the finished record of another config (a multirun job; a single run is refused
    before this), that record's saved configs are left as they are: the job itself then refuses in one line.
    """
    from omegaconf import OmegaConf

    output_dir = Path(output_dir)
    if filename == "config.yaml":  # Hydra saves the job's config first, then hydra.yaml and overrides.yaml
        _foreign.discard(str(output_dir))
        if _holds_another_config(output_dir.parent, cfg):
            _foreign.add(str(output_dir))
    if str(output_dir) in _foreign:
        return
    try:
        if os.path.islink(output_dir):
            os.unlink(output_dir)
        write_text_atomic(output_dir / filename, OmegaConf.to_yaml(cfg))
    except (DotcliError, OSError) as exc:  # a file where .hydra/ goes, a full disk: one line, not Hydra's traceback
        _fail(str(exc) if isinstance(exc, DotcliError) else f"cannot write {output_dir / filename} ({exc.strerror})")


def _holds_another_config(run_dir: Path, cfg: Any) -> bool:
    from omegaconf import OmegaConf

    data, problem = load_json(run_dir / RECORD_NAME) if (run_dir / RECORD_NAME).is_file() else (None, "absent")
    if problem or record_problem(data, check_hash=True):
        return False
    try:
        return config_hash(OmegaConf.to_container(cfg, resolve=True)) != data["config_hash"]
    except Exception:  # a config that does not resolve here: the job reports it
        return False


def install_hydra_writes() -> None:
    """Make Hydra write its saved configs through :func:`save_yaml_config` (it calls ``hydra.core.utils._save_config``
    by that name for every job, in whatever process runs the job)."""
    import hydra.core.utils

    hydra.core.utils._save_config = save_yaml_config


install_hydra_writes()
