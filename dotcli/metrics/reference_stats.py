"""Reference statistics for FID/KID: computed once, cached on disk, never reused across weights or data.

The cache key is a hash of the dataset's ``reference_identity()`` (name, reference set, image size,
transform, subset, a fingerprint of the files) and the extractor's ``identity()`` (name, backend, sha256
of the weights file, layers). Unlike torch-fidelity's cache (whose names ignore the weights and the data,
docs/protocol.md#image-metrics), a different weights file or dataset therefore never reuses statistics.

Files, under ``<cache>/reference_stats/``: ``<dataset>-<key>.npz`` (``mu``, ``sigma`` float64, ``n``,
``key``), ``<dataset>-<key>.features.npy`` (float32 pool features, only once KID or precision/recall asked for
them), ``<dataset>-<key>.prdc-n<size>-k<k_pr>-<k_dc>.npz`` (the k-NN radii of a reference subset, see
:func:`reference_radii`) and ``<dataset>-<key>.json`` (the key's contents, for people). Each is written to a
temporary file in the same directory and renamed into place, so a crash never leaves a half-written file under the
final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.metrics.extractors import FeatureExtractor
from dotcli.metrics.fidelity import MeanCov
from dotcli.progress import counter
from dotcli.records import write_atomic

CACHE_FORMAT = 1  # bump when what is stored (or how it is computed) changes


class ReferenceData(Protocol):
    """What a dataset offers for reference statistics (see :class:`dotcli.data.images.ImageData`)."""

    name: str

    def reference_identity(self) -> dict[str, Any]: ...

    def reference_size(self) -> int: ...

    def reference_batches(self, batch_size: int) -> Iterator[torch.Tensor]: ...


@dataclass
class ReferenceStats:
    """Mean and covariance of the reference features (and the features themselves for KID)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    key: str
    path: Path
    features: np.ndarray | None = None
    from_cache: bool = False

    def describe(self) -> dict[str, Any]:
        return {"n": self.n, "key": self.key, "path": str(self.path), "from_cache": self.from_cache}


