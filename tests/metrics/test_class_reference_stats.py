"""Per-class reference statistics (intra-class FID): per-class mean/covariance of the labelled reference
features, cached under a content key, computed in class groups under a memory budget with the same result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.data.images import Cifar10
from dotcli.metrics.reference_stats import class_groups, class_reference_statistics
from tests.data.fake import write_fake_cifar10
from tests.metrics.tiny import TinyExtractor


class Counting(TinyExtractor):
    """The tiny extractor, counting the images it sees."""

    seen = 0

    def __call__(self, images):
        Counting.seen += len(images)
        return super().__call__(images)


def labels_of(root, files):
    import pickle

    out = []
    for f in files:
        with open(root / "cifar-10-batches-py" / f, "rb") as fh:
            out += list(pickle.load(fh)["labels"])
    return np.array(out)


def test_per_class_stats_equal_numpy_and_are_cached(tmp_path):
    images = write_fake_cifar10(tmp_path / "data", per_file=12)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    ext = Counting()
    Counting.seen = 0
    stats = class_reference_statistics(ds, ext, tmp_path / "cache", batch_size=7)
    labels = labels_of(tmp_path / "data", Cifar10.train_files)
    np.testing.assert_array_equal(ds.reference_labels(), labels)
    feats = TinyExtractor()(torch.from_numpy(images[:60])).pool.double().numpy()
    assert stats.n_classes == 10 and list(stats.counts) == list(np.bincount(labels, minlength=10))
    for c in range(10):
        mu, sigma = stats.load(c)
        rows = feats[labels == c]
        if len(rows) >= 2:
            np.testing.assert_allclose(mu, rows.mean(0), rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(sigma, np.cov(rows, rowvar=False), rtol=1e-5, atol=1e-9)
    assert Counting.seen == 60 + 1  # every reference image once (+ one probe for the feature size)
    again = class_reference_statistics(ds, ext, tmp_path / "cache")
    assert again.from_cache and again.key == stats.key and Counting.seen == 61
    d = again.describe()
    assert d["classes"] == 10 and sum(d["images_per_class"]) == 60
    # a different reference split is a different key
    other = class_reference_statistics(Cifar10(tmp_path / "data"), ext, tmp_path / "cache")
    assert other.key != stats.key and sum(other.counts) == 72


def test_class_groups_under_a_budget_give_the_same_statistics(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=10)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    assert [len(g) for g in class_groups(10, 8, budget=3 * 8 * 64)] == [3, 3, 3, 1]
    assert class_groups(5, 2048, budget=1) == [range(i, i + 1) for i in range(5)]
    one = class_reference_statistics(ds, TinyExtractor(), tmp_path / "a")
    grouped = class_reference_statistics(ds, TinyExtractor(), tmp_path / "b", memory_budget=3 * 8 * 64)
    for c in range(10):
        for a, b in zip(one.load(c), grouped.load(c), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_unlabelled_reference_and_corrupted_cache_are_one_error(tmp_path):
    from dotcli.data.images import ImageFolderData

    folder = tmp_path / "flat"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), i * 40, dtype=np.uint8)).save(folder / f"{i}.png")
    flat = ImageFolderData(folder, image_size=8)
    assert flat.reference_labels() is None
    with pytest.raises(DotcliError, match="no class labels"):
        class_reference_statistics(flat, TinyExtractor(), tmp_path / "cache")
    write_fake_cifar10(tmp_path / "data", per_file=6)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    stats = class_reference_statistics(ds, TinyExtractor(), tmp_path / "cache")
    (stats.directory / "index.json").write_text("{not json")
    with pytest.raises(DotcliError, match="unreadable.*delete"):
        class_reference_statistics(ds, TinyExtractor(), tmp_path / "cache")


def test_image_folder_labels_are_imagefolders_sorted_class_folders(tmp_path):
    from PIL import Image

    from dotcli.data.images import ImageFolderData

    for cls, n in (("b_cat", 2), ("a_dog", 3)):
        (tmp_path / "train" / cls / "sub").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "train" / cls / "sub" / f"{i}.png")
    ds = ImageFolderData(tmp_path, image_size=8, reference_set="train")
    np.testing.assert_array_equal(ds.reference_labels(), [0, 0, 0, 1, 1])  # a_dog = 0, b_cat = 1
