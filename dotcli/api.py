"""dotcli's public Python API: the CLI's pipeline as a few functions, for scripts and notebooks.

Everything here goes through the same code as ``dot-run``: the configs are composed from the same
config groups with the same overrides (:func:`compose`), checked by the same checks (:mod:`dotcli.validation`)
and built by the same builders (:mod:`dotcli.components`); the samples come from the same trial generators
(:func:`dotcli.runner.setup_sampler`, :func:`dotcli.runner.sample_batches`). Bad input raises
:class:`dotcli.DotcliError` with the line ``dot-run`` would print after ``dot-run: error:``.

Example:
    >>> import dotcli
    >>> pair = dotcli.load_pair("model=dotcli_wgangp", "dataset=gaussians25")
    >>> batch = dotcli.refine(pair, "dot", n=200, seed=0, steps=10)
    >>> sorted(dotcli.evaluate(batch.x, "dataset=gaussians25"))
    ['coverage', 'density', 'emd', 'hq', 'modes', 'precision', 'recall']
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from dotcli import DotcliError
from dotcli.models.pair import ModelPair
from dotcli.samplers.base import SampleBatch

__all__ = ["compose", "evaluate", "load_pair", "refine", "run"]

#: real samples for the samplers that need them: a tensor, or ``(n, generator) -> n samples``
RealData = torch.Tensor | Callable[[int, torch.Generator], torch.Tensor]


def _one_line(text: str) -> str:
    """Hydra's multi-line messages (``Could not find 'method/x'`` and its list of options) as one line."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    if lines and lines[0].startswith("In '") and "': " in lines[0]:  # "In 'run': Could not find ..."
        lines[0] = lines[0].split("': ", 1)[1]
    if len(lines) > 1 and lines[1].startswith("Available options in"):
        options = [ln for ln in lines[2:] if "provider=" not in ln and not ln.startswith("Config search path")]
        return f"{lines[0]} (available: {', '.join(options)})"
    return "; ".join(ln.rstrip(".") for ln in lines[:-1]) + ("; " if len(lines) > 1 else "") + lines[-1] if lines \
        else "the configuration could not be composed"


