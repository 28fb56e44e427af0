"""One process per run directory: an OS file lock (``fcntl.flock``) on ``<run dir>/.dotcli.lock``.

The lock is held for the whole run and released by the kernel when the process ends, however it ends
(a ``kill -9`` leaves no stale lock). The lock file holds the holder's pid and config hash, so a second
``dot-run`` on the same directory

* with a different config fails at once, naming the directory and the holder's pid (nothing of the
  holder's run is touched: no ``failed.json``, and in a plain run not even Hydra's ``.hydra/``);
* with the same config waits for the holder, then returns its finished record (``run`` never
  recomputes a finished run), or runs the config itself if the holder failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

from dotcli import DotcliError
from dotcli.safe_write import open_regular

LOCK_NAME = ".dotcli.lock"
_held: dict[str, int] = {}  # run directory (absolute) -> descriptor of its locked lock file


class RunDirBusy(DotcliError):
    """Another process holds the run directory with a different config."""


def _holder(fd: int) -> dict:
    """The holder's ``{"pid", "config_hash"}`` (it writes them right after locking: retry briefly)."""
    for _ in range(40):
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            return info
        time.sleep(0.05)
    return {}


def lock_run_dir(out_dir: str | os.PathLike, config_hash: str | None) -> None:
    """Hold ``out_dir``'s lock for this process (a no-op when it holds it already); see the module doc.

    Raises:
        RunDirBusy: another live process holds it for another config (or one this process cannot know).
    """
    out_dir = Path(out_dir).absolute()
    key = str(out_dir)
    if key in _held:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = open_regular(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)  # never a link's target, never a FIFO
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            pid = holder.get("pid", "unknown")
            if config_hash is None or holder.get("config_hash") != config_hash:
                raise RunDirBusy(f"run directory {out_dir} is in use by another dot-run (pid {pid}) with a "
                                 "different config; wait for it to finish or choose another directory "
                                 "(hydra.run.dir=... / hydra.sweep.dir=...)") from None
            print(f"dot-run: waiting for pid {pid}, which runs the same config in {out_dir}",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "config_hash": config_hash}).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = fd


def unlock_run_dir(out_dir: str | os.PathLike) -> None:
    """Release ``out_dir``'s lock if this process holds it (the lock file stays: removing it would race)."""
    fd = _held.pop(str(Path(out_dir).absolute()), None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock
