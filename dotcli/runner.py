"""One run: config -> model pair -> sampler -> samples -> evaluation -> result record.

The runner names no method, model or dataset: each comes from its config's ``_target_`` (or
``loader``), so a new sampler is a new file plus a config file, and nothing here changes.
:func:`run` reads as the pipeline: :func:`setup`, one :func:`run_trial` per trial, :func:`make_record`.
What happens is logged (``logging``): Hydra's per-run ``dot-run.log`` keeps it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from dotcli import DotcliError, __version__
from dotcli.components import RUNNER_METHOD_KEYS, build, device_name, load_pair, pick_device
from dotcli.evaluation.base import Evaluation
from dotcli.models.pair import ModelPair
from dotcli.preflight import explain_missing
from dotcli.progress import progress
from dotcli.records import (
    FAILURE_NAME,
    RECORD_NAME,
    SCHEMA_VERSION,
    Cost,
    Record,
    claim_run_dir,
    config_hash,
    write_failure,  # noqa: F401  (dotcli.runner.write_failure: where callers found it before)
    write_json_atomic,
)
from dotcli.safe_write import check_writable_dir
from dotcli.samplers.base import SampleBatch, Sampler, SetupContext
from dotcli.validation import check_run

log = logging.getLogger(__name__)

# A run expected to take longer than this says so on stderr (and always in dot-run.log), with its estimate.
LONG_RUN_S = 120.0

VERSIONED = ("torch", "torchvision", "numpy", "hydra-core", "omegaconf", "torch-fidelity", "pytorch-fid",
             "POT", "scikit-learn", "pandas")


def trial_generator(seed: int, trial: int, stream: str) -> torch.Generator:
    """Independent CPU generators per (seed, trial, stream) so methods share latents for a seed.

    Streams: ``sample`` (latents: identical for none/naive/dot), ``setup`` (k_eff, calibration),
    ``eval`` (reference data for metrics).
    """
    key = {"sample": 0, "setup": 1, "eval": 2}[stream]
    state = np.random.SeedSequence([seed, trial, key]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def validate(cfg: DictConfig) -> None:
    """Checks on the top-level numbers, before any work is done."""
    if not (isinstance(cfg.n_samples, int) and cfg.n_samples >= 2):
        raise DotcliError(f"n_samples={cfg.n_samples} is not valid; expected an integer >= 2")
    if not (isinstance(cfg.trials, int) and cfg.trials >= 1):
        raise DotcliError(f"trials={cfg.trials} is not valid; expected an integer >= 1")
    if not (isinstance(cfg.batch_size, int) and cfg.batch_size >= 1):
        raise DotcliError(f"batch_size={cfg.batch_size} is not valid; expected an integer >= 1")


def check_writable(out_dir: Path) -> None:
    """One line naming ``out_dir`` when no file can be made in it (probed without following any link)."""
    check_writable_dir(out_dir, "hydra.run.dir=...")


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


class Timer:
    """Named durations, accumulated over every ``with timer("name"):`` block."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - t0

    def wall(self) -> float:
        """Seconds since the timer was made."""
        return time.perf_counter() - self.started


@dataclass
class Job:
    """What :func:`setup` builds from the config: everything a trial needs."""

    device: torch.device
    pair: ModelPair
    sampler: Sampler
    evaluation: Evaluation
    real_data: Callable[[int, torch.Generator], torch.Tensor] | None


@dataclass
class TrialResult:
    """One trial: its metrics (final and per recorded step), what setup found, and the evaluations it cost."""

    metrics: dict[str, float]
    by_step: dict[Any, dict[str, float]]
    setup: dict[str, Any]
    setup_evals: tuple[int, int]   # (G, D) during setup
    sample_evals: tuple[int, int]  # (G, D) while sampling


