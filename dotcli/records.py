"""Result records: one ``result.json`` per run, written atomically, keyed by a config hash.

The record's layout is :class:`Record` (docs/protocol.md#records). ``schema_version`` says which layout a file
has: 0 (no field) is the layout before the field existed, identical otherwise; a reader refuses a record of a
newer version than :data:`SCHEMA_VERSION` with one line instead of misreading it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dotcli import DotcliError

RECORD_NAME = "result.json"
FAILURE_NAME = "failed.json"
#: the layout of :class:`Record` written by this version of dotcli (0: records without the field)
SCHEMA_VERSION = 1
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


@dataclass
class Cost:
    """What a run cost: seconds per phase and network evaluations (a forward+backward counts once)."""

    wall_s: float
    setup_s: float
    sample_s: float
    eval_s: float
    g_evals_per_sample: float
    d_evals_per_sample: float
    setup_g_evals: int
    setup_d_evals: int
    #: the sampler's own counters (``Sampler.stats()``, e.g. DRS's acceptance rate), written beside these
    sampler: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sampler"}
        return {**own, **self.sampler}


@dataclass
class Record:
    """One run's ``result.json``: what ran, what it scored, what it cost, and the config that made it.

    ``metrics`` holds each metric's mean over trials with ``<m>_std`` and ``<m>_trials``; ``metrics_by_step``
    the same per recorded step (``method.record_every``); ``params`` the method's keys and, under ``setup``,
    what each trial's ``Sampler.setup`` found (k_eff, calibration).
    """

    dataset: str
    model: str
    method: str
    method_info: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    metrics_by_step: dict[str, dict[str, Any]]
    cost: Cost
    evaluation: dict[str, Any]
    seed: int
    trials: int
    n_samples: int
    device: str
    device_name: str
    versions: dict[str, str]
    created: str
    figures: list[str]
    config: dict[str, Any]
    config_hash: str
    #: what the model's loader found and decided (attention block used, how SN sigma is computed...)
    model_notes: dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The JSON object, keys in field order."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["cost"] = self.cost.to_json()
        return out


def check_schema(record: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``record`` itself when this dotcli reads its layout; a newer ``schema_version`` is one clear error."""
    version = record.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise DotcliError(f"{path}: schema_version={version!r} is not a record layout version (expected an integer "
                          f"0..{SCHEMA_VERSION})")
    if version > SCHEMA_VERSION:
        raise DotcliError(f"{path}: record schema_version {version} is newer than this dotcli reads "
                          f"(up to {SCHEMA_VERSION}); upgrade dotcli to read it")
    return record


def read_record(path: str | Path) -> dict[str, Any]:
    """Load one record (or failure/skip note) and check its layout version."""
    with open(path) as f:
        return check_schema(json.load(f), path)


def config_hash(config: dict[str, Any]) -> str:
    """A short hash of the parts of a resolved config that determine the numbers."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_KEYS}
    if isinstance(semantic.get("dataset"), dict):
        semantic["dataset"] = {part: ({k: v for k, v in sub.items() if k not in LOCAL_DATASET_KEYS}
                                      if isinstance(sub, dict) else sub)
                               for part, sub in semantic["dataset"].items()}
    blob = json.dumps(_jsonable(semantic), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def job_config_hash(root: Any) -> str:
    """``config_hash`` of a composed job config (an OmegaConf node), ignoring its ``hydra`` node.

    Equals the ``config_hash`` of the record the job writes.
    """
    from omegaconf import OmegaConf

    semantic = {k: OmegaConf.to_container(root[k], resolve=True) if OmegaConf.is_config(root[k]) else root[k]
                for k in root if k != "hydra"}
    return config_hash(semantic)


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


def write_json_atomic(path: str | Path, data: dict[str, Any] | Record) -> Path:
    """Write ``data`` (a dict or a :class:`Record`) as indented JSON, atomically."""
    if isinstance(data, Record):
        data = data.to_json()
    text = json.dumps(_jsonable(data), indent=2) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


def finished_record(out_dir: Path, chash: str) -> Path | None:
    """The run directory's record if it exists and was made from the same config."""
    path = out_dir / RECORD_NAME
    try:
        with open(path) as f:
            return path if json.load(f).get("config_hash") == chash else None
    except (OSError, ValueError):
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

    Each gets its location in ``_path``. A record of a newer ``schema_version`` than this dotcli reads is an
    error (:func:`check_schema`).
    """
    records = []
    for path in find_records(list(paths), name):
        rec = read_record(path)
        rec["_path"] = str(path)
        records.append(rec)
    return records


def write_failure(cfg: Any, out_dir: str | Path, error: str) -> Path | None:
    """Leave ``failed.json`` (error + config) so tables can show why a cell is missing.

    Here, not in :mod:`dotcli.runner`: ``dot-run`` writes it for a config error before importing torch.
    """
    from datetime import datetime, timezone

    from omegaconf import OmegaConf

    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        return write_json_atomic(Path(out_dir) / FAILURE_NAME, {
            "dataset": cfg.dataset.name, "model": cfg.model.name, "method": cfg.method.name,
            "error": error, "config": resolved, "config_hash": config_hash(resolved),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "schema_version": SCHEMA_VERSION})
    except Exception:  # the directory itself may be the problem; the error line is printed anyway
        return None
