"""Second feature spaces (DINOv2, CLIP) in the image evaluation and through dot-run: FD in that space, no IS,
the resize recorded, and the one-line refusals before any sampling (unknown name, missing weights)."""

from __future__ import annotations

import pytest
import torch

from dotcli.data.images import Cifar10, to_uint8
from dotcli.evaluation.images import ImageEvaluation
from dotcli.metrics import clip
from tests.data.fake import write_fake_cifar10
from tests.evaluation.test_images import Uint8Set, rand_images, stream
from tests.inprocess import dot_run_in_process
from tests.metrics.test_clip import TINY_ARCH, TinyClip
from tests.test_cli_images import image_args

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


@pytest.fixture
def tiny_clip_file(tmp_path, monkeypatch):
    monkeypatch.setattr(clip, "ARCHITECTURE", TINY_ARCH)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    path = tmp_path / "clip.pth"
    torch.save(TinyClip().state_dict(), path)
    return path


def test_clip_space_fid_equals_torch_fidelitys_and_has_no_inception_score(tmp_path, tiny_clip_file):
    import torch_fidelity

    write_fake_cifar10(tmp_path / "data", per_file=20)
    ds = Cifar10(tmp_path / "data")
    metrics = {"feature_extractor": "clip-vit-b-32", "feature_extractor_weights": str(tiny_clip_file)}
    ev = ImageEvaluation(ds, metrics, "cpu", cache_dir=tmp_path / "cache", allow_download=False)
    x = rand_images(90, 1)
    out = stream(ev, x)
    # FD and precision/recall/density/coverage in that space; IS only from an Inception (or a classifier), never
    # from an embedding
    assert set(out["metrics"]) == {"fid", "precision", "recall", "density", "coverage"}
    ref = torch.cat(list(ds.reference_batches(64)))
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Set(to_uint8(x)), input2=Uint8Set(ref), feature_extractor=clip.FIDELITY_NAME,
        feature_extractor_weights_path=str(tiny_clip_file), fid=True, cuda=False, cache=False, verbose=False,
        batch_size=32, save_cpu_ram=True)
    assert out["metrics"]["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-5)
    d = ev.describe()
    assert d["resize"] == clip.RESIZE and "bicubic" in d["resize"]
    assert d["is"].startswith("unavailable: clip-vit-b-32 gives no class logits")
    assert d["feature_extractor"]["name"] == "clip-vit-b-32" and d["feature_extractor"]["weights_file"] == "clip.pth"


def test_reference_cache_key_follows_the_feature_space(tmp_path, tiny_clip_file):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    ds = Cifar10(tmp_path / "data")
    a = ImageEvaluation(ds, {"feature_extractor": "clip-vit-b-32", "feature_extractor_weights": str(tiny_clip_file)},
                        "cpu", cache_dir=tmp_path / "cache")
    torch.save(TinyClip(seed=1).state_dict(), tmp_path / "other.pth")
    b = ImageEvaluation(ds, {"feature_extractor": "clip-vit-b-32",
                             "feature_extractor_weights": str(tmp_path / "other.pth")}, "cpu",
                        cache_dir=tmp_path / "cache")
    assert a.reference.key != b.reference.key and not b.reference.from_cache


def test_unknown_extractor_is_one_line_listing_the_names(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    args = [a if not a.startswith("metrics.feature_extractor=") else "metrics.feature_extractor=dinov3"
            for a in image_args(tmp_path, "method=none", f"hydra.run.dir={tmp_path / 'out'}")]
    proc = dot_run_in_process(*args, cwd=tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dot-run: error: unknown feature extractor 'dinov3'")
    for name in ("inception-v3-compat", "dinov2-vit-l-14", "clip-vit-b-32", "fmnist-classifier"):
        assert name in last
    assert not (tmp_path / "out" / "result.json").exists()


@pytest.mark.parametrize("name, file", [("dinov2-vit-l-14", "dinov2_vitl14_pretrain.pth"),
                                        ("clip-vit-b-32", clip.FILE)])
def test_missing_weights_offline_stop_the_run_before_sampling(tmp_path, name, file):
    from dotcli.metrics import dinov2

    write_fake_cifar10(tmp_path / "data", per_file=5)
    args = [a if not a.startswith("metrics.feature_extractor=") else f"metrics.feature_extractor={name}"
            for a in image_args(tmp_path, "method=none", f"hydra.run.dir={tmp_path / 'out'}")]
    proc = dot_run_in_process(*args, cwd=tmp_path, env={"TORCH_HOME": str(tmp_path / "torch")})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith(f"dot-run: error: {name} weights {file} not found") and "paths.allow_download=false" in err
    assert (dinov2.URL if name.startswith("dinov2") else clip.URL) in err
    assert not (tmp_path / "out" / "result.json").exists() and not (tmp_path / "cache").exists()
    proc = dot_run_in_process(*args, f"metrics.feature_extractor_weights={tmp_path / 'nope.pt'}", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.pt is not a file" in proc.stderr


def test_preflight_names_the_missing_feature_space_weights(tmp_path, monkeypatch, tiny_clip_file):
    from omegaconf import OmegaConf

    from dotcli.preflight import weights_missing

    def cfg(name, weights=None):
        return OmegaConf.create({"dataset": {"kind": "image"}, "metrics": {
            "evaluate": True, "feature_extractor": name, "feature_extractor_weights": weights,
            "inception_weights": None}})

    (missing,) = weights_missing(cfg("dinov2-vit-l-14"), allow_download=False)
    assert missing.what == "dinov2-vit-l-14 weights missing" and "dinov2_vitl14_pretrain.pth" in missing.reason
    assert weights_missing(cfg("clip-vit-b-32", str(tiny_clip_file)), allow_download=False) == []
    assert weights_missing(cfg("fmnist-classifier"), allow_download=False) == []