def setup(cfg: DictConfig) -> Job:
    """Device, dataset, model pair, sampler and evaluation, built from their configs."""
    device = pick_device(cfg.device)
    log.info("device: %s (%s)", device, device_name(device))
    dataset = build(cfg.dataset.data, "dataset", "dataset.data")
    pair = load_pair(cfg).to(device)
    log.info("model %s: z_dim %s, prior %s, D output %s", cfg.model.name, pair.z_dim, pair.prior, pair.d_output)
    method = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k not in RUNNER_METHOD_KEYS}
    sampler: Sampler = build(method, "method", "method")
    evaluation: Evaluation = build(cfg.dataset.evaluation, "evaluation", "dataset.evaluation", dataset=dataset,
                                   metrics=cfg.metrics, device=device)
    evaluation.check_pair(pair)  # before any sampling
    sample = getattr(dataset, "sample", None)
    real = (lambda n, g: sample(n, g).to(device)) if sample else None
    return Job(device, pair, sampler, evaluation, real)


def setup_sampler(pair: ModelPair, sampler: Sampler, seed: int, trial: int, batch_size: int,
                  real_data: Callable[[int, torch.Generator], torch.Tensor] | None) -> tuple[dict[str, Any],
                                                                                       tuple[int, int]]:
    """``sampler.setup`` for one trial with the trial's ``setup`` generator: what it found and the (G, D)
    evaluations it cost. Shared by :func:`run_trial` and :func:`dotcli.api.refine` (the same samples)."""
    pair.counter.reset()
    ctx = SetupContext(gen=trial_generator(seed, trial, "setup"), real_data=real_data, batch_size=batch_size)
    found = sampler.setup(pair, ctx)
    evals = (pair.counter.g, pair.counter.d)
    pair.counter.reset()
    return found, evals


def sample_batches(pair: ModelPair, sampler: Sampler, n: int, batch_size: int, seed: int,
                   trial: int) -> Iterator[SampleBatch]:
    """The trial's ``n`` output samples, ``batch_size`` at a time, from the trial's ``sample`` generator."""
    gen = trial_generator(seed, trial, "sample")
    for start in range(0, n, batch_size):
        yield sampler.sample(pair, min(batch_size, n - start), gen)


def run_trial(cfg: DictConfig, job: Job, trial: int, timer: Timer) -> TrialResult:
    """Set the sampler up, stream ``n_samples`` samples through the evaluation, score the trial."""
    pair, sampler, evaluation = job.pair, job.sampler, job.evaluation
    with timer("setup"):
        found, setup_evals = setup_sampler(pair, sampler, cfg.seed, trial, cfg.batch_size, job.real_data)
    log.info("trial %d: setup found %s (%d G, %d D evaluations)", trial, found, *setup_evals)
    with timer("eval"):
        evaluation.start_trial(trial, trial_generator(cfg.seed, trial, "eval"))
    batches = sample_batches(pair, sampler, cfg.n_samples, cfg.batch_size, cfg.seed, trial)
    first_batch = True
    while True:
        t0 = time.perf_counter()
        with timer("sample"):
            batch = next(batches, None)
        if batch is None:
            break
        with timer("eval"):
            evaluation.add(batch)
        if trial == 0 and first_batch:
            say_expected_duration(cfg, time.perf_counter() - t0, timer.wall())
        first_batch = False
    sample_evals = (pair.counter.g, pair.counter.d)
    with timer("eval"):
        result = evaluation.finish_trial()
    bad = [k for k, v in result["metrics"].items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise DotcliError(f"metric(s) {', '.join(bad)} are not finite in trial {trial}")
    log.info("trial %d: %s", trial, result["metrics"])
    return TrialResult(result["metrics"], result["by_step"], found, setup_evals, sample_evals)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def say_expected_duration(cfg: DictConfig, first_batch_s: float, so_far_s: float) -> None:
    """After the first batch: how long the run's sampling and per-batch scoring will take at that pace (a lower
    bound: a trial's final scoring comes on top), in dot-run.log always and on stderr when it is long."""
    batches = math.ceil(cfg.n_samples / cfg.batch_size) * cfg.trials
    expected = so_far_s + first_batch_s * (batches - 1)
    line = (f"expected duration: about {_duration(expected)} ({batches} batches of {cfg.batch_size} at "
            f"{first_batch_s:.2f} s for the first; each trial's final scoring comes on top)")
    log.info(line)
    if expected >= LONG_RUN_S:
        import sys

        print(f"dot-run: note: this run is long: {line}; see dot-run.log for its progress", file=sys.stderr,
              flush=True)


def make_record(cfg: DictConfig, job: Job, trials: list[TrialResult], timer: Timer, figures: list[str],
                resolved: dict[str, Any]) -> Record:
    """The run's :class:`~dotcli.records.Record`."""
    n_out = cfg.n_samples * cfg.trials
    method_keys = {k: v for k, v in resolved["method"].items() if not k.startswith("_") and k not in RUNNER_METHOD_KEYS}
    first_steps = trials[0].by_step if trials else {}
    cost = Cost(wall_s=timer.wall(), setup_s=timer.totals["setup"], sample_s=timer.totals["sample"],
                eval_s=timer.totals["eval"],
                g_evals_per_sample=sum(t.sample_evals[0] for t in trials) / n_out,
                d_evals_per_sample=sum(t.sample_evals[1] for t in trials) / n_out,
                setup_g_evals=sum(t.setup_evals[0] for t in trials),
                setup_d_evals=sum(t.setup_evals[1] for t in trials),
                sampler=job.sampler.stats())
    return Record(
        dataset=cfg.dataset.name, model=cfg.model.name, method=job.sampler.name,
        method_info=dataclasses.asdict(job.sampler.info),
        params={**method_keys, "setup": [t.setup for t in trials]},
        metrics=aggregate([t.metrics for t in trials]),
        metrics_by_step={str(step): aggregate([t.by_step[step] for t in trials]) for step in first_steps},
        cost=cost, evaluation=job.evaluation.describe(),
        seed=cfg.seed, trials=cfg.trials, n_samples=cfg.n_samples,
        device=str(job.device), device_name=device_name(job.device), versions=versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), figures=figures,
        config=resolved, config_hash=config_hash(resolved), model_notes=dict(job.pair.notes),
        schema_version=SCHEMA_VERSION)