@contextmanager
def _hydra_for_dotcli() -> Iterator[None]:
    """Hydra initialised on dotcli's configs for the block; whatever Hydra state the caller had is restored."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import dotcli.resolvers  # noqa: F401  (registers the ${dotcli_*:} resolvers the configs use)

    saved = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("dotcli.configs", version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()
        if saved is not None:
            GlobalHydra.instance().initialize(saved)


def _compose(overrides: Iterable[str], with_hydra: bool) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from dotcli.hydra_errors import hydra_error_line

    overrides = [str(o) for o in overrides]
    multirun = [o for o in overrides if o in ("-m", "--multirun") or "," in o.partition("=")[2]
                and not o.partition("=")[2].startswith(("[", "{", "'", '"'))]
    if multirun:
        raise DotcliError(f"{multirun[0]!r}: a sweep (-m, a=1,2) is not one run; call the function once per "
                          "value, or use dot-run -m")
    try:
        with _hydra_for_dotcli():
            return hydra_compose("run", overrides=overrides, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:  # the line dot-run prints for it
        with _hydra_for_dotcli():
            line = hydra_error_line(exc, overrides) if isinstance(exc, HydraException) else None
        raise DotcliError(line or _one_line(str(exc))) from exc


def compose(*overrides: str) -> DictConfig:
    """The job config ``dot-run OVERRIDES`` runs (the ``hydra`` node left out), composed and checked.

    Example:
        >>> cfg = dotcli.api.compose("method=drs", "seed=1")
        >>> cfg.method.name, cfg.seed
        ('drs', 1)
    """
    from dotcli.validation import check_config

    cfg = _compose(overrides, with_hydra=False)
    for line in check_config(cfg):  # dot-run prints these as `dot-run: warning: ...`
        warnings.warn(line, stacklevel=3)
    return cfg


def load_pair(*overrides: str) -> ModelPair:
    """The generator/discriminator pair ``dot-run OVERRIDES`` builds, on its device (``device=auto``: cuda when
    present), with ``dot-run``'s checks and error messages (a missing checkpoint names how to get it).

    Every model family with a config in ``configs/model/`` loads through here, as in ``dot-run``.

    Example:
        >>> pair = dotcli.load_pair("model=dotcli_wgangp", "dataset=swissroll", "device=cpu")
        >>> pair.z_dim, pair.prior, pair.d_output
        (2, 'uniform', 'critic')
    """
    cfg = compose(*overrides)
    return _pair_from(cfg)


def _pair_from(cfg: DictConfig) -> ModelPair:
    from dotcli.components import load_pair as load_pair_of_config
    from dotcli.components import pick_device
    from dotcli.preflight import explain_missing
    from dotcli.validation import check_sigma_source

    check_sigma_source(cfg)
    try:
        return load_pair_of_config(cfg).to(pick_device(cfg.device))
    except DotcliError as exc:  # a missing file: every missing input with how to get it, as dot-run says
        raise explain_missing(cfg, exc, model_only=True) from exc


def _default_dataset(pair: ModelPair) -> str:
    """The dataset whose ``refine`` block gives a pair's method defaults: the 2-D toys' settings (target space,
    Adam) for vector samples, the image settings (latent space, SGD) otherwise."""
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        z = pair.sample_z(1, gen)
        x = pair.G(z) if pair.n_classes == 0 else pair.G(z, pair.sample_y(1, gen))
    return "gaussians25" if x.dim() == 2 else "cifar10"


def _real_sampler(real_data: RealData | None, cfg: DictConfig, device: torch.device,
                  from_dataset: bool) -> Callable[[int, torch.Generator], torch.Tensor] | None:
    """``real_data`` as ``(n, gen) -> n samples on device``: a tensor gives random rows without replacement;
    ``None``: the dataset's held-out sampler when the dataset was named (as dot-run; built only when a sampler
    asks), else none (a sampler that needs real samples says so)."""
    if callable(real_data):
        return lambda n, g: real_data(n, g).to(device)
    if real_data is not None:
        data = torch.as_tensor(real_data)
        if data.dim() < 2 or len(data) < 1:
            raise DotcliError(f"real_data has shape {tuple(data.shape)}; expected (n, ...) samples in the "
                              "model's range, n >= 1")

        def draw(n: int, g: torch.Generator) -> torch.Tensor:
            if n > len(data):
                raise DotcliError(f"a sampler asked for {n} real samples; real_data holds {len(data)}")
            return data[torch.randperm(len(data), generator=g)[:n]].to(device)

        return draw
    from dotcli.components import build

    holder: dict[str, Any] = {}

    def heldout(n: int, g: torch.Generator) -> torch.Tensor:
        if not from_dataset:
            raise DotcliError(f"method={cfg.method.name} needs held-out real samples here: pass real_data= (a "
                              "tensor or a callable (n, generator) -> n samples) or dataset=NAME (its held-out split)")
        if "dataset" not in holder:
            holder["dataset"] = build(cfg.dataset.data, "dataset", "dataset.data")
        sample = getattr(holder["dataset"], "sample", None)
        if sample is None:
            raise DotcliError(f"method={cfg.method.name} needs held-out real samples; dataset={cfg.dataset.name} "
                              "has none: pass real_data= (a tensor or a callable (n, generator) -> n samples)")
        return sample(n, g).to(device)

    return heldout


def _concat(batches: list[SampleBatch]) -> SampleBatch:
    def cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if any(p is None for p in parts) else torch.cat(parts)  # type: ignore[arg-type]

    steps = {s: torch.cat([b.steps[s] for b in batches]) for s in batches[0].steps}
    return SampleBatch(x=torch.cat([b.x for b in batches]), x_init=cat([b.x_init for b in batches]),
                       y=cat([b.y for b in batches]), steps=steps)


class _GivenLabels:
    """While sampling, ``pair.sample_y`` hands out the caller's labels in order instead of drawing them."""

    def __init__(self, pair: ModelPair, y: torch.Tensor) -> None:
        self.pair, self.y, self.at = pair, y, 0

    def __call__(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.at + n > len(self.y):
            raise DotcliError(f"the method drew labels for more samples than y holds ({len(self.y)}): "
                              "it proposes more samples than it outputs, so it cannot keep given labels")
        out = self.y[self.at:self.at + n]
        self.at += n
        return out.to(self.pair.device)


def refine(pair: ModelPair, method: str = "dot", n: int = 1000, seed: int = 0, y: torch.Tensor | None = None,
           real_data: RealData | None = None, device: str | torch.device | None = None,
           dataset: str | None = None, batch_size: int | None = None, **method_keys: Any) -> SampleBatch:
    """``n`` samples of ``pair`` refined by ``method``: those of ``dot-run``'s first trial for the same settings.

    Args:
        pair: any :class:`ModelPair` (:func:`load_pair`'s or one made from your own modules).
        method: a method config name: ``none``, ``naive``, ``drs``, ``mh``, ``dot``, ``dot_local``, ``ddls``,
            ``dgflow``.
        n: number of output samples.
        seed: ``dot-run``'s ``seed``: same seed, same samples.
        y: labels of the outputs for a conditional pair (``(n,)`` ints); ``None`` draws them as ``dot-run`` does.
        real_data: held-out real samples in the model's range for methods that need them (DRS calibrating a
            critic, MH-GAN): a tensor ``(m, ...)`` or a callable ``(k, torch.Generator) -> k samples``;
            ``None``: the held-out split of ``dataset`` when it is named (as ``dot-run``), else none.
        device: where to run (``None``: cuda when present, else cpu); the pair is moved there.
        dataset: the dataset config whose ``refine`` block gives the method's defaults (the paper's settings for
            it); ``None``: ``gaussians25`` for pairs whose samples are vectors, ``cifar10`` for images.
        batch_size: samples pushed through G and D at once (``None``: the dataset's); changes the samples of
            methods whose randomness is drawn per batch, as in ``dot-run``.
        **method_keys: the method config's keys (``space``, ``eps``, ``steps``, ...), as ``method.KEY=VALUE``.

    Returns:
        A :class:`SampleBatch`: ``x`` the outputs, ``x_init`` the generator's samples they started from (``None``
        for rejection samplers), ``y`` the labels, ``steps`` the recorded intermediate steps.

    Example:
        >>> pair = dotcli.load_pair("dataset=gaussians25")
        >>> batch = dotcli.refine(pair, "dot", n=100, seed=0, steps=20)
        >>> batch.x.shape
        torch.Size([100, 2])
    """
    from dotcli.components import RUNNER_METHOD_KEYS, build, pick_device
    from dotcli.runner import sample_batches, setup_sampler

    if not isinstance(pair, ModelPair):
        raise DotcliError(f"pair is a {type(pair).__name__}; expected a dotcli.ModelPair (dotcli.load_pair or "
                          "ModelPair(G=..., D=..., z_dim=..., prior=...))")
    if not isinstance(method, str) or not method or "=" in method or "/" in method:
        raise DotcliError(f"method={method!r} is not valid; expected a method config name such as dot or drs")
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise DotcliError(f"n={n!r} is not valid; expected an integer >= 1")
    run_device = pick_device("auto" if device is None else str(device))
    pair.to(run_device)
    overrides = [f"method={method}", f"dataset={dataset or _default_dataset(pair)}", f"seed={seed}",
                 f"n_samples={max(n, 2)}", "trials=1", f"device={run_device}"]
    if batch_size is not None:
        overrides.append(f"batch_size={batch_size}")
    cfg = _compose(overrides, with_hydra=False)
    with open_dict(cfg.method):  # a key the method has not: check_method names it, as for `+method.key=...`
        for key, value in method_keys.items():
            cfg.method[key] = list(value) if isinstance(value, tuple) else value
    from dotcli.validation import check_run

    check_run(cfg)  # dot-run's checks: types, ranges (the sampler's constructor), unknown keys
    keys = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k not in RUNNER_METHOD_KEYS}
    sampler = build(keys, "method", "method")
    labels = None
    if y is not None:
        if pair.n_classes == 0:
            raise DotcliError("y was given but the pair is unconditional (n_classes=0)")
        labels = torch.as_tensor(y, dtype=torch.long).reshape(-1)
        if len(labels) != n or labels.min() < 0 or labels.max() >= pair.n_classes:
            raise DotcliError(f"y must hold {n} labels in [0, {pair.n_classes}); got {len(labels)} labels in "
                              f"[{int(labels.min())}, {int(labels.max())}]")
    real = _real_sampler(real_data, cfg, run_device, from_dataset=dataset is not None)
    setup_sampler(pair, sampler, cfg.seed, 0, cfg.batch_size, real)
    if labels is not None:
        pair.sample_y = _GivenLabels(pair, labels)  # type: ignore[method-assign]
    try:
        batches = list(sample_batches(pair, sampler, n, cfg.batch_size, cfg.seed, 0))
    finally:
        if labels is not None:
            del pair.sample_y  # the instance attribute goes: the class's method again
    out = _concat(batches)
    if labels is not None and (out.y is None or not torch.equal(out.y.cpu(), labels)):
        raise DotcliError(f"method={method} does not keep given labels (it selects among its proposals); "
                          "call it with y=None")
    return out


