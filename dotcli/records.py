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
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotcli import DotcliError
from dotcli.safe_write import current_umask, write_atomic, write_text_atomic  # noqa: F401  (re-exported)

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


class RecordConflict(DotcliError):
    """The run directory holds the finished record of another config: a run never overwrites it."""


#: what every finished record has, with its JSON type (the fields of :class:`Record` without a default)
FINISHED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "dataset": str, "model": str, "method": str, "method_info": dict, "params": dict, "metrics": dict,
    "metrics_by_step": dict, "cost": dict, "evaluation": dict, "seed": int, "trials": int, "n_samples": int,
    "device": str, "device_name": str, "versions": dict, "created": str, "figures": list, "config": dict,
    "config_hash": str}
#: what the tables read from a record without a default (the other fields, where present, are type-checked too)
TABLE_FIELDS: dict[str, type | tuple[type, ...]] = {k: FINISHED_FIELDS[k] for k in ("dataset", "model", "method",
                                                                                    "metrics", "config")}
#: what every ``failed.json`` / ``skipped.json`` note has
NOTE_FIELDS: dict[str, type | tuple[type, ...]] = {"dataset": str, "model": str, "method": str, "config": dict}


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
    return " or ".join(names.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))


def record_problem(data: Any, fields: dict[str, type | tuple[type, ...]] = FINISHED_FIELDS,
                   check_hash: bool = False) -> tuple[str, str] | None:
    """Why ``data`` (a loaded ``result.json``) is not a finished record: ``(slug, sentence)``, or ``None``.

    A finished record is a JSON object with every field of :class:`Record` of its type and a readable
    ``schema_version``, and a ``config_hash`` (required with ``check_hash``, when deciding whether a run is
    done; else checked where present) that is the hash of its own ``config``, so a file that copies the right
    hash without the run behind it, or whose config was edited after the run, is not one.
    """
    if not isinstance(data, dict):
        return "not-an-object", f"is not a JSON object (a {type(data).__name__})"
    missing = [k for k in fields if k not in data]
    if missing:
        return "incomplete", f"lacks {', '.join(missing)}"
    types = {**({"config_hash": str} if fields is NOTE_FIELDS else FINISHED_FIELDS), **fields}
    wrong = [k for k, kind in types.items()
             if k in data and (not isinstance(data[k], kind) or isinstance(data[k], bool))]
    if wrong:
        return "malformed", "; ".join(f"{k} is not {_type_name(types[k])}" for k in wrong)
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= SCHEMA_VERSION:
        return "unknown-version", f"has schema_version {version!r} (this dotcli reads 0..{SCHEMA_VERSION})"
    if fields is not NOTE_FIELDS and not all(isinstance(f, str) for f in data.get("figures") or []):
        return "malformed", "figures is not a list of file names"
    if (check_hash or "config_hash" in data) and config_hash(data["config"]) != data["config_hash"]:
        return "hash-mismatch", f"config_hash {data['config_hash']!r} is not the hash of its own config"
    return None


def load_json(path: str | Path) -> tuple[Any, tuple[str, str] | None]:
    """``(data, None)``, or ``(None, (slug, sentence))`` when ``path`` cannot be read as JSON."""
    try:
        with open(path, "rb") as f:
            return json.load(f), None
    except OSError as exc:
        return None, ("unreadable", f"cannot be read ({exc.strerror or type(exc).__name__})")
    except (ValueError, RecursionError):
        return None, ("not-json", "is not JSON")


def set_aside(path: Path, slug: str) -> Path:
    """Rename ``path`` to ``<name>.<slug>[.N]`` beside it (never over an earlier one); the new path."""
    target = path.with_name(f"{path.name}.{slug}")
    n = 1
    while os.path.lexists(target):
        target = path.with_name(f"{path.name}.{slug}.{n}")
        n += 1
    os.replace(path, target)
    return target


