"""One run: config -> model pair -> sampler -> samples -> evaluation -> result record.

The runner names no method, model or dataset: each comes from its config's ``_target_`` (or
``loader``), so a new sampler is a new file plus a config file, and nothing here changes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from dotcli import DotcliError, __version__
from dotcli.evaluation.base import Evaluation
from dotcli.models.pair import ModelPair
from dotcli.records import FAILURE_NAME, RECORD_NAME, config_hash, write_failure, write_json_atomic  # noqa: F401
from dotcli.samplers.base import Sampler, SetupContext
from dotcli.validation import check_run

VERSIONED = ("torch", "torchvision", "numpy", "hydra-core", "omegaconf", "torch-fidelity", "pytorch-fid",
             "POT", "scikit-learn", "pandas")


def pick_device(name: str) -> torch.device:
    """``auto`` is cuda when present, else cpu; anything else is taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise DotcliError(f"device={name!r} was asked for but CUDA is not available; use device=auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DotcliError(f"device={name!r} is not a torch device (expected auto, cpu, cuda, cuda:N)") from exc


def trial_generator(seed: int, trial: int, stream: str) -> torch.Generator:
    """Independent CPU generators per (seed, trial, stream) so methods share latents for a seed.

    Streams: ``sample`` (latents: identical for none/naive/dot), ``setup`` (k_eff, calibration),
    ``eval`` (reference data for metrics).
    """
    key = {"sample": 0, "setup": 1, "eval": 2}[stream]
    state = np.random.SeedSequence([seed, trial, key]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def build(spec: DictConfig | dict, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that turns a failure into one clear DotcliError."""
    try:
        return instantiate(spec, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, DotcliError):
            raise cause from None
        raise DotcliError(f"cannot build the {what} from its config: {cause or exc}") from exc


def load_pair(cfg: DictConfig) -> ModelPair:
    """Call the model's loader; a per-dataset entry ``model.files.<dataset>.loader`` wins over ``model.loader``."""
    files = cfg.model.get("files") or {}
    entry = files.get(cfg.dataset.name) if hasattr(files, "get") else None
    name = (entry.get("loader") if hasattr(entry, "get") else None) or cfg.model.loader
    try:
        loader = get_method(name)
    except Exception as exc:
        raise DotcliError(f"model loader {name!r} is not an importable function") from exc
    return loader(cfg.model, cfg.dataset.name, cfg.paths)


def validate(cfg: DictConfig) -> None:
    """Checks on the top-level numbers, before any work is done."""
    if not (isinstance(cfg.n_samples, int) and cfg.n_samples >= 2):
        raise DotcliError(f"n_samples={cfg.n_samples} is not valid; expected an integer >= 2")
    if not (isinstance(cfg.trials, int) and cfg.trials >= 1):
        raise DotcliError(f"trials={cfg.trials} is not valid; expected an integer >= 1")
    if not (isinstance(cfg.batch_size, int) and cfg.batch_size >= 1):
        raise DotcliError(f"batch_size={cfg.batch_size} is not valid; expected an integer >= 1")


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DotcliError(f"output directory {out_dir} is not writable ({exc.strerror}); "
                          "choose another with hydra.run.dir=...") from exc


def summarize(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one trial)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def aggregate(per_trial: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in per_trial[0]:
        vals = [t[name] for t in per_trial]
        out[name], out[f"{name}_std"] = summarize(vals)
        out[f"{name}_trials"] = vals
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "dotcli": __version__}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def run(cfg: DictConfig, out_dir: Path) -> Path:
    """Run one configuration and write ``out_dir/result.json``; return its path."""
    t_start = time.perf_counter()
    validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    done = finished_record(out_dir, config_hash(resolved))
    if done is not None:  # a finished run is never recomputed (resumable sweeps)
        return done
    check_run(cfg)  # every config-only check and missing input, before anything is loaded
    check_writable(out_dir)
    device = pick_device(cfg.device)
    dataset = build(cfg.dataset.data, "dataset")
    pair = load_pair(cfg).to(device)
    method = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k != "name"}
    sampler: Sampler = build(method, "method")
    evaluation: Evaluation = build(cfg.dataset.evaluation, "evaluation", dataset=dataset,
                                   metrics=cfg.metrics, device=device)
    real_data = getattr(dataset, "sample", None)
    real = (lambda n, g: real_data(n, g).to(device)) if real_data else None

    trials, by_step, setups, setup_evals = [], [], [], []
    g_evals = d_evals = 0
    t_setup = t_sample = t_add = t_finish = 0.0  # t_add: evaluation time inside the sampling loop
    for trial in range(cfg.trials):
        t0 = time.perf_counter()
        pair.counter.reset()
        ctx = SetupContext(gen=trial_generator(cfg.seed, trial, "setup"), real_data=real,
                           batch_size=cfg.batch_size)
        setups.append(sampler.setup(pair, ctx))
        setup_evals.append({"g": pair.counter.g, "d": pair.counter.d})
        pair.counter.reset()
        t1 = time.perf_counter()
        evaluation.start_trial(trial, trial_generator(cfg.seed, trial, "eval"))
        gen = trial_generator(cfg.seed, trial, "sample")
        for start in range(0, cfg.n_samples, cfg.batch_size):
            batch = sampler.sample(pair, min(cfg.batch_size, cfg.n_samples - start), gen)
            t_add_0 = time.perf_counter()
            evaluation.add(batch)
            t_add += time.perf_counter() - t_add_0
        g_evals, d_evals = g_evals + pair.counter.g, d_evals + pair.counter.d
        t2 = time.perf_counter()
        result = evaluation.finish_trial()
        t_setup, t_sample, t_finish = t_setup + t1 - t0, t_sample + t2 - t1, t_finish + time.perf_counter() - t2
        trials.append(result["metrics"])
        by_step.append(result["by_step"])
        bad = [k for k, v in result["metrics"].items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise DotcliError(f"metric(s) {', '.join(bad)} are not finite in trial {trial}")

    title = f"{cfg.dataset.name} / {cfg.model.name} / {sampler.name}"
    figures = evaluation.save_figures(out_dir, title)
    n_out = cfg.n_samples * cfg.trials
    record = {
        "dataset": cfg.dataset.name,
        "model": cfg.model.name,
        "method": sampler.name,
        "method_info": dataclasses.asdict(sampler.info),
        "params": {**{k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items()
                      if not k.startswith("_") and k != "name"},
                   "setup": setups},
        "metrics": aggregate(trials),
        "metrics_by_step": {str(step): aggregate([t[step] for t in by_step])
                            for step in (by_step[0] if by_step else {})},
        "cost": {
            "wall_s": time.perf_counter() - t_start,
            "setup_s": t_setup, "sample_s": t_sample - t_add, "eval_s": t_add + t_finish,
            "g_evals_per_sample": g_evals / n_out, "d_evals_per_sample": d_evals / n_out,
            "setup_g_evals": sum(s["g"] for s in setup_evals), "setup_d_evals": sum(s["d"] for s in setup_evals),
            **sampler.stats(),
        },
        "evaluation": evaluation.describe(),
        "seed": cfg.seed, "trials": cfg.trials, "n_samples": cfg.n_samples,
        "device": str(device), "device_name": device_name(device),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "figures": figures,
        "config": resolved,
        "config_hash": config_hash(resolved),
    }
    path = write_json_atomic(out_dir / RECORD_NAME, record)
    (out_dir / FAILURE_NAME).unlink(missing_ok=True)
    return path


def finished_record(out_dir: Path, chash: str) -> Path | None:
    """The run directory's record if it exists and was made from the same config."""
    path = out_dir / RECORD_NAME
    try:
        with open(path) as f:
            return path if json.load(f).get("config_hash") == chash else None
    except (OSError, ValueError):
        return None
