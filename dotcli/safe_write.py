"""Every file dotcli writes goes through here: nothing is ever written through a symlink or into a special file.

A run or output directory is a place other people's files can be linked into (``samples.png -> ~/thesis.png``).
So a file is never opened in place by name:

* a whole file (record, figure, table, samples, Hydra's saved config) is written into a fresh temporary file
  in the same directory (``mkstemp``: ``O_CREAT | O_EXCL``, so never an existing file or link), synced, and
  renamed over the name (``os.replace``): a symlink, FIFO or socket at the name is replaced itself, its target
  is never opened. Readers see the old file or the new one, never half of one; a failed write (a full disk,
  a read-only place) leaves no temporary file and one line naming the path.
* a file kept open in place (the run's lock, its log) is opened with ``O_NOFOLLOW`` and checked to be a regular
  file after opening; the log first replaces a link or special file at its name with a fresh file.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dotcli import DotcliError


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status``; else set and restore)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or type(exc).__name__


def write_error(path: str | Path, exc: OSError) -> DotcliError:
    """The one-line error for a file that could not be written."""
    return DotcliError(f"cannot write {path} ({_reason(exc)}); nothing was written there")


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` that fails in one line naming the path (a file in the way, a read-only place, ``/proc``)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DotcliError(f"cannot write into {path}: it or a folder above it is a file, not a directory") from None
    except OSError as exc:
        raise DotcliError(f"cannot create the directory {path} ({_reason(exc)})") from exc
    return path


def replace_link(path: str | Path) -> None:
    """Remove a symlink, FIFO, socket, device node or hard link at ``path`` (the name only, never the file it
    names), so a regular file of its own can be made there.

    A directory at ``path`` is refused in one line (dotcli removes no directory it did not make).
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_error(path, exc) from exc
    if stat.S_ISREG(mode) and os.lstat(path).st_nlink == 1:
        return
    if stat.S_ISDIR(mode):
        raise DotcliError(f"cannot write {path}: a directory is in the way (expected a file or nothing)")
    try:
        os.unlink(path)
    except OSError as exc:
        raise write_error(path, exc) from exc


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through ``write(file)`` into a temporary file next to ``path``, fsync, rename over ``path``.

    Readers see the old file or the new one, never a half-written one. A symlink (or other non-regular file) at
    ``path`` is replaced, its target left as it is; a directory there is refused. An ``OSError`` (full disk,
    read-only place) leaves nothing behind and is raised as one line naming ``path``.
    """
    path = Path(path)
    make_dir(path.parent)
    if os.path.isdir(path) and not os.path.islink(path):
        raise DotcliError(f"cannot write {path}: a directory is in the way (expected a file or nothing)")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: give it the mode open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # a link at ``path`` is replaced itself: its target is never opened
        tmp = None
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_atomic`)."""
    data = text.encode()
    return write_atomic(path, lambda f: f.write(data))


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """``fig.savefig`` into ``path`` atomically (matplotlib itself would open ``path`` and follow a link there)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return write_atomic(path, lambda f: fig.savefig(f, format=fmt, **savefig))


def open_regular(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` of a regular file that is never a symlink's target (``O_NOFOLLOW``); a descriptor.

    A link at ``path`` or a non-regular file (FIFO, device, directory) is refused in one line naming it.
    """
    path = Path(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DotcliError(f"{path} is a symbolic link; dotcli writes no file through a link "
                              "(remove it, or choose another directory)") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise DotcliError(f"{path} is not a regular file (remove it, or choose another directory)") from None
        raise write_error(path, exc) from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise DotcliError(f"{path} is not a regular file (remove it, or choose another directory)")
    if info.st_nlink > 1:  # a hard link to someone's file: writing in place would change that file
        os.close(fd)
        raise DotcliError(f"{path} has other hard links; dotcli writes no file in place that is also another name "
                          "(remove it, or choose another directory)")
    os.set_blocking(fd, True)
    return fd


def check_writable_dir(path: str | Path, key: str) -> Path:
    """Create ``path`` and prove a file can be made in it (``mkstemp``, so never through an existing name).

    Fails in one line naming ``path`` and ``key`` (the option that chooses it): a file in the way, a read-only
    place, a full disk, a kernel file system (``/proc``) where permission bits say yes and the kernel says no.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".dotcli_write_probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if isinstance(exc, FileExistsError | NotADirectoryError):
            reason = "it or a folder above it is a file, not a directory"
        elif exc.errno == errno.ENOENT and path.is_dir():  # /proc: a directory where the kernel makes no file
            reason = "no file can be created there"
        else:
            reason = _reason(exc)
        raise UnwritableDir(f"cannot write into {path} ({reason}); choose another with {key}", reason) from exc
    return path


class UnwritableDir(DotcliError):
    """A directory no file can be made in; ``reason`` is why, in a few words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SafeFileHandler(logging.FileHandler):
    """``logging.FileHandler`` that never appends through a symlink: a link or special file at the log's name is
    replaced by a fresh regular file (the link's target is never opened), and the file is opened ``O_NOFOLLOW``."""

    _warned = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802  (logging's name)
        """A log line that cannot be written (full disk): one warning line, once, instead of a traceback per line;
        the run goes on (its record says what the log would have)."""
        import sys

        exc = sys.exc_info()[1]
        if not self._warned:
            self._warned = True
            reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
            print(f"dot-run: warning: cannot write the log {self.baseFilename} ({reason}); the run goes on without it",
                  file=sys.stderr, flush=True)

    def _open(self) -> IO[str]:
        replace_link(self.baseFilename)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in self.mode else os.O_TRUNC)
        fd = open_regular(self.baseFilename, flags)
        return os.fdopen(fd, "a" if "a" in self.mode else "w", encoding=self.encoding, errors=self.errors)
