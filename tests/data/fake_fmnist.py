"""Small Fashion-MNIST-like IDX files written by the tests themselves (the IDX format by hand, with struct)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from dotcli.data.fashion_mnist import FILES


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """The IDX encoding of ``array``: 0, 0, type code, ndim, big-endian uint32 sizes, big-endian data."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_fake_fmnist(root: Path, n_train: int = 40, n_test: int = 12, gz: bool = True,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 uint8 images and labels for both splits under ``root`` (gzipped like Debian's by default)."""
    rng = np.random.RandomState(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for stem, arr in zip(FILES[split], (images, labels), strict=True):
            data = idx_bytes(arr)
            if gz:
                (root / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (root / stem).write_bytes(data)
        out[split], out[f"{split}_labels"] = images, labels
    return out
