"""Tiny fake datasets written in torchvision's on-disk formats (CIFAR-10 pickles, STL-10 binaries)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_fake_cifar10(root: Path, per_file: int = 12, seed: int = 0, skip: tuple[str, ...] = ()) -> np.ndarray:
    """``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``; returns all images (N,3,32,32)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for name in CIFAR_FILES:
        data = rng.integers(0, 256, size=(per_file, 3 * 32 * 32), dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32))
        if name in skip:
            continue
        with open(folder / name, "wb") as f:  # the real files are Python-2 pickles of this dict
            pickle.dump({"batch_label": name, "data": data, "labels": list(rng.integers(0, 10, per_file)),
                         "filenames": [f"{name}_{i}.png" for i in range(per_file)]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": per_file}, f)
    return np.concatenate(images)


def write_fake_stl10(root: Path, n_unlabeled: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """``root/stl10_binary/{unlabeled_X,test_X}.bin`` (column-major 96px images); returns (N,3,96,96) row-major."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, n in (("unlabeled_X.bin", n_unlabeled), ("test_X.bin", n_test)):
        images = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
        np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tofile(folder / name)  # STL stores columns first
        out[name] = images
    return out
