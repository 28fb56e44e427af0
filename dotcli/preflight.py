"""Pre-flight: before a grid cell runs, check that this machine has what the cell needs.

A cell whose inputs are missing (a checkpoint, a dataset, the Inception weights, a GPU for a
50k-sample run) is *skipped*, not failed: ``skipped.json`` (the reasons and the config) goes into its
run directory, ``dot-run`` exits 0 and the grid goes on; ``dot-table`` writes the reason into the
table cell. A cell that has what it needs and then errors is a failure (``failed.json``).

Only active with ``preflight.skip_unavailable=true`` (the experiment configs under
``configs/experiment/`` set it); a plain ``dot-run`` fails with the loader's one-line error instead.
The checks call the same functions the run calls (``resolve_checkpoint``, the dataset's reference
files, ``resolve_inception_weights``), so a cell that passes them finds its files in the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dotcli import DotcliError
from dotcli.records import FAILURE_NAME, claim_run_dir, config_hash, write_json_atomic

SKIP_NAME = "skipped.json"


@dataclass(frozen=True)
class Missing:
    """One input the machine lacks: ``what`` is a short label for table cells, ``reason`` the full line.

    A checkpoint file also carries its original ``file`` name and its model config's ``help`` (where to get it).
    """

    what: str
    reason: str
    file: str = ""
    help: str = ""


def _as_plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def gpu_missing(cfg: DictConfig) -> Missing | None:
    """A GPU is needed when ``trials * n_samples`` exceeds ``preflight.require_gpu_above_samples``."""
    import torch

    from dotcli.components import pick_device  # lazy: torch and hydra only when a check runs

    try:
        device = pick_device(cfg.device)
    except DotcliError as exc:  # device=cuda on a machine without CUDA
        return Missing("no GPU", str(exc))
    limit = cfg.preflight.get("require_gpu_above_samples")
    total = int(cfg.n_samples) * int(cfg.trials)
    if limit is not None and device.type != "cuda" and total > int(limit):
        where = "cpu" if not torch.cuda.is_available() else f"{device} (device={cfg.device})"
        return Missing("no GPU", f"needs a GPU: {cfg.n_samples} samples x {cfg.trials} trial(s) on {where} is "
                                 f"more than preflight.require_gpu_above_samples={limit}; run it on a GPU machine "
                                 "or lower n_samples")
    return None


def _file_specs(node: Any) -> list[Mapping[str, Any]]:
    """Checkpoint file specs (``{name, url | package | sha256, ...}``) anywhere under a model's file entry."""
    if isinstance(node, Mapping):
        if "name" in node and any(k in node for k in ("url", "package", "sha256")):
            return [node]
        return [spec for value in node.values() for spec in _file_specs(value)]
    return []


def checkpoints_missing(cfg: DictConfig, allow_download: bool) -> list[Missing]:
    """The model's files for this dataset, looked up (and fetched when allowed) as the loader does."""
    from dotcli.checkpoints import is_url, resolve_checkpoint, url_spec

    model = _as_plain(cfg.model)
    paths = {**_as_plain(cfg.paths), "allow_download": allow_download}
    out = []
    given = model.get("checkpoint")  # user checkpoints (custom, collections_sngan): one path or {G, D}
    run_dir = model.get("checkpoint_dir")  # a run directory of checkpoint files (model=studiogan)
    specs = [] if given or run_dir else _file_specs((model.get("files") or {}).get(cfg.dataset.name))  # given wins
    if is_url(given):
        specs = [url_spec(given)]
    for spec in specs:
        try:
            resolve_checkpoint(spec, paths)
        except DotcliError as exc:
            no_url = not spec.get("url") and not spec.get("package")
            out.append(Missing("checkpoint missing", str(exc), file=str(spec["name"]),
                               help=str(spec.get("help") or "") if no_url else ""))
    if run_dir and not is_url(run_dir) and not Path(str(run_dir)).expanduser().is_dir():
        out.append(Missing("checkpoint missing", f"checkpoint directory {run_dir} (model.checkpoint_dir) does not "
                           "exist"))
    for role, path in (given.items() if isinstance(given, Mapping) else [("", given)]):
        if path and not is_url(path) and not Path(str(path)).expanduser().is_file():
            key = f"model.checkpoint{'.' + role if role else ''}"
            out.append(Missing("checkpoint missing", f"checkpoint {path} ({key}) does not exist"))
    return out


def data_missing(cfg: DictConfig, allow_download: bool) -> list[Missing]:
    """Image datasets: the reference and held-out files are there (or fetched when allowed)."""
    from dotcli.components import build

    data = cfg.dataset.data
    if cfg.dataset.get("kind", "toy") == "toy" or not cfg.metrics.get("evaluate", True):
        return []
    kwargs = {"download": allow_download} if "download" in data else {}
    try:
        dataset = build(data, "dataset", "dataset.data", **kwargs)
        dataset.reference_identity()  # lists / fingerprints the reference files (downloads them if allowed)
        dataset.heldout()
    except DotcliError as exc:
        return [Missing("dataset missing", str(exc))]
    return []