def _as_tensor(samples: Any) -> torch.Tensor:
    if isinstance(samples, SampleBatch):
        samples = samples.x
    if isinstance(samples, np.ndarray):
        samples = torch.from_numpy(samples)
    if not isinstance(samples, torch.Tensor):
        raise DotcliError(f"samples are a {type(samples).__name__}; expected a tensor, a numpy array, a "
                          "SampleBatch or an iterable of them")
    return samples.detach()


def _image_floats(x: torch.Tensor) -> torch.Tensor:
    """Images as NCHW floats in [-1, 1] (the evaluation's input): uint8 in [0, 255] or floats in [-1, 1],
    NCHW or NHWC (channels last when the last axis has 1 or 3 entries and the second has not)."""
    if x.dim() == 3:  # (n, H, W): one grey channel
        x = x[:, None]
    if x.dim() != 4:
        raise DotcliError(f"images have shape {tuple(x.shape)}; expected (n, C, H, W) or (n, H, W, C)")
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1.0  # the inverse of to_uint8: the evaluation's rounding gives the same bytes
    if not x.is_floating_point():
        raise DotcliError(f"images are {x.dtype}; expected uint8 in [0, 255] or floats in the model's range [-1, 1]")
    return x.float()


def evaluate(samples: Any, *overrides: str) -> dict[str, float]:
    """Score samples with the metrics ``dot-run OVERRIDES`` would use, as its first trial (same seed: the same
    reference data).

    Args:
        samples: 2-D points ``(n, 2)`` for the toys, or images (uint8 in [0, 255] or floats in [-1, 1], NCHW or
            NHWC); a tensor, a numpy array, a :class:`SampleBatch` or an iterable of those (batches).
        *overrides: ``dot-run`` overrides choosing what to score against: ``dataset=...``, ``metrics=...``,
            ``seed=...``, ``metrics.feature_extractor=...``.

    Returns:
        ``{metric: value}`` (toys: ``hq``, ``modes``, ``emd``; images: the dataset's metrics).

    Example:
        >>> import torch
        >>> scores = dotcli.evaluate(torch.randn(500, 2), "dataset=gaussians25")
        >>> 0 <= scores["hq"] <= 1
        True
    """
    from dotcli.components import build, pick_device
    from dotcli.runner import trial_generator

    cfg = compose(*overrides)
    if not cfg.metrics.get("evaluate", True):
        raise DotcliError("metrics=none scores nothing; choose metrics=default (or another metrics config)")
    batches: Iterable[Any] = [samples] if isinstance(samples, np.ndarray | torch.Tensor | SampleBatch) else samples
    try:
        batches = iter(batches)
    except TypeError as exc:
        raise DotcliError(f"samples are a {type(samples).__name__}; expected a tensor, a numpy array, a "
                          "SampleBatch or an iterable of them") from exc
    device = pick_device(cfg.device)
    dataset = build(cfg.dataset.data, "dataset", "dataset.data")
    evaluation = build(cfg.dataset.evaluation, "evaluation", "dataset.evaluation", dataset=dataset,
                       metrics=cfg.metrics, device=device)
    toy = cfg.dataset.get("kind", "toy") == "toy"
    evaluation.start_trial(0, trial_generator(cfg.seed, 0, "eval"))
    count = 0
    for part in batches:
        x = _as_tensor(part)
        if toy:
            if x.dim() != 2 or x.shape[1] != 2:
                raise DotcliError(f"points have shape {tuple(x.shape)}; dataset={cfg.dataset.name} expects (n, 2)")
            x = x.float()
        else:
            x = _image_floats(x)
        count += len(x)
        evaluation.add(SampleBatch(x=x.to(device)))
    if count < 2:
        raise DotcliError(f"{count} sample(s) to score; expected at least 2")
    return dict(evaluation.finish_trial()["metrics"])


