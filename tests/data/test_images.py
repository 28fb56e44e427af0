"""Image datasets on tiny fake data in torchvision's on-disk formats; never the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dotcli import DotcliError
from dotcli.data import images as image_data
from dotcli.data.images import Cifar10, ImageFolderData, ImageNet, Stl10, from_uint8, pool2x2, to_uint8
from tests.data.fake import write_fake_cifar10, write_fake_stl10


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_quantisation_rounds_and_inverts_exactly():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(from_uint8(levels)), levels)  # all 256 levels survive the round trip
    x = torch.tensor([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0])
    # round((x + 1) * 127.5): 0.1275 -> 0, 127.5 -> 128 (ties to even), 191.25 -> 191; clamped outside
    assert to_uint8(x).tolist() == [0, 0, 0, 128, 191, 255, 255]


def test_cifar10_reads_torchvision_format(tmp_path):
    written = write_fake_cifar10(tmp_path, per_file=10)  # 5 train files + test: 60 images
    ds = Cifar10(tmp_path, download=False)
    assert ds.reference_size() == 60
    ref = torch.cat(list(ds.reference_batches(batch_size=16)))
    assert ref.dtype == torch.uint8 and torch.equal(ref, torch.from_numpy(written))
    train = Cifar10(tmp_path, reference_set="train")
    assert train.reference_size() == 50
    assert torch.equal(torch.cat(list(train.reference_batches(50))), torch.from_numpy(written[:50]))
    assert ds.reference_identity() != train.reference_identity()
    desc = ds.describe()
    assert desc["reference_set"] == "train+test" and desc["reference_size"] == 60 and desc["heldout_split"] == "test"


def test_cifar10_sample_draws_held_out_images_in_range(tmp_path):
    written = torch.from_numpy(write_fake_cifar10(tmp_path, per_file=10))
    ds = Cifar10(tmp_path)
    x = ds.sample(6, gen(1))
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    test_images = written[50:]
    for img in to_uint8(x):  # every sample is one of the test-split images
        assert any(torch.equal(img, t) for t in test_images)
    assert len({to_uint8(x)[i].sum().item() for i in range(6)}) == 6  # without replacement
    assert torch.equal(ds.sample(6, gen(1)), x)  # the generator decides
    assert ds.sample(25, gen(2)).shape[0] == 25  # more than the split: with replacement


def test_cifar10_missing_files_error_is_one_clear_line(tmp_path):
    write_fake_cifar10(tmp_path, per_file=4, skip=("data_batch_3", "test_batch"))
    ds = Cifar10(tmp_path, download=False)  # lazy: nothing read yet
    with pytest.raises(DotcliError) as err:
        ds.reference_size()
    msg = str(err.value)
    assert "\n" not in msg and "data_batch_3" in msg and "test_batch" in msg and "data_batch_1" not in msg
    assert str(tmp_path / "cifar-10-batches-py") in msg and "paths.allow_download=true" in msg
    with pytest.raises(DotcliError, match="missing test_batch"):
        ds.sample(2, gen())
    with pytest.raises(DotcliError, match="reference_set='test'"):
        Cifar10(tmp_path, reference_set="test")


def test_cifar10_downloads_only_when_allowed(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, root, filename, md5):
        calls.append((url, filename, md5))
        write_fake_cifar10(root, per_file=3)

    monkeypatch.setattr(image_data, "_download_archive", fake_download)
    with pytest.raises(DotcliError, match="missing"):
        Cifar10(tmp_path, download=False).reference_size()
    assert calls == []
    assert Cifar10(tmp_path, download=True).reference_size() == 18
    assert calls == [(Cifar10.url, "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]


def test_download_constants_are_torchvision_s():
    from torchvision.datasets import CIFAR10, STL10

    assert (Cifar10.url, Cifar10.archive, Cifar10.archive_md5) == (CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5)
    assert (Stl10.url, Stl10.archive, Stl10.archive_md5) == (STL10.url, STL10.filename, STL10.tgz_md5)
    assert Cifar10.folder == CIFAR10.base_folder and Stl10.folder == STL10.base_folder
    assert [f for f, _ in CIFAR10.train_list + CIFAR10.test_list] == list(Cifar10.train_files + Cifar10.test_files)


def test_pool2x2_rounds_half_up():
    u = torch.tensor([[0, 1, 1, 2], [2, 3, 2, 2]], dtype=torch.uint8).view(1, 1, 2, 4)
    # means 1.5 -> 2 and 1.75 -> 2
    assert pool2x2(u).flatten().tolist() == [2, 2]
    assert pool2x2(torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)).eq(255).all()


def test_stl10_is_pooled_to_48px(tmp_path):
    written = write_fake_stl10(tmp_path, n_unlabeled=5, n_test=3)
    ds = Stl10(tmp_path)
    assert ds.reference_size() == 5
    ref = torch.cat(list(ds.reference_batches(2)))
    src = torch.from_numpy(written["unlabeled_X.bin"]).int()
    expected = (src.view(5, 3, 48, 2, 48, 2).sum((3, 5)) + 2) // 4
    assert ref.shape == (5, 3, 48, 48) and torch.equal(ref.int(), expected)
    x = ds.sample(3, gen())
    assert x.shape == (3, 3, 48, 48)
    test_pooled = pool2x2(torch.from_numpy(written["test_X.bin"]))
    for img in to_uint8(x):
        assert any(torch.equal(img, t) for t in test_pooled)
    assert ds.describe()["reference_set"] == "unlabeled"


def test_stl10_missing_and_truncated_files(tmp_path):
    with pytest.raises(DotcliError, match="missing unlabeled_X.bin") as err:
        Stl10(tmp_path).reference_size()
    assert "paths.allow_download=true" in str(err.value)
    write_fake_stl10(tmp_path, n_unlabeled=2)
    with open(tmp_path / "stl10_binary" / "unlabeled_X.bin", "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(DotcliError, match="truncated"):
        Stl10(tmp_path).reference_size()


def write_pngs(folder, n, size=(40, 30), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_image_folder_resizes_crops_and_subsets(tmp_path):
    write_pngs(tmp_path / "train" / "class_a", 3)
    write_pngs(tmp_path / "train" / "class_b", 3, seed=1)
    write_pngs(tmp_path / "val", 2, seed=2)
    ds = ImageNet(tmp_path, image_size=16, num_workers=0)
    assert ds.reference_size() == 6
    ref = torch.cat(list(ds.reference_batches(4)))
    assert ref.shape == (6, 3, 16, 16) and ref.dtype == torch.uint8
    assert ds.sample(2, gen()).shape == (2, 3, 16, 16)
    sub = ImageNet(tmp_path, image_size=16, reference_limit=4, num_workers=0)
    assert sub.reference_size() == 4 and sub.reference_identity() != ds.reference_identity()
    plain = ImageFolderData(tmp_path / "val", image_size=8)
    assert plain.reference_size() == 2 and "heldout_note" in plain.describe()


def test_image_folder_missing_is_explained(tmp_path):
    with pytest.raises(DotcliError, match="ImageNet cannot be downloaded automatically"):
        ImageNet(tmp_path / "imagenet", download=True).reference_size()


@pytest.mark.parametrize("cls_path", ["dotcli.data.images:Cifar10", "dotcli.data.images:Stl10",
                                      "dotcli.data.fashion_mnist:FashionMnist"])
def test_unknown_reference_set_is_named(tmp_path, cls_path):
    import importlib

    module, _, name = cls_path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(DotcliError, match=r"reference_set='nosuch' is not one of"):
        cls(tmp_path, reference_set="nosuch")


def test_cifar10_batch_that_would_run_code_is_refused(tmp_path):
    """A crafted data_batch_1 (a pickle calling os.system) is refused by the CIFAR unpickler; nothing runs."""
    import os
    import pickle

    write_fake_cifar10(tmp_path, per_file=4)
    marker = tmp_path / "MARKER"

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    crafted = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    crafted.write_bytes(pickle.dumps({"data": RunsCode(), "labels": [0]}, protocol=2))
    with pytest.raises(DotcliError) as err:
        Cifar10(tmp_path, reference_set="train").reference()
    assert f"{crafted} is refused: it would unpickle {os.system.__module__}.system" in str(err.value)
    assert not marker.exists()


def test_cifar10_python2_style_batch_loads(tmp_path):
    """The real files: Python-2 pickles (protocol 2, byte strings, numpy 1's global names)."""
    import io
    import pickle

    from dotcli.data.images import CifarUnpickler

    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    blob = pickle.dumps({b"batch_label": b"x", b"labels": [1, 2], b"data": data, b"filenames": [b"a", b"b"]},
                        protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    entry = CifarUnpickler(io.BytesIO(blob), encoding="latin1").load()
    assert np.array_equal(entry[b"data"], data) and entry[b"labels"] == [1, 2]
