"""Result records: one ``result.json`` per run, written atomically, keyed by a config hash."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
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


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through ``write(file)`` into a temporary file next to ``path``, fsync, rename over ``path``.

    Readers see the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
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
