"""Fashion-MNIST: the IDX reader on files the tests write, the 32px RGB form, file lookup, the config."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from dotcli import DotcliError
from dotcli.data.fashion_mnist import DEBIAN_DIR, FashionMnist, grey_to_rgb32, read_idx
from dotcli.data.images import from_uint8
from tests.data.fake_fmnist import idx_bytes, write_fake_fmnist


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                         (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_every_type_plain_and_gzipped(tmp_path, code, dtype, gz):
    arr = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    data = idx_bytes(arr, code)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_read_idx_hand_written_header(tmp_path):
    # 1-d labels file, bytes spelled out: magic 0 0 0x08 0x01, size 3 (big-endian), data 7 0 9
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]))
    np.testing.assert_array_equal(read_idx(path), [7, 0, 9])


@pytest.mark.parametrize("raw, match", [(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
                                        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code"),
                                        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "truncated or corrupted"),
                                        (b"\x00\x00\x08\x02\x00\x00", "truncated IDX header")])
def test_read_idx_rejects_broken_files(tmp_path, raw, match):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(DotcliError, match=match):
        read_idx(path)


def test_grey_to_rgb32_pads_with_zeros_and_repeats_the_channel():
    grey = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28).astype(np.uint8)
    rgb = grey_to_rgb32(grey)
    assert rgb.shape == (2, 3, 32, 32) and rgb.dtype == torch.uint8
    assert (rgb[:, :, :2] == 0).all() and (rgb[:, :, -2:] == 0).all()
    assert (rgb[:, :, :, :2] == 0).all() and (rgb[:, :, :, -2:] == 0).all()
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, c, 2:30, 2:30].numpy(), grey)


@pytest.mark.parametrize("gz", [True, False])
def test_dataset_on_fake_files_in_paths_data(tmp_path, gz):
    written = write_fake_fmnist(tmp_path / "data", gz=gz)
    ds = FashionMnist(tmp_path / "data", debian_dir=None)
    assert ds.reference_size() == 40 and len(ds.heldout()) == 12
    ref = torch.cat(list(ds.reference_batches(16)))
    torch.testing.assert_close(ref, grey_to_rgb32(written["train"]))
    np.testing.assert_array_equal(ds.labels("test"), written["test_labels"])
    x = ds.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    held = from_uint8(grey_to_rgb32(written["test"]))
    assert all(any(torch.equal(xi, h) for h in held) for xi in x)  # drawn from the test split
    both = FashionMnist(tmp_path / "data", debian_dir=None, reference_set="train+test")
    assert both.reference_size() == 52
    assert both.reference_identity()["data"] != ds.reference_identity()["data"]
    assert "zero-pad 28->32" in ds.reference_identity()["transform"]


def test_torchvision_layout_and_identity_independent_of_compression(tmp_path):
    write_fake_fmnist(tmp_path / "a" / "FashionMNIST" / "raw", gz=False)
    write_fake_fmnist(tmp_path / "b", gz=True)
    a = FashionMnist(tmp_path / "a", debian_dir=None)
    b = FashionMnist(tmp_path / "b", debian_dir=None)
    assert a.reference_identity() == {**b.reference_identity()}
    assert a.describe()["files"].endswith("raw")


def test_debian_dir_comes_first(tmp_path):
    write_fake_fmnist(tmp_path / "debian", n_train=20)
    write_fake_fmnist(tmp_path / "data", n_train=30)
    ds = FashionMnist(tmp_path / "data", debian_dir=str(tmp_path / "debian"))
    assert ds.reference_size() == 20


def test_missing_files_fail_with_one_helpful_line(tmp_path, monkeypatch):
    ds = FashionMnist(tmp_path / "none", debian_dir=str(tmp_path / "nodebian"))
    with pytest.raises(DotcliError, match="apt-get install dataset-fashion-mnist"):
        ds.reference_size()
    called = []
    monkeypatch.setattr(FashionMnist, "_download", lambda self: called.append(self.root))
    with pytest.raises(DotcliError, match="not found"):
        FashionMnist(tmp_path / "none", download=True, debian_dir=None).reference_size()
    assert called == [tmp_path / "none"]
    with pytest.raises(DotcliError, match="reference_set"):
        FashionMnist(tmp_path, reference_set="test")


def test_config_composes_and_builds(tmp_path):
    write_fake_fmnist(tmp_path / "data")
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        cfg = compose(config_name="run", overrides=["dataset=fashion_mnist", f"paths.data={tmp_path / 'data'}",
                                                    "dataset.data.debian_dir=null"])
    assert cfg.n_samples == 10000 and cfg.dataset.kind == "image" and cfg.dataset.refine.space == "latent"
    ds = instantiate(cfg.dataset.data, _convert_="all")
    assert isinstance(ds, FashionMnist) and ds.reference_size() == 40 and ds.channels == 1


@pytest.mark.skipif(not Path(DEBIAN_DIR, "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_DIR}); "
                           "apt-get install dataset-fashion-mnist")
def test_debian_files():
    ds = FashionMnist("/nonexistent")
    assert ds.reference_size() == 60000 and len(ds.heldout()) == 10000
    assert np.bincount(ds.labels("test")).tolist() == [1000] * 10
    assert ds.describe()["files"] == DEBIAN_DIR