def finished_record(out_dir: Path, chash: str) -> Path | None:
    """The run directory's record if it is a finished record (:func:`record_problem`) of the same config."""
    path = Path(out_dir) / RECORD_NAME
    data, problem = load_json(path)
    if problem or record_problem(data, check_hash=True):
        return None
    return path if data["config_hash"] == chash else None


def claim_run_dir(out_dir: Path, chash: str) -> Path | None:
    """Before a run writes into ``out_dir``: its finished record of this config (the run is done), else ``None``.

    A ``result.json`` that is not a finished record is set aside as ``result.json.<reason>`` with a warning
    (the run recomputes it). A finished record of another config is never overwritten:
    :class:`RecordConflict`, naming both configs.
    """
    path = Path(out_dir) / RECORD_NAME
    if not os.path.lexists(path):
        return None
    data, problem = (None, ("not-a-file", "is not a regular file")) if not path.is_file() or path.is_symlink() \
        else load_json(path)
    problem = problem or record_problem(data, check_hash=True)
    if problem is not None:
        moved = set_aside(path, problem[0])
        print(f"dot-run: warning: {path} {problem[1]}: not a finished record; set aside as {moved.name}, "
              "and the run recomputes it", file=sys.stderr, flush=True)
        return None
    if data["config_hash"] != chash:
        raise RecordConflict(f"{path} is the finished record of another config ({data['config_hash']}, "
                             f"{data['dataset']}/{data['model']}/{data['method']}); this run ({chash}) would replace "
                             "it: choose another directory (hydra.run.dir=... or hydra.sweep.dir=...)")
    return path
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


def write_json_atomic(path: str | Path, data: dict[str, Any] | Record) -> Path:
    """Write ``data`` (a dict or a :class:`Record`) as indented JSON, atomically."""
    if isinstance(data, Record):
        data = data.to_json()
    return write_text_atomic(path, json.dumps(_jsonable(data), indent=2) + "\n")


def record_file(record_path: str | Path, name: Any) -> Path:
    """The file ``name`` (from a record's ``figures``, say) inside the record's own directory.

    A record is a file from anyone: a name that is not a plain relative path (absolute, ``..``, empty) or that
    resolves, through links, outside the record's directory is refused in one line naming the record.
    """
    base = Path(record_path).parent
    bad = not isinstance(name, str) or not name or "\x00" in name or Path(name).is_absolute() \
        or ".." in Path(name).parts
    if not bad:
        target = base / name
        real_base = os.path.realpath(base)
        bad = os.path.commonpath([real_base, os.path.realpath(target)]) != real_base
    if bad:
        raise DotcliError(f"{record_path}: the file {name!r} it names is not inside its directory {base}; refused")
    return target


def find_records(paths: Iterable[str | Path], name: str = RECORD_NAME) -> list[Path]:
    """All files called ``name`` under the given run or sweep directories (or the files themselves)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == name:
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(p.rglob(name)))
    return found


def load_records(paths: Iterable[str | Path], name: str = RECORD_NAME, warn: str | None = None
                 ) -> list[dict[str, Any]]:
    """Load every record (or, with ``name=FAILURE_NAME`` / ``SKIP_NAME``, note) under ``paths``.

    Each gets its location in ``_path``. A file that is not what it claims (:func:`record_problem`) is an error
    naming it; with ``warn`` (a program name) it is one warning line ``<warn>: warning: <file> ...; left out``
    and the others are loaded.
    """
    fields = TABLE_FIELDS if name == RECORD_NAME else NOTE_FIELDS
    records = []
    for path in find_records(list(paths), name):
        rec, problem = load_json(path)
        problem = problem or record_problem(rec, fields)
        if problem is not None:
            if warn is None:
                raise DotcliError(f"{path} {problem[1]}; expected a {name} written by dot-run")
            print(f"{warn}: warning: {path} {problem[1]}; left out (expected a {name} written by dot-run)",
                  file=sys.stderr, flush=True)
            continue
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
