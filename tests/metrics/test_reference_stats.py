"""Reference statistics: cached once, keyed by data and weights, written atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.metrics.reference_stats import reference_key, reference_statistics
from tests.metrics.tiny import TinyExtractor, save_tiny_weights, tiny_forward, tiny_weights


class MemoryData:
    """A reference set held in memory; counts how often it is read."""

    name = "memory"

    def __init__(self, images: torch.Tensor, tag: str = "a") -> None:
        self.images, self.tag, self.reads = images, tag, 0

    def reference_identity(self):
        return {"name": self.name, "data": self.tag, "image_size": self.images.shape[-1]}

    def reference_size(self):
        return len(self.images)

    def reference_batches(self, batch_size):
        self.reads += 1
        for i in range(0, len(self.images), batch_size):
            yield self.images[i:i + batch_size]


def images(n=50, size=16, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_key_changes_with_weights_data_and_protocol():
    ds = {"name": "cifar10", "reference_set": "train+test", "image_size": 32, "data": "f1"}
    ex = {"name": "inception-v3-compat", "backend": "torch-fidelity", "weights_sha256": "aaa"}
    key = reference_key(ds, ex)
    assert key == reference_key(dict(ds), dict(ex))  # deterministic
    assert key != reference_key(ds, {**ex, "weights_sha256": "bbb"})
    assert key != reference_key(ds, {**ex, "backend": "pytorch-fid"})
    assert key != reference_key({**ds, "data": "f2"}, ex)
    assert key != reference_key({**ds, "reference_set": "train"}, ex)
    assert key != reference_key({**ds, "image_size": 48}, ex)


def test_statistics_are_computed_once_and_reused(tmp_path):
    data = MemoryData(images())
    ex = TinyExtractor()
    first = reference_statistics(data, ex, tmp_path, batch_size=16)
    assert not first.from_cache and data.reads == 1 and first.n == 50
    pool, _ = tiny_forward(data.images, tiny_weights())
    feats = pool.double().numpy()
    np.testing.assert_allclose(first.mu, feats.mean(0), rtol=1e-10)
    np.testing.assert_allclose(first.sigma, np.cov(feats, rowvar=False), rtol=1e-8, atol=1e-12)
    second = reference_statistics(data, ex, tmp_path, batch_size=7)
    assert second.from_cache and data.reads == 1 and second.path == first.path
    np.testing.assert_array_equal(second.sigma, first.sigma)
    meta = json.loads(first.path.with_name(first.path.name.replace(".npz", ".json")).read_text())
    assert meta["key"] == first.key and meta["extractor"]["weights_sha256"] == "seed0"
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_different_weights_file_or_dataset_never_reuses(tmp_path):
    data = MemoryData(images())
    w1 = save_tiny_weights(tmp_path / "w1.pt", seed=1)
    w2 = save_tiny_weights(tmp_path / "w2.pt", seed=2)
    s1 = reference_statistics(data, TinyExtractor(str(w1)), tmp_path / "cache")
    s2 = reference_statistics(data, TinyExtractor(str(w2)), tmp_path / "cache")
    assert not s2.from_cache and s1.key != s2.key and data.reads == 2
    assert not np.allclose(s1.mu, s2.mu)
    other = MemoryData(images(seed=1), tag="b")
    s3 = reference_statistics(other, TinyExtractor(str(w1)), tmp_path / "cache")
    assert not s3.from_cache and s3.key not in (s1.key, s2.key)
    assert reference_statistics(data, TinyExtractor(str(w1)), tmp_path / "cache").from_cache


def test_features_for_kid_are_added_to_an_existing_cache(tmp_path):
    data = MemoryData(images(n=20))
    ex = TinyExtractor()
    assert reference_statistics(data, ex, tmp_path).features is None
    with_feats = reference_statistics(data, ex, tmp_path, need_features=True)
    assert not with_feats.from_cache and with_feats.features.shape == (20, 8) and data.reads == 2
    again = reference_statistics(data, ex, tmp_path, need_features=True)
    assert again.from_cache and data.reads == 2
    np.testing.assert_array_equal(again.features, with_feats.features)


def test_corrupted_cache_is_reported(tmp_path):
    data = MemoryData(images(n=10))
    stats = reference_statistics(data, TinyExtractor(), tmp_path)
    stats.path.write_bytes(b"not an npz")
    with pytest.raises(DotcliError, match="unreadable"):
        reference_statistics(data, TinyExtractor(), tmp_path)