def weights_missing(cfg: DictConfig, allow_download: bool) -> list[Missing]:
    """The feature extractor's weights (the Inception's, DINOv2's, CLIP's), when this cell scores images."""
    from dotcli.metrics.extractors import INCEPTION, resolve_extractor_weights

    m = cfg.metrics
    if cfg.dataset.get("kind", "toy") == "toy" or not m.get("evaluate", True):
        return []
    name = str(m.get("feature_extractor", INCEPTION))
    try:
        resolve_extractor_weights(name, weights=m.get("inception_weights"),
                                  extractor_weights=m.get("feature_extractor_weights"), allow_download=allow_download)
    except DotcliError as exc:
        what = "Inception" if name == INCEPTION else name
        return [Missing(f"{what} weights missing", str(exc))]
    return []


def missing_inputs(cfg: DictConfig) -> list[Missing]:
    """Everything the cell lacks on this machine (empty: it can run).

    When a GPU is missing nothing is downloaded: the cell cannot run here anyway, and the local
    look-up still lists which files would be missing too.
    """
    gpu = gpu_missing(cfg)
    download = bool(cfg.paths.get("allow_download", True)) and gpu is None
    found = [gpu] if gpu else []
    if gpu is None:
        found += checkpoints_missing(cfg, download) + data_missing(cfg, download) + weights_missing(cfg, download)
    return found


def _alternatives(cfg: DictConfig) -> str:
    """What runs without the model's files: the shipped pair on the toys, a user's or a random pair on images."""
    if cfg.dataset.get("kind", "toy") == "toy":
        return "model=dotcli_wgangp (shipped inside dotcli)"
    return ("model=collections_sngan model.checkpoint=/path/to/model.pt (a pytorch-gan-collections SNGAN of your "
            "own), or model=random_dcgan32 metrics=none (random weights: flat grey samples, seconds on a CPU) to try "
            "the pipeline")


def recipe(cfg: DictConfig, missing: list[Missing]) -> str:
    """Everything this run lacks and how to get it, as one message of a few lines.

    The model's files that have no direct URL are named together with where to download them (their
    config's ``help``, one line per source), where to put them and what runs without them.
    """
    from dotcli.checkpoints import ENV_DIR, search_dirs

    by_source: dict[str, list[str]] = {}  # help with the file name taken out -> the files it covers
    others = []
    for m in missing:
        if m.file and m.help:
            by_source.setdefault(m.help.replace(m.file, "{}"), []).append(m.file)
        else:
            others.append(f"  - {m.what}: {m.reason}")
    lines = [f"dataset={cfg.dataset.name} model={cfg.model.name} cannot run: missing input(s):"]
    if by_source:
        looked = ", ".join(str(d) for d in search_dirs(cfg.paths))
        for source, files in by_source.items():
            them = "them" if len(files) > 1 else "it"
            lines.append(f"  - checkpoint(s) {' and '.join(files)}: {source.replace('{}', them)}, then put "
                         f"{them} (original names) in ${ENV_DIR} or paths.checkpoints=DIR (looked in {looked})")
        lines.append(f"    without them: {_alternatives(cfg)}")
    lines += others
    return "\n".join(lines)


def explain_missing(cfg: DictConfig, error: DotcliError, model_only: bool = False) -> DotcliError:
    """After ``error`` stopped a run's set-up: one error naming every missing input with its recipe
    (:func:`recipe`), or ``error`` itself when nothing is missing (it had another cause) or when one input
    is missing whose one-line error already says how to get it. ``model_only``: only the model's own files
    count (loading a pair needs no data or feature extractor, so their absence cannot be its cause)."""
    try:
        missing = checkpoints_missing(cfg, allow_download=False) if model_only else missing_inputs(cfg)
    except Exception:  # the checks themselves fail on this config: the original error says why
        return error
    if not missing or (len(missing) == 1 and not missing[0].help):
        return error  # nothing missing, or one input whose own line says all: stays one line
    return DotcliError(recipe(cfg, missing))


def skip_if_unavailable(cfg: DictConfig, out_dir: Path) -> tuple[Path, str] | None:
    """With ``preflight.skip_unavailable``: write ``skipped.json`` and return (its path, the reason) when
    an input is missing. A finished record with the same config is never skipped (it is kept as it is)."""
    pre = cfg.get("preflight")
    if not pre or not pre.get("skip_unavailable"):
        return None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    chash = config_hash(resolved)
    if claim_run_dir(out_dir, chash) is not None:
        return None
    missing = missing_inputs(cfg)
    if not missing:
        return None
    reason = "; ".join(m.reason for m in missing)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_json_atomic(out_dir / SKIP_NAME, {
        "dataset": cfg.dataset.name, "model": cfg.model.name, "method": cfg.method.name,
        "skipped": sorted({m.what for m in missing}), "reason": reason,
        "missing": [{"what": m.what, "reason": m.reason} for m in missing],
        "config": resolved, "config_hash": chash,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    (out_dir / FAILURE_NAME).unlink(missing_ok=True)  # an older failure of this cell is superseded
    return path, reason


def clear_skip(out_dir: Path) -> None:
    """Remove a stale ``skipped.json`` once the cell has run (or failed for another reason)."""
    try:
        (Path(out_dir) / SKIP_NAME).unlink(missing_ok=True)
    except OSError:  # an unwritable directory: its error is reported by the caller already
        pass

