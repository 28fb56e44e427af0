"""Intra-class FID in the streaming image evaluation and through dot-run, on a tiny conditional pair."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.data.images import Cifar10, from_uint8
from dotcli.evaluation.images import ImageEvaluation
from dotcli.metrics.fidelity import fid_from_stats
from tests.data.fake import write_fake_cifar10
from tests.evaluation.test_images import rand_images, stream
from tests.evaluation.tiny_conditional import custom_args, write_checkpoint
from tests.inprocess import dot_run_in_process
from tests.metrics.tiny import TINY, TinyExtractor, register_tiny
from tests.test_cli_images import image_args


@pytest.fixture(autouse=True)
def _tiny():
    register_tiny()


def test_streamed_intra_fid_is_the_mean_of_per_class_fids(tmp_path):
    images = write_fake_cifar10(tmp_path / "data", per_file=20)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    ev = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2, "intra_fid": True}, "cpu",
                         cache_dir=tmp_path / "cache")
    ev.check_pair(SimpleNamespace(n_classes=10))
    x, y = rand_images(120, 1), torch.arange(120) % 10
    out = stream(ev, x, y=y, batch=25, steps={0: rand_images(120, 2), 5: x})
    assert "intra_fid" in out["metrics"] and "intra_fid" not in out["by_step"][0]  # the output x only

    ext = TinyExtractor()
    labels = ds.reference_labels()
    ref = ext(torch.from_numpy(images[:100])).pool.double().numpy()
    gen = ext(torch.round((x + 1) * 127.5).clamp(0, 255).to(torch.uint8)).pool.double().numpy()
    want = [fid_from_stats(gen[y.numpy() == c].mean(0), np.cov(gen[y.numpy() == c], rowvar=False),
                           ref[labels == c].mean(0), np.cov(ref[labels == c], rowvar=False)) for c in range(10)]
    assert out["metrics"]["intra_fid"] == pytest.approx(np.mean(want), rel=1e-6)
    d = ev.describe()["intra_fid"]
    assert d["reference_split"] == "train" and d["reference_stats"]["images_per_class"] == list(np.bincount(labels))
    assert d["trials"][0]["samples_per_class"] == [12] * 10 and d["trials"][0]["classes_scored"] == 10
    assert d["trials"][0]["fid_per_class"] == pytest.approx(want, rel=1e-6)
    assert "intra_fid" in ev.describe()["metrics"]


def test_reference_images_of_each_class_give_zero_intra_fid(tmp_path):
    images = write_fake_cifar10(tmp_path / "data", per_file=15)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    ev = ImageEvaluation(ds, {"feature_extractor": TINY, "intra_fid": True}, "cpu", cache_dir=tmp_path / "cache")
    y = torch.from_numpy(ds.reference_labels())
    out = stream(ev, from_uint8(torch.from_numpy(images[:75])), y=y, batch=20)
    assert abs(out["metrics"]["intra_fid"]) < 1e-8


def test_unconditional_or_mismatched_pairs_are_refused_before_sampling(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    ev = ImageEvaluation(Cifar10(tmp_path / "data"), {"feature_extractor": TINY, "intra_fid": True}, "cpu",
                         cache_dir=tmp_path / "cache")
    with pytest.raises(DotcliError, match="needs a conditional model"):
        ev.check_pair(SimpleNamespace(n_classes=0))
    with pytest.raises(DotcliError, match="model has 7 classes but the reference set cifar10 has 10"):
        ev.check_pair(SimpleNamespace(n_classes=7))
    off = ImageEvaluation(Cifar10(tmp_path / "data"), {"feature_extractor": TINY}, "cpu", cache_dir=tmp_path / "c2")
    off.check_pair(SimpleNamespace(n_classes=0))  # intra_fid off: anything goes
    assert "intra_fid" not in stream(off, rand_images(20, 3))["metrics"]


def test_dot_run_records_intra_fid_of_a_conditional_pair(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=10)
    ckpt = write_checkpoint(tmp_path / "pair.pt")
    args = [a for a in image_args(tmp_path) if not a.startswith("model")]
    proc = dot_run_in_process(*args, *custom_args(ckpt), "method=none", "n_samples=60", "batch_size=20",
                              "metrics.intra_fid=true", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "out" / "result.json").read_text())
    assert rec["metrics"]["intra_fid"] > 0 and rec["metrics"]["fid"] > 0
    info = rec["evaluation"]["intra_fid"]
    assert sum(info["trials"][0]["samples_per_class"]) == 60 and info["reference_split"] == "train+test"


def test_dot_run_refuses_intra_fid_of_an_unconditional_pair_before_sampling(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    proc = dot_run_in_process(*image_args(tmp_path, "method=none", "metrics.intra_fid=true",
                                          f"hydra.run.dir={tmp_path / 'out'}"), cwd=tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dot-run: error: ") and "needs a conditional model" in last
    assert not (tmp_path / "out" / "result.json").exists()
