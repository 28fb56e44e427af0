"""Finding weight files: local directories first, then the cache, then a checked download.

A file spec (from a model config) is ``{name, url, sha256, package}``: ``name`` is the original
file name, ``url`` a direct download address (or ``null`` with ``help`` saying where to get it),
``sha256`` the expected content hash, ``package`` a path inside dotcli's own assets.

Where the publisher gives no hash (``sha256: null`` with ``hash_published: false``, e.g. NVIDIA's network
pickles), the first download records the file's sha256 beside it in the cache (``<name>.sha256``) and every
later use checks the file against that record: a changed file is an error, not a silent swap.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import dotcli.resolvers  # noqa: F401  (a file spec's help may be ${dotcli_drive:...}: resolvable wherever specs are read)
from dotcli import DotcliError
from dotcli.records import current_umask

ENV_DIR = "DOTCLI_CHECKPOINTS"


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _get(spec: Any, key: str, default: Any = None) -> Any:
    return spec.get(key, default) if hasattr(spec, "get") else getattr(spec, key, default)


def search_dirs(paths: Any) -> list[Path]:
    """Where files are looked for, in order: ``paths.checkpoints``, ``$DOTCLI_CHECKPOINTS``, the cache."""
    dirs = []
    for d in (_get(paths, "checkpoints"), os.environ.get(ENV_DIR)):
        if d:
            dirs.append(Path(str(d)).expanduser())
    dirs.append(cache_dir(paths))
    return dirs


def cache_dir(paths: Any) -> Path:
    root = _get(paths, "cache") or os.path.join(os.path.expanduser("~"), ".cache", "dotcli")
    return Path(str(root)).expanduser() / "checkpoints"


def _check_hash(path: Path, expected: str | None) -> Path:
    if expected:
        actual = sha256_of(path)
        if actual != expected:
            raise DotcliError(f"checkpoint {path} has sha256 {actual[:12]}..., expected {expected[:12]}... "
                              "(a different or corrupted file); replace it with the original file")
    return path


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def url_spec(url: str) -> dict[str, Any]:
    """The file spec of a checkpoint given as a URL: no published hash, so its first download's hash is kept."""
    name = urllib.parse.unquote(urllib.parse.urlparse(url).path).rsplit("/", 1)[-1]
    if not name or name in (".", "..") or "\\" in name:
        raise DotcliError(f"checkpoint URL {url} does not end with a file name")
    return {"name": name, "url": url, "sha256": None, "hash_published": False}


def recorded_hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _check_recorded_hash(path: Path) -> Path:
    """A file downloaded without a published hash: it must still be the file first downloaded."""
    record = recorded_hash_path(path)
    if record.is_file():
        expected = record.read_text().split()[0] if record.read_text().strip() else ""
        actual = sha256_of(path)
        if actual != expected:
            raise DotcliError(f"checkpoint {path} has sha256 {actual[:12]}..., but its first download had "
                              f"{expected[:12]}... (recorded in {record}); the file changed: delete both to "
                              "download it again")
    return path


def resolve_checkpoint(spec: Any, paths: Any) -> Path:
    """Return a local path for a file spec, downloading (and hash-checking) it if needed."""
    name = _get(spec, "name")
    package_path = _get(spec, "package")
    if package_path:  # shipped inside dotcli itself
        path = Path(str(resources.files("dotcli").joinpath(package_path)))
        if not path.is_file():
            raise DotcliError(f"packaged checkpoint {package_path} is missing from the dotcli install "
                              f"({path}); reinstall dotcli")
        return _check_hash(path, _get(spec, "sha256"))
    dirs = search_dirs(paths)
    unpublished = not _get(spec, "sha256") and _get(spec, "hash_published", True) is False
    for d in dirs:
        if (d / name).is_file():
            if unpublished:
                return _check_recorded_hash(d / name)
            return _check_hash(d / name, _get(spec, "sha256"))
    url = _get(spec, "url")
    looked = ", ".join(str(d) for d in dirs)
    if not url:
        raise DotcliError(f"checkpoint {name} not found (looked in {looked}); "
                          f"{_get(spec, 'help', 'download it')} and put it in one of those directories "
                          f"or set paths.checkpoints / ${ENV_DIR}")
    if not _get(spec, "sha256") and not _get(spec, "allow_unverified", False) and not unpublished:
        raise DotcliError(f"checkpoint {name} has a url ({url}) but no sha256 in its model config: dotcli does not "
                          "download and use a file it cannot verify; add its sha256 to the file entry (or, for "
                          "a source you trust, allow_unverified: true), or put the file in one of: " + looked)
    if not _get(paths, "allow_download", True):
        raise DotcliError(f"checkpoint {name} not found (looked in {looked}) and downloads are off "
                          f"(paths.allow_download=false); fetch {url} into one of those directories")
    return download(url, cache_dir(paths) / name, _get(spec, "sha256"), record_hash=unpublished)


def _copy_with_progress(resp: Any, out: Any, name: str, chunk: int = 1 << 20) -> None:
    """Copy the response to ``out``, printing the progress on stderr (one updating line)."""
    total = int(resp.headers.get("Content-Length") or 0) if getattr(resp, "headers", None) else 0
    done = 0
    while block := resp.read(chunk):
        out.write(block)
        done += len(block)
        of = f" of {total / 1e6:.1f}" if total else ""
        print(f"\rdownloading {name}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)
    if done:
        print(file=sys.stderr, flush=True)


def download(url: str, dest: Path, sha256: str | None, record_hash: bool = False) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its sha256 (or, ``record_hash``, recording it).

    The data goes to a ``.part`` file that replaces ``dest`` only when complete and checked: an interrupted
    download (error, Ctrl-C) leaves no file that a later run would use.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # like any other file, not mkstemp's 0600
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            _copy_with_progress(resp, out, dest.name)
        _check_hash(Path(tmp), sha256)
        if record_hash:
            record = recorded_hash_path(dest)
            record_tmp = record.with_name(record.name + ".part")
            record_tmp.write_text(f"{sha256_of(tmp)}  {dest.name}\n")
            os.replace(record_tmp, record)
        os.replace(tmp, dest)
    except DotcliError:
        os.unlink(tmp)
        raise
    except Exception as exc:
        os.unlink(tmp)
        raise DotcliError(f"could not download {dest.name} from {url} ({exc}); download it by hand into "
                          f"{dest.parent} or a directory named by paths.checkpoints / ${ENV_DIR}") from exc
    except BaseException:  # Ctrl-C: no partial file stays behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest
