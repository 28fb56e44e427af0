"""Hydra callbacks: fail early, in one line, when the output directory cannot be written."""

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


class OutputDirCheck(Callback):
    """Checks ``hydra.run.dir`` / ``hydra.sweep.dir`` before Hydra creates them."""

    def _check(self, directory: str, key: str) -> None:
        reason = unwritable_reason(Path(directory))
        if reason:
            print(f"dot-run: error: output directory {directory} cannot be created ({reason}); "
                  f"choose another with {key}=...", file=sys.stderr, flush=True)
            sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")