def reference_key(dataset_identity: dict[str, Any], extractor_identity: dict[str, Any]) -> str:
    """Hash (hex, 24 chars) of everything that determines the reference features."""
    blob = json.dumps({"format": CACHE_FORMAT, "dataset": dataset_identity, "extractor": extractor_identity},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def extract_in_batches(extractor: FeatureExtractor, batches: Iterator[torch.Tensor], total: int | None,
                       desc: str, keep_features: bool) -> tuple[MeanCov, np.ndarray | None]:
    """Stream uint8 batches through ``extractor`` into a :class:`MeanCov` (and keep features if asked)."""
    stats, kept = MeanCov(), []
    with counter(total, desc) as bar:
        for images in batches:
            pool = extractor(images).pool
            stats.update(pool)
            if keep_features:
                kept.append(pool.float().cpu().numpy())
            bar.update(len(images))
    return stats, (np.concatenate(kept) if keep_features and kept else None)


def reference_statistics(dataset: ReferenceData, extractor: FeatureExtractor, cache_dir: str | os.PathLike,
                         *, need_features: bool = False, batch_size: int = 250) -> ReferenceStats:
    """Load the reference statistics from the cache, or compute and cache them."""
    identity = {"dataset": dataset.reference_identity(), "extractor": extractor.identity()}
    key = reference_key(identity["dataset"], identity["extractor"])
    base = Path(str(cache_dir)).expanduser() / "reference_stats" / f"{dataset.name}-{key}"
    stats_path, feats_path = Path(f"{base}.npz"), Path(f"{base}.features.npy")
    if stats_path.is_file() and (feats_path.is_file() or not need_features):
        try:
            with np.load(stats_path) as z:
                if str(z["key"]) != key:
                    raise ValueError(f"stored key {z['key']} differs")
                stats = ReferenceStats(mu=z["mu"], sigma=z["sigma"], n=int(z["n"]), key=key, path=stats_path,
                                       from_cache=True)
            if need_features:
                stats.features = np.load(feats_path)
                if stats.features.shape[0] != stats.n:
                    raise ValueError("features and statistics disagree on n")
            return stats
        except (OSError, ValueError, KeyError) as exc:
            raise DotcliError(f"cached reference statistics {stats_path} are unreadable ({exc}); delete "
                              f"{base}.* and run again") from exc

    t0 = time.perf_counter()
    acc, features = extract_in_batches(extractor, dataset.reference_batches(batch_size), dataset.reference_size(),
                                       f"reference statistics ({dataset.name})", need_features)
    if acc.n < 2:
        raise DotcliError(f"{dataset.name}: the reference set has {acc.n} image(s); FID needs at least 2")
    stats = ReferenceStats(mu=acc.mean(), sigma=acc.cov(), n=acc.n, key=key, path=stats_path,
                           features=features)
    write_atomic(stats_path, lambda f: np.savez(f, mu=stats.mu, sigma=stats.sigma, n=stats.n, key=key))
    if features is not None:
        write_atomic(feats_path, lambda f: np.save(f, features))
    meta = {**identity, "key": key, "n": stats.n, "seconds": round(time.perf_counter() - t0, 1)}
    write_atomic(Path(f"{base}.json"), lambda f: f.write(json.dumps(meta, indent=2, default=str).encode()))
    return stats


PRDC_SUBSET_SEED = 2020  # the reference subset for precision/recall/density/coverage: one fixed draw per size


def prdc_reference_subset(n_reference: int, size: int) -> np.ndarray:
    """Sorted indices of the reference points precision/recall/density/coverage use: all of them when ``size``
    covers the set, else ``size`` drawn without replacement by ``RandomState(PRDC_SUBSET_SEED)`` (the same subset
    in every run, so its radii can be cached)."""
    if size >= n_reference:
        return np.arange(n_reference)
    return np.sort(np.random.RandomState(PRDC_SUBSET_SEED).choice(n_reference, size, replace=False))


def reference_radii(stats: ReferenceStats, size: int, ks: tuple[int, int],
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The reference subset's features and their squared k-NN radii ``(size, 2)`` for ``ks`` = (k_pr, k_dc).

    Cached beside the FID statistics under the same key: ``<dataset>-<key>.prdc-n<size>-k<k_pr>-<k_dc>.npz``
    (``indices``, ``radii``, ``key``). Returns (features, radii, whether the radii came from the cache).
    """
    from dotcli.metrics.prdc import knn_radii  # the distance code, only when precision/recall are asked for

    if stats.features is None:
        raise DotcliError("precision/recall need the reference features; they were not loaded")
    idx = prdc_reference_subset(len(stats.features), size)
    feats = torch.from_numpy(np.ascontiguousarray(stats.features[idx], dtype=np.float32)).to(device)
    base = str(stats.path)[:-len(".npz")] if str(stats.path).endswith(".npz") else str(stats.path)
    path = Path(f"{base}.prdc-n{len(idx)}-k{ks[0]}-{ks[1]}.npz")
    if path.is_file():
        try:
            with np.load(path) as z:
                if str(z["key"]) != stats.key or not np.array_equal(z["indices"], idx):
                    raise ValueError("key or subset differs")
                radii = z["radii"]
            if radii.shape != (len(idx), 2) or radii.dtype != np.float32 or not np.isfinite(radii).all():
                raise ValueError(f"radii have shape {radii.shape}, dtype {radii.dtype}")
            return feats, torch.from_numpy(radii).to(device), True
        except (OSError, ValueError, KeyError) as exc:
            raise DotcliError(f"cached reference radii {path} are unreadable ({exc}); delete it and run again") from exc
    radii_t = knn_radii(feats, ks)
    radii = radii_t.cpu().numpy()
    write_atomic(path, lambda f: np.savez(f, indices=idx, radii=radii, key=stats.key))
    return feats, radii_t, False


# ---------------------------------------------------------------- per-class statistics (intra-class FID)

CLASS_INDEX = "index.json"
#: the per-class accumulators held at once (float64 d x d each) stay under this many bytes; more classes
#: are done in several groups, each over only its own classes' images (every image is still read once)
CLASS_MEMORY_BUDGET = 2 * 1024**3


class LabelledReferenceData(ReferenceData, Protocol):
    """A reference set with class labels (see :meth:`dotcli.data.images.ImageData.reference_labels`)."""

    def reference_labels(self) -> np.ndarray | None: ...

    def reference_batches_of(self, positions: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]: ...


@dataclass
class ClassReferenceStats:
    """Per-class mean and covariance of the reference features, one file per class, read one class at a time."""

    directory: Path
    key: str
    counts: np.ndarray  # reference images per class (index = class)
    from_cache: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.counts)

    def load(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)`` of class ``c``."""
        path = self.directory / f"class-{c:05d}.npz"
        try:
            with np.load(path) as z:
                if str(z["key"]) != self.key or int(z["n"]) != int(self.counts[c]):
                    raise ValueError("stored key or count differs")
                return z["mu"], z["sigma"]
        except (OSError, ValueError, KeyError) as exc:
            raise DotcliError(f"cached per-class reference statistics {path} are unreadable ({exc}); delete "
                              f"{self.directory} and run again") from exc

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.directory), "from_cache": self.from_cache,
                "classes": self.n_classes, "images_per_class": [int(n) for n in self.counts]}