def run(*overrides: str, out_dir: str | Path | None = None) -> dict[str, Any]:
    """One ``dot-run OVERRIDES`` in this process: the record it writes (``OUT_DIR/result.json``), as a dict.

    ``out_dir`` is ``hydra.run.dir`` (``None``: ``dot-run``'s default, ``runs/<date>/<time>_...``); a finished
    record of the same config there is returned, not recomputed. Hydra's own files (``.hydra/``,
    ``dot-run.log``) are not written: log through :mod:`logging` as you like. A sweep is ``dot-run -m``.

    Example:
        >>> record = dotcli.run("method=none", "trials=1", "n_samples=200", out_dir="runs/api_example")
        >>> record["method"], record["trials"]
        ('none', 1)
    """
    from dotcli.callbacks import unwritable_reason
    from dotcli.records import config_hash, write_failure
    from dotcli.rundir import lock_run_dir, unlock_run_dir
    from dotcli.runner import run as run_config

    full = _compose(overrides, with_hydra=out_dir is None)
    if out_dir is None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(full)  # ${hydra:...} in hydra.run.dir, as in dot-run
        out_dir = str(full.hydra.run.dir)
        with open_dict(full):
            del full["hydra"]
    cfg = full
    from dotcli.validation import check_config

    for line in check_config(cfg):
        warnings.warn(line, stacklevel=2)
    out = Path(out_dir)
    reason = unwritable_reason(out)
    if reason:
        raise DotcliError(f"output directory {out} cannot be created ({reason}); choose another with out_dir=...")
    out.mkdir(parents=True, exist_ok=True)
    lock_run_dir(out, config_hash(OmegaConf.to_container(cfg, resolve=True)))
    try:
        try:
            path = run_config(cfg, out)
        except DotcliError as exc:
            write_failure(cfg, out, str(exc))
            raise
    finally:
        unlock_run_dir(out)
    record = json.loads(Path(path).read_text())
    if not isinstance(record, Mapping):
        raise DotcliError(f"{path} does not hold a record")
    return dict(record)
