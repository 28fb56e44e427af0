"""Result records: one ``result.json`` per run, written atomically, keyed by a config hash."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

RECORD_NAME = "result.json"
FAILURE_NAME = "failed.json"
# Top-level config keys that do not change the numbers a run produces.
NON_SEMANTIC_KEYS = ("paths", "hydra", "device", "batch_size", "save_samples", "progress", "preflight")
# Keys inside ``dataset`` that say where files live or whether they may be fetched, not what is computed:
# left out of the hash so that a record made on another machine (other paths) still counts as finished.
LOCAL_DATASET_KEYS = ("root", "download", "num_workers", "cache_dir", "allow_download", "save_samples")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _jsonable(obj.item())
    return obj


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of the parts of a resolved config that determine the numbers."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_KEYS}
    if isinstance(semantic.get("dataset"), dict):
        semantic["dataset"] = {part: ({k: v for k, v in sub.items() if k not in LOCAL_DATASET_KEYS}
                                      if isinstance(sub, dict) else sub)
                               for part, sub in semantic["dataset"].items()}
    blob = json.dumps(_jsonable(semantic), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through ``write(file)`` into a temporary file next to ``path``, fsync, rename over ``path``.

    Readers see the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: give it the mode open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(_jsonable(data), indent=2) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


def write_failure(cfg: Any, out_dir: str | Path, error: str) -> Path | None:
    """Leave ``failed.json`` (error + config) so tables can show why a cell is missing.

    Here, not in :mod:`dotcli.run`: ``dot-run`` writes it for a config error before importing torch.
    """
    from omegaconf import OmegaConf

    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        return write_json_atomic(Path(out_dir) / FAILURE_NAME, {
            "dataset": cfg.dataset.name, "model": cfg.model.name, "method": cfg.method.name,
            "error": error, "config": resolved, "config_hash": config_hash(resolved),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except Exception:  # the directory itself may be the problem; the error line is printed anyway
        return None


def find_records(paths: Iterable[str | Path], name: str = RECORD_NAME) -> list[Path]:
    """All files called ``name`` under the given run or sweep directories (or the files themselves)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == name:
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(p.rglob(name)))
    return found


def load_records(paths: Iterable[str | Path], name: str = RECORD_NAME) -> list[dict[str, Any]]:
    """Load every record (or, with ``name=FAILURE_NAME``, failure note) under ``paths``.

    Each gets its location in ``_path``.
    """
    records = []
    for path in find_records(list(paths), name):
        with open(path) as f:
            rec = json.load(f)
        rec["_path"] = str(path)
        records.append(rec)
    return records
