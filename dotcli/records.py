"""Result records: one ``result.json`` per run, written atomically, keyed by a config hash."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RECORD_NAME = "result.json"
FAILURE_NAME = "failed.json"
# Top-level config keys that do not change the numbers a run produces.
NON_SEMANTIC_KEYS = ("paths", "hydra", "device", "batch_size", "save_samples", "progress")


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
    blob = json.dumps(_jsonable(semantic), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> Path:
    """Write JSON to a temporary file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_jsonable(data), f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