def run(cfg: DictConfig, out_dir: Path) -> Path:
    """Run one configuration and write ``out_dir/result.json``; return its path."""
    timer = Timer()
    validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    log.info("run: dataset=%s model=%s method=%s seed=%s trials=%s n_samples=%s batch_size=%s (config %s)",
             cfg.dataset.name, cfg.model.name, cfg.method.name, cfg.seed, cfg.trials, cfg.n_samples,
             cfg.batch_size, config_hash(resolved))
    done = claim_run_dir(out_dir, config_hash(resolved))  # a malformed record is set aside, another config's refused
    if done is not None:  # a finished run is never recomputed (resumable sweeps)
        log.info("finished record of this config already there: %s", done)
        return done
    check_run(cfg)  # every config-only check (and the sampler's own), before anything is loaded
    check_writable(out_dir)
    try:
        job = setup(cfg)
    except DotcliError as exc:  # a missing file: name everything missing, with how to get it
        raise explain_missing(cfg, exc) from exc
    trials, started = [], timer.wall()
    for trial in progress(range(cfg.trials), "trials", outer=True):
        trials.append(run_trial(cfg, job, trial, timer))
        left = cfg.trials - len(trials)
        if left:  # each trial costs about the same: the first ones say when the run ends
            per_trial = (timer.wall() - started) / len(trials)
            log.info("trial %d of %d done after %s; about %s left", len(trials), cfg.trials,
                     _duration(timer.wall()), _duration(per_trial * left))
    title = f"{cfg.dataset.name} / {cfg.model.name} / {job.sampler.name}"
    figures = job.evaluation.save_figures(out_dir, title)
    record = make_record(cfg, job, trials, timer, figures, resolved)
    log.info("metrics: %s", record.metrics)
    log.info("seconds: setup %.2f, sample %.2f, eval %.2f, wall %.2f", record.cost.setup_s, record.cost.sample_s,
             record.cost.eval_s, record.cost.wall_s)
    path = write_json_atomic(out_dir / RECORD_NAME, record)
    (out_dir / FAILURE_NAME).unlink(missing_ok=True)
    log.info("record: %s", path)
    return path