def class_groups(n_classes: int, dim: int, budget: int = CLASS_MEMORY_BUDGET) -> list[range]:
    """Consecutive groups of classes whose float64 ``dim x dim`` accumulators fit in ``budget`` bytes."""
    per_group = max(1, budget // max(1, 8 * dim * dim))
    return [range(lo, min(lo + per_group, n_classes)) for lo in range(0, n_classes, per_group)]


def class_reference_statistics(dataset: LabelledReferenceData, extractor: FeatureExtractor,
                               cache_dir: str | os.PathLike, *, batch_size: int = 250,
                               memory_budget: int = CLASS_MEMORY_BUDGET, dim: int | None = None) -> ClassReferenceStats:
    """Load the per-class reference statistics from the cache, or compute and cache them.

    Keyed like :func:`reference_statistics` (dataset identity, extractor identity) plus a hash of the labels.
    Files: ``<cache>/reference_stats/<dataset>-<key>.classes/class-<c>.npz`` (``mu``, ``sigma`` float64, ``n``,
    ``key``) and ``index.json`` (written last: a directory without it is incomplete and recomputed).
    ``dim``: the feature dimension when known (else one reference image is run through the extractor to learn it).
    """
    labels = dataset.reference_labels()
    if labels is None:
        raise DotcliError(f"{dataset.name}: the reference set has no class labels, so intra-class FID cannot be "
                          "computed (metrics.intra_fid needs a labelled reference set, e.g. ImageFolder class "
                          "folders or CIFAR-10)")
    labels = np.asarray(labels, dtype=np.int64)
    identity = {"dataset": dataset.reference_identity(), "extractor": extractor.identity(),
                "per_class": {"labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest()}}
    key = reference_key({**identity["dataset"], "per_class": identity["per_class"]}, identity["extractor"])
    directory = Path(str(cache_dir)).expanduser() / "reference_stats" / f"{dataset.name}-{key}.classes"
    counts = np.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
    index = directory / CLASS_INDEX
    if index.is_file():
        try:
            meta = json.loads(index.read_text())
            if meta["key"] != key or meta["images_per_class"] != [int(n) for n in counts]:
                raise ValueError("stored key or class counts differ")
        except (OSError, ValueError, KeyError) as exc:
            raise DotcliError(f"cached per-class reference statistics {index} are unreadable ({exc}); delete "
                              f"{directory} and run again") from exc
        return ClassReferenceStats(directory, key, counts, from_cache=True)

    t0 = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    if dim is None:
        dim = int(extractor(next(iter(dataset.reference_batches_of(np.arange(1), 1)))).pool.shape[1])
    for group in class_groups(len(counts), dim, memory_budget):
        positions = np.flatnonzero((labels >= group.start) & (labels < group.stop))
        accs = {c: MeanCov() for c in group}
        done = 0
        with counter(len(positions), f"per-class reference ({dataset.name}, classes "
                     f"{group.start}-{group.stop - 1})") as bar:
            for images in dataset.reference_batches_of(positions, batch_size):
                pool = extractor(images).pool
                batch_labels = torch.from_numpy(labels[positions[done:done + len(images)]]).to(pool.device)
                for c in batch_labels.unique().tolist():
                    accs[c].update(pool[batch_labels == c])
                done += len(images)
                bar.update(len(images))
        for c, acc in accs.items():
            mu = acc.mean() if acc.n else np.zeros(dim)
            sigma = acc.cov() if acc.n >= 2 else np.zeros((dim, dim))  # < 2 images: the class is not scored
            write_atomic(directory / f"class-{c:05d}.npz",
                         lambda f, mu=mu, sigma=sigma, n=acc.n: np.savez(f, mu=mu, sigma=sigma, n=n, key=key))
    meta = {**identity, "key": key, "images_per_class": [int(n) for n in counts],
            "seconds": round(time.perf_counter() - t0, 1)}
    write_atomic(index, lambda f: f.write(json.dumps(meta, indent=2, default=str).encode()))
    return ClassReferenceStats(directory, key, counts)
