"""Image evaluation: IS / FID (/ KID) of every batch as it streams in, for the output and each recorded step.

Per batch (refinement already happened in the sampler): check the images are finite, quantise them to
uint8 with ``round((x + 1) * 127.5)`` clamped to [0, 255] (:func:`dotcli.data.images.to_uint8`: the same
rounding as torchvision's ``save_image``, so in-memory scores equal the scores of the saved PNGs; an
extractor with ``takes_float``, ``inception-chainer-compat``, gets ``clip(x * 127.5 + 127.5, 0, 255)`` as
floats instead, never rounded, as the paper's Chainer evaluation; grids and samples.npz stay uint8), extract
features of the output ``x`` and of every ``steps`` entry (a step whose images equal ``x`` reuses its
features), and fold the pool features into a float64 streaming mean/covariance. Kept per scored step:
the logits for IS (50k x 1008 float32, about 200 MB) and, only with ``metrics.kid``, the pool features
(50k x 2048 float32, about 400 MB).

``finish_trial`` returns ``is_mean``, ``is_std`` (only when the extractor has logits: never a made-up
number), ``fid``, with ``metrics.kid`` ``kid_mean`` and ``kid_std``, and with ``metrics.prdc`` (default on)
``precision``, ``recall``, ``density`` and ``coverage`` (:func:`dotcli.metrics.prdc`) on the same pool features
as FID, for ``x`` and per step. Those four compare the first ``metrics.prdc_samples`` samples of a trial (null:
all) with a fixed reference subset of the same size, whose k-NN radii are cached beside its FID statistics
(:func:`dotcli.metrics.reference_stats.reference_radii`); they keep the pool features of every scored step,
as KID does. With ``metrics.intra_fid`` (conditional pairs) also ``intra_fid`` for ``x``: the mean over classes
of the FID of the samples generated with label c against the reference images of class c (per-class reference
statistics cached, :func:`dotcli.metrics.reference_stats.class_reference_statistics`). The pool features kept
for KID and precision/recall are the same ones intra-FID uses (one extraction per image, whatever the metrics).

The feature space is ``metrics.feature_extractor`` (the Inception by default; ``dinov2-vit-l-14`` and
``clip-vit-b-32`` read ``metrics.feature_extractor_weights``, docs/metrics/feature-spaces.md); the record
says which resize it used.

``metrics.evaluate: false`` (``metrics=none``) computes nothing, loads no extractor and reads no data.

``save_samples: true`` (top-level run key) writes ``samples.npz`` into the run directory: ``x`` uint8
``(trials * n, H, W, 3)`` (NHWC, the quantised output images), ``trial`` int16 ``(trials * n,)`` and, for
conditional models, ``y`` int64 labels. They are kept in memory until the end of the run (CIFAR-10 50k:
150 MB; ImageNet 128px 50k: 2.5 GB).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.data.images import to_float255, to_uint8
from dotcli.evaluation.base import Evaluation
from dotcli.metrics.extractors import INCEPTION, FeatureExtractor, Features, make_feature_extractor
from dotcli.metrics.fidelity import FIDReference, MeanCov, fid_to_reference, inception_score, kid, prepare_fid_reference
from dotcli.metrics.intra_fid import intra_fid
from dotcli.metrics.prdc import check_sizes, prdc
from dotcli.metrics.reference_stats import (
    PRDC_SUBSET_SEED,
    ClassReferenceStats,
    ReferenceStats,
    class_reference_statistics,
    reference_radii,
    reference_statistics,
)
from dotcli.progress import counter
from dotcli.safe_write import save_figure, write_atomic
from dotcli.samplers.base import SampleBatch

QUANTISATION = "uint8 = clamp(round((x + 1) * 127.5), 0, 255), round half to even (torch.round)"
# extractors with takes_float (inception-chainer-compat) see the generated images unquantised
FLOAT_INPUT = "none: float = clip(x * 127.5 + 127.5, 0, 255), never rounded (the released evaluation)"
PROTOCOL_SAMPLES = 50_000  # docs/protocol.md#image-metrics
GRID_NAME = "samples_grid.png"
SAMPLES_NAME = "samples.npz"


def host_idle_while_sampling(device: torch.device | str) -> bool:
    """Whether host work can overlap sampling: yes with an accelerator; on a CPU-only machine it would only take
    cores from the sampler."""
    return torch.device(device).type != "cpu"


class _Scored:
    """Accumulated features of one scored output (the final ``x`` or one recorded step)."""

    def __init__(self) -> None:
        self.stats = MeanCov()
        self.logits: list[torch.Tensor] = []
        self.pool: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []  # class labels of the kept pool rows (intra-class FID)

    def add(self, feats: Features, keep_pool: bool, labels: torch.Tensor | None = None) -> None:
        # kept where the extractor ran; the metrics copy them to the host once per trial: a per-batch .cpu()
        # would make every batch wait for the device
        self.stats.update(feats.pool)
        if feats.logits is not None:
            self.logits.append(feats.logits.float())
        if keep_pool:  # one feature set, handed to every feature-based metric (KID, intra-FID)
            self.pool.append(feats.pool.float())
            if labels is not None:
                self.labels.append(labels.detach().to(feats.pool.device).long())


class ImageEvaluation(Evaluation):
    """Streams image batches into IS/FID(/KID) against cached reference statistics of ``dataset``.

    Args:
        dataset: an image dataset (:class:`dotcli.data.images.ImageData`); untouched when not evaluating.
        metrics: the ``metrics`` config: ``evaluate``, ``feature_extractor``, ``fid_backend``,
            ``inception_weights``, ``feature_extractor_weights``, ``is_splits``, ``kid``, ``kid_subsets``,
            ``kid_subset_size``, ``intra_fid``, ``fid_eps``, ``feature_batch_size``, ``prdc``, ``prdc_samples``,
            ``prdc_k_pr``, ``prdc_k_dc``.
        device: where the feature extractor runs.
        cache_dir: root of the reference-statistics cache (``paths.cache``).
        save_samples: also write the quantised output samples as ``samples.npz`` (see module docstring).
        allow_download: whether the Inception weights may be downloaded (``paths.allow_download``).
        expected_samples: samples per trial, for the progress bar's total (``n_samples``).
        grid_size: images per panel in the before/after figure.
    """

    def __init__(self, dataset: Any, metrics: Mapping[str, Any] | None = None, device: torch.device | str = "cpu",
                 cache_dir: str | os.PathLike = "~/.cache/dotcli", save_samples: bool = False,
                 allow_download: bool = True, expected_samples: int | None = None, grid_size: int = 64) -> None:
        m = dict(metrics or {})
        self.dataset = dataset
        self.evaluate = bool(m.get("evaluate", True))
        self.is_splits = int(m.get("is_splits", 10))
        self.use_kid = bool(m.get("kid", False))
        self.kid_subsets = int(m.get("kid_subsets", 100))
        self.kid_subset_size = int(m.get("kid_subset_size", 1000))
        self.fid_eps = float(m.get("fid_eps", 0.0) or 0.0)
        self.fid_backend = str(m.get("fid_backend", "torch-fidelity"))
        self.feature_batch_size = int(m.get("feature_batch_size", 250))
        self.use_intra_fid = bool(m.get("intra_fid", False))
        self.cache_dir = cache_dir
        self.class_reference: ClassReferenceStats | None = None
        self._intra: list[dict[str, Any]] = []  # per trial: samples and FID per class
        self.use_prdc = bool(m.get("prdc", True))
        self.prdc_k = (m.get("prdc_k_pr", 3), m.get("prdc_k_dc", 5))
        self.prdc_samples = m.get("prdc_samples")
        self._prdc_reference: tuple[torch.Tensor, torch.Tensor] | None = None
        self._prdc_from_cache = False
        self.save_samples = bool(save_samples)
        self.expected_samples = expected_samples
        self.grid_size = int(grid_size)
        self.extractor: FeatureExtractor | None = None
        self.reference: ReferenceStats | None = None
        self._fid_reference: FIDReference | None = None
        self._fid_pending: Future[FIDReference] | None = None
        if self.feature_batch_size < 1:
            raise DotcliError(f"metrics.feature_batch_size={self.feature_batch_size} must be >= 1")
        if self.evaluate and self.use_prdc:
            self._check_prdc(expected_samples)
        if self.evaluate:
            # built now, before any sampling: a missing weights file or dataset fails the run at once
            self.extractor = make_feature_extractor(
                str(m.get("feature_extractor", INCEPTION)), device=device, fid_backend=self.fid_backend,
                weights=m.get("inception_weights"), allow_download=allow_download,
                extractor_weights=m.get("feature_extractor_weights"))
            self.reference = reference_statistics(dataset, self.extractor, cache_dir,
                                                  need_features=self.use_kid or self.use_prdc,
                                                  batch_size=self.feature_batch_size)
            if host_idle_while_sampling(device):
                # the reference's check and factorisation (2048-d) run on the idle host while the device samples;
                # shutdown(wait=False): the worker thread ends with its one task, so no thread outlives the run
                pool = ThreadPoolExecutor(max_workers=1)
                self._fid_pending = pool.submit(prepare_fid_reference, self.reference.mu, self.reference.sigma,
                                                eps=self.fid_eps)
                pool.shutdown(wait=False)
        if self.evaluate and self.use_intra_fid and getattr(dataset, "reference_labels", None) is None:
            raise DotcliError(f"metrics.intra_fid=true: dataset {getattr(dataset, 'name', dataset)!r} gives no "
                              "class labels for its reference set")
        self._grid: dict[str, torch.Tensor | None] | None = None
        self._saved: list[tuple[np.ndarray, np.ndarray | None, int]] = []
        self._samples_file: str | None = None
        self._n_trial = 0

    def check_pair(self, pair: Any) -> None:
        """Intra-class FID needs a conditional pair whose classes are the reference set's: checked here, before
        any sampling; then the per-class reference statistics are loaded (or computed and cached)."""
        if not (self.evaluate and self.use_intra_fid):
            return
        n_classes = int(getattr(pair, "n_classes", 0) or 0)
        if n_classes == 0:
            raise DotcliError("metrics.intra_fid=true needs a conditional model (labels y); this model pair is "
                              "unconditional (n_classes 0): set metrics.intra_fid=false")
        self._class_reference()
        assert self.class_reference is not None
        if n_classes != self.class_reference.n_classes:
            raise DotcliError(f"metrics.intra_fid: the model has {n_classes} classes but the reference set "
                              f"{getattr(self.dataset, 'name', '')} has {self.class_reference.n_classes} "
                              "labelled classes")

    def _class_reference(self) -> ClassReferenceStats:
        if self.class_reference is None:
            assert self.extractor is not None
            dim = None if self.reference is None else int(self.reference.mu.shape[0])
            self.class_reference = class_reference_statistics(self.dataset, self.extractor, self.cache_dir,
                                                              batch_size=self.feature_batch_size, dim=dim)
        return self.class_reference

    def _check_prdc(self, expected_samples: int | None) -> None:
        """The neighbourhood sizes and the sample cap, before any extractor, data or sampling."""
        cap = self.prdc_samples
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 2):
            raise DotcliError(f"metrics.prdc_samples={cap!r} is not valid; expected null (all samples) or an "
                              f"integer >= 2")
        for name, k in zip(("prdc_k_pr", "prdc_k_dc"), self.prdc_k, strict=True):
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise DotcliError(f"metrics.{name}={k!r} is not valid; expected an integer >= 1")
        n = self._prdc_size(expected_samples)
        if n is not None and n < max(self.prdc_k) + 1:
            raise DotcliError(f"precision/recall/density/coverage compare {n} samples per trial with as many "
                              f"reference points, but metrics.prdc_k_pr={self.prdc_k[0]} and metrics.prdc_k_dc="
                              f"{self.prdc_k[1]} need at least {max(self.prdc_k) + 1}; raise n_samples "
                              f"(or metrics.prdc_samples) or set metrics.prdc=false")

    def _prdc_size(self, n_samples: int | None) -> int | None:
        """Samples (and reference points) precision/recall/density/coverage use per trial."""
        if n_samples is None:
            return self.prdc_samples
        return n_samples if self.prdc_samples is None else min(n_samples, self.prdc_samples)

    # ---------------------------------------------------------------- streaming
    def start_trial(self, trial: int, gen: torch.Generator) -> None:
        self.trial = trial
        self._n_trial = 0
        self._scored: dict[Any, _Scored] = {}
        self._bar = counter(self.expected_samples, f"trial {trial}")

    def _features(self, images: torch.Tensor) -> Features:
        assert self.extractor is not None
        parts = [self.extractor(images[i:i + self.feature_batch_size])
                 for i in range(0, len(images), self.feature_batch_size)]
        logits = None if parts[0].logits is None else torch.cat([p.logits for p in parts])
        return Features(pool=torch.cat([p.pool for p in parts]), logits=logits)

    def add(self, batch: SampleBatch) -> None:
        outputs: dict[Any, torch.Tensor] = {"x": batch.x, **dict(sorted(batch.steps.items()))}
        for key, xs in outputs.items():
            if not torch.isfinite(xs).all():
                where = "output" if key == "x" else f"step {key}"
                raise DotcliError(f"the sampler produced NaN/inf images ({where}, trial {self.trial})")
        u = to_uint8(batch.x)
        self._n_trial += len(u)
        self._collect_grid(u, batch.x_init)
        if self.save_samples:
            y = None if batch.y is None else batch.y.detach().cpu().numpy().astype(np.int64)
            self._saved.append((u.permute(0, 2, 3, 1).cpu().numpy(), y, self.trial))
        if self.evaluate:
            assert self.extractor is not None
            floats = getattr(self.extractor, "takes_float", False)  # inception-chainer-compat: floats in [0, 255]
            done: list[tuple[torch.Tensor, Features]] = []
            for key, xs in outputs.items():
                images = to_float255(xs) if floats else u if key == "x" else to_uint8(xs)
                # the last step is usually x itself: reuse features of identical images
                feats = next((f for img, f in done if img.shape == images.shape and torch.equal(img, images)), None)
                if feats is None:
                    feats = self._features(images)
                    done.append((images, feats))
                intra = key == "x" and self.use_intra_fid  # intra-FID of the output only
                if intra and batch.y is None:
                    raise DotcliError("metrics.intra_fid=true but the sampler produced no labels y "
                                      "(unconditional model)")
                self._scored.setdefault(key, _Scored()).add(feats, self.use_kid or self.use_prdc or intra,
                                                            labels=batch.y if intra else None)
        self._bar.update(len(u))

    def _collect_grid(self, u: torch.Tensor, x_init: torch.Tensor | None) -> None:
        """Keep the first ``grid_size`` samples of the first trial (and their G(z)) for the figure."""
        if self._grid is None:
            self._grid = {"after": u[:0].cpu(), "before": None if x_init is None else u[:0].cpu()}
        have = len(self._grid["after"])
        if self.trial != 0 or have >= self.grid_size:
            return
        k = self.grid_size - have
        self._grid["after"] = torch.cat([self._grid["after"], u[:k].cpu()])
        if self._grid["before"] is not None and x_init is not None:
            self._grid["before"] = torch.cat([self._grid["before"], to_uint8(x_init[:k]).cpu()])

    def _score(self, s: _Scored) -> dict[str, float]:
        assert self.reference is not None
        out: dict[str, float] = {}
        if s.logits:
            assert self.extractor is not None
            out["is_mean"], out["is_std"] = inception_score(torch.cat(s.logits), splits=self.is_splits,
                                                            shuffle=getattr(self.extractor, "is_shuffle", True))
        if self._fid_reference is None:  # checked and factorised once per run, not once per scored set
            self._fid_reference = (self._fid_pending.result() if self._fid_pending is not None else
                                   prepare_fid_reference(self.reference.mu, self.reference.sigma, eps=self.fid_eps))
        out["fid"] = fid_to_reference(s.stats.mean(), s.stats.cov(), self._fid_reference)
        if self.use_kid:
            assert self.reference.features is not None
            feats = torch.cat(s.pool)
            size = min(self.kid_subset_size, len(feats), len(self.reference.features))
            out["kid_mean"], out["kid_std"] = kid(feats, self.reference.features, subsets=self.kid_subsets,
                                                  subset_size=size)
        if self.use_prdc:
            out.update(self._prdc(s))
        return out

    def _prdc(self, s: _Scored) -> dict[str, float]:
        """Precision/recall/density/coverage of the trial's first ``prdc_samples`` pool features."""
        assert self.reference is not None and self.reference.features is not None
        fake = torch.cat(s.pool)
        size = min(len(fake), self._prdc_size(len(fake)) or len(fake), self.reference.n)
        check_sizes(size, size, *self.prdc_k)
        if self._prdc_reference is None or len(self._prdc_reference[0]) != size:
            feats, radii, self._prdc_from_cache = reference_radii(self.reference, size, self.prdc_k, fake.device)
            self._prdc_reference = (feats, radii)
        real, radii = self._prdc_reference
        return prdc(real, fake[:size], *self.prdc_k, real_radii=radii)

    def finish_trial(self) -> dict[str, Any]:
        self._bar.close()
        if not self.evaluate:
            return {"metrics": {}, "by_step": {}}
        if self._n_trial < 2:
            raise DotcliError(f"trial {self.trial} produced {self._n_trial} sample(s); IS/FID need at least 2")
        metrics = self._score(self._scored["x"])
        if self.use_intra_fid:
            ref, out = self._class_reference(), self._scored["x"]
            res = intra_fid(torch.cat(out.pool), torch.cat(out.labels), ref.n_classes, ref.load, ref.counts,
                            eps=self.fid_eps)
            metrics["intra_fid"] = res.value
            self._intra.append({"trial": self.trial, "classes_scored": res.classes_scored,
                                "classes_skipped": res.classes_skipped, "samples_per_class": res.samples_per_class,
                                "fid_per_class": res.fid_per_class})
        by_step = {key: self._score(s) for key, s in self._scored.items() if key != "x"}
        self._scored = {}
        return {"metrics": metrics, "by_step": by_step}

    # ---------------------------------------------------------------- outputs
    def save_figures(self, out_dir: Path, title: str) -> list[str]:
        """Write the before/after sample grid (and ``samples.npz`` when ``save_samples``)."""
        out_dir = Path(out_dir)
        if self.save_samples and self._saved:
            self._write_samples(out_dir / SAMPLES_NAME)
        if self._grid is None:
            return []
        sample_grid(self._grid["before"], self._grid["after"], title, out_dir / GRID_NAME)
        return [GRID_NAME]

    def _write_samples(self, path: Path) -> None:
        x = np.concatenate([s[0] for s in self._saved])
        trial = np.concatenate([np.full(len(s[0]), s[2], dtype=np.int16) for s in self._saved])
        arrays: dict[str, np.ndarray] = {"x": x, "trial": trial}
        if all(s[1] is not None for s in self._saved):
            arrays["y"] = np.concatenate([s[1] for s in self._saved])
        write_atomic(path, lambda f: np.savez(f, **arrays))
        self._samples_file = path.name
        self._saved = []

    def describe(self) -> dict[str, Any]:
        describe_data = getattr(self.dataset, "describe", None)
        floats = getattr(self.extractor, "takes_float", False)
        out: dict[str, Any] = {"dataset": describe_data() if callable(describe_data) else None,
                               "quantisation": FLOAT_INPUT if floats else QUANTISATION}
        if not self.evaluate:
            out["metrics"] = "none (metrics.evaluate=false)"
        else:
            assert self.extractor is not None and self.reference is not None
            out.update({
                "metrics": ["is", "fid"] + (["kid"] if self.use_kid else []) + (["intra_fid"] if self.use_intra_fid
                                                                                 else []),
                "reference_set": getattr(self.dataset, "reference_set", None),
                "reference_stats": self.reference.describe(),
                "feature_extractor": self.extractor.identity(),
                "resize": getattr(self.extractor, "resize", None),
                "fid_backend": self.fid_backend,
                "fid_eps": self.fid_eps,
                "is_splits": self.is_splits,
                "samples_per_trial": self._n_trial,
            })
            if not self.extractor.has_logits:
                out["is"] = (f"unavailable: {self.extractor.name} gives no class logits (IS only from an Inception "
                             "or a classifier; an embedding is not a class distribution)")
            if self.use_kid:
                out["kid"] = {"subsets": self.kid_subsets, "subset_size": min(
                    self.kid_subset_size, self._n_trial or self.kid_subset_size, self.reference.n),
                    "kernel": "polynomial (x.y/d + 1)^3"}
            if self.use_intra_fid and self.class_reference is not None:
                out["intra_fid"] = {
                    "reference_split": getattr(self.dataset, "reference_set", None),
                    "reference_limit": getattr(self.dataset, "reference_limit", None),
                    "reference_stats": self.class_reference.describe(),
                    "generated_labels": "the sampler's labels y (the model pair's class prior)",
                    "mean_over": "classes with >= 2 generated and >= 2 reference images",
                    "scored": "the output x (not the recorded steps)",
                    "trials": self._intra}
            if self.use_prdc and self._prdc_reference is not None:
                out["prdc"] = {"k_pr": self.prdc_k[0], "k_dc": self.prdc_k[1],
                               "samples": len(self._prdc_reference[0]), "reference": len(self._prdc_reference[0]),
                               "reference_subset": "all" if len(self._prdc_reference[0]) >= self.reference.n else
                               f"fixed random subset (RandomState({PRDC_SUBSET_SEED}))",
                               "samples_used": "the first of each trial", "radii_from_cache": self._prdc_from_cache,
                               "rule": "precision/recall <= (Kynkaanniemi 2019), density/coverage < (Naeem 2020)"}
            if self._n_trial < PROTOCOL_SAMPLES:
                out["note"] = (f"{self._n_trial} samples per trial: IS/FID at this size are biased (FID upward) and "
                               f"not comparable to numbers computed from {PROTOCOL_SAMPLES} samples")
        if self._samples_file:
            out["samples_file"] = self._samples_file
        return out


def sample_grid(before: torch.Tensor | None, after: torch.Tensor, title: str, path: Path, nrow: int = 8) -> None:
    """PNG of uint8 images: G(z) | output, the same latents in the same grid positions."""
    from matplotlib.figure import Figure  # lazy: only the figure needs it (no pyplot: no global state)
    from torchvision.utils import make_grid

    panels = [("G(z)", before), ("output", after)] if before is not None and len(before) else [("output", after)]
    grids = [make_grid(images.float() / 255.0, nrow=nrow, padding=2, pad_value=1.0) for _, images in panels]
    dpi = 100  # about one screen pixel per image pixel, at least 4 inches a panel
    width, height = max(4.0, grids[0].shape[2] / dpi), max(4.0, grids[0].shape[1] / dpi)
    fig = Figure(figsize=(width * len(panels) + 0.4, height + 0.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, _), grid in zip(axes[0], panels, grids, strict=True):
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)
