"""The streaming image evaluation, end to end with a tiny feature extractor, and through dot-run's runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module

from dotcli import DotcliError
from dotcli.data.images import Cifar10, from_uint8, to_uint8
from dotcli.evaluation.images import GRID_NAME, SAMPLES_NAME, ImageEvaluation
from dotcli.samplers.base import SampleBatch
from tests.data.fake import write_fake_cifar10
from tests.metrics.tiny import TINY, TINY_FIDELITY, TINY_NOLOGITS, register_tiny


@pytest.fixture(autouse=True)
def _tiny():
    register_tiny()


def rand_images(n, seed, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def stream(ev, x, x_init=None, steps=None, y=None, batch=30, trial=0):
    ev.start_trial(trial, torch.Generator().manual_seed(0))
    for i in range(0, len(x), batch):
        sl = slice(i, i + batch)
        ev.add(SampleBatch(x=x[sl], x_init=None if x_init is None else x_init[sl],
                           y=None if y is None else y[sl],
                           steps={k: v[sl] for k, v in (steps or {}).items()}))
    return ev.finish_trial()


class Uint8Set(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def test_streamed_metrics_equal_torch_fidelity_on_the_same_images(tmp_path):
    import torch_fidelity

    write_fake_cifar10(tmp_path / "data", per_file=20)  # reference set: train+test, 120 images
    ds = Cifar10(tmp_path / "data")
    metrics = {"feature_extractor": "torch-fidelity:" + TINY_FIDELITY, "is_splits": 3, "kid": True,
               "kid_subsets": 5, "kid_subset_size": 30}
    ev = ImageEvaluation(ds, metrics, "cpu", cache_dir=tmp_path / "cache")
    x, x_init = rand_images(90, 1), rand_images(90, 2)
    out = stream(ev, x, x_init, steps={0: x_init, 10: x})

    ref = torch.cat(list(ds.reference_batches(64)))
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Set(to_uint8(x)), input2=Uint8Set(ref), feature_extractor=TINY_FIDELITY, isc=True, fid=True,
        kid=True, isc_splits=3, kid_subsets=5, kid_subset_size=30, cuda=False, cache=False, verbose=False,
        save_cpu_ram=True, batch_size=32)
    m = out["metrics"]
    assert set(m) == {"is_mean", "is_std", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"}
    assert m["is_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert m["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-4)
    assert m["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-5)
    assert m["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3, abs=1e-7)
    assert m["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-3, abs=1e-7)
    # every recorded step is scored; the last one is x itself
    assert set(out["by_step"]) == {0, 10} and out["by_step"][10] == m
    assert out["by_step"][0]["fid"] != m["fid"]


def test_reference_images_as_samples_give_zero_fid_and_cache_is_reused(tmp_path):
    written = write_fake_cifar10(tmp_path / "data", per_file=15)
    ds = Cifar10(tmp_path / "data", reference_set="train")
    ev = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 5}, "cpu", cache_dir=tmp_path / "cache")
    assert not ev.reference.from_cache
    x = from_uint8(torch.from_numpy(written[:75]))  # the 75 train images, through the [-1, 1] convention
    out = stream(ev, x, batch=20)
    assert abs(out["metrics"]["fid"]) < 1e-8 and out["by_step"] == {}
    again = ImageEvaluation(ds, {"feature_extractor": TINY}, "cpu", cache_dir=tmp_path / "cache")
    assert again.reference.from_cache and again.reference.key == ev.reference.key
    d = ev.describe()
    assert d["reference_set"] == "train" and d["samples_per_trial"] == 75
    assert "not comparable" in d["note"] and d["feature_extractor"]["name"] == TINY
    assert d["quantisation"].startswith("uint8 = clamp(round((x + 1) * 127.5)")


def test_no_logits_means_no_inception_score(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    ev = ImageEvaluation(Cifar10(tmp_path / "data"), {"feature_extractor": TINY_NOLOGITS}, "cpu",
                         cache_dir=tmp_path / "cache")
    out = stream(ev, rand_images(20, 3))
    assert set(out["metrics"]) == {"fid", "precision", "recall", "density", "coverage"}
    assert "unavailable" in ev.describe()["is"]


def test_figures_samples_and_nan_guard(tmp_path):
    write_fake_cifar10(tmp_path / "data", per_file=5)
    ev = ImageEvaluation(Cifar10(tmp_path / "data"), {"feature_extractor": TINY, "is_splits": 2}, "cpu",
                         cache_dir=tmp_path / "cache", save_samples=True, grid_size=16)
    x, x_init, y = rand_images(24, 4), rand_images(24, 5), torch.arange(24) % 10
    stream(ev, x, x_init, y=y, batch=10)
    stream(ev, x[:12], x_init[:12], y=y[:12], batch=10, trial=1)
    assert len(ev._grid["after"]) == len(ev._grid["before"]) == 16  # gathered over batches of 10
    torch.testing.assert_close(ev._grid["before"], to_uint8(x_init[:16]))
    assert ev.save_figures(tmp_path, "cifar10 / tiny / dot") == [GRID_NAME]
    assert (tmp_path / GRID_NAME).stat().st_size > 5_000
    with np.load(tmp_path / SAMPLES_NAME) as z:
        assert z["x"].shape == (36, 32, 32, 3) and z["x"].dtype == np.uint8
        np.testing.assert_array_equal(z["x"][:24], to_uint8(x).permute(0, 2, 3, 1).numpy())
        np.testing.assert_array_equal(z["y"], np.concatenate([y.numpy(), y[:12].numpy()]))
        np.testing.assert_array_equal(z["trial"], [0] * 24 + [1] * 12)
    assert ev.describe()["samples_file"] == SAMPLES_NAME
    bad = rand_images(4, 6)
    bad[1, 0, 0, 0] = float("nan")
    ev.start_trial(2, torch.Generator())
    with pytest.raises(DotcliError, match="NaN/inf images"):
        ev.add(SampleBatch(x=bad))


def test_metrics_none_needs_no_data_and_no_extractor(tmp_path):
    ds = Cifar10(tmp_path / "empty")  # no files at all
    ev = ImageEvaluation(ds, {"evaluate": False, "feature_extractor": "nosuch"}, "cpu", cache_dir=tmp_path / "c")
    out = stream(ev, rand_images(8, 7), rand_images(8, 8), batch=4)
    assert out == {"metrics": {}, "by_step": {}}
    assert ev.save_figures(tmp_path, "t") == [GRID_NAME]
    assert ev.describe()["metrics"].startswith("none") and not (tmp_path / "c").exists()


# ---------------------------------------------------------------- through the runner and the configs


def composed(overrides):
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        return compose(config_name="run", overrides=overrides)


def test_dot_run_on_cifar10_scores_every_recorded_step(tmp_path):
    from dotcli.runner import run

    write_fake_cifar10(tmp_path / "data", per_file=8)
    cfg = composed(["dataset=cifar10", "model=random_dcgan32", "model.ch=16", "method=dot", "method.steps=2",
                    "method.record_every=1", "method.k_eff_pairs=10", "n_samples=24", "batch_size=12",
                    f"metrics.feature_extractor={TINY}", "metrics.is_splits=2", "save_samples=true",
                    f"paths.data={tmp_path / 'data'}", f"paths.cache={tmp_path / 'cache'}", "device=cpu"])
    rec = json.loads(run(cfg, tmp_path / "out").read_text())
    assert {"is_mean", "is_std", "fid"} <= set(rec["metrics"]) and rec["metrics"]["fid"] > 0
    assert set(rec["metrics_by_step"]) == {"0", "1", "2"}
    assert rec["metrics_by_step"]["2"]["fid"] == rec["metrics"]["fid"]
    assert rec["evaluation"]["reference_set"] == "train+test" and "note" in rec["evaluation"]
    assert rec["figures"] == [GRID_NAME] and (tmp_path / "out" / SAMPLES_NAME).is_file()
    assert rec["config"]["dataset"]["refine"] == {"space": "latent", "optimizer": "sgd", "eps": 0.01, "steps": 100,
                                                  "k_eff_repeats": 1}


def test_dot_run_with_metrics_none_on_a_missing_dataset(tmp_path):
    from dotcli.runner import run

    cfg = composed(["dataset=cifar10", "model=random_dcgan32", "model.ch=8", "method=dot", "method.steps=1",
                    "method.k_eff_pairs=4", "metrics=none", "n_samples=8", "batch_size=8",
                    f"paths.data={tmp_path / 'nodata'}", f"paths.cache={tmp_path / 'cache'}", "device=cpu"])
    rec = json.loads(run(cfg, tmp_path / "out").read_text())
    assert rec["metrics"] == {} and rec["figures"] == [GRID_NAME]


@pytest.mark.parametrize("name, steps", [("stl10", 100), ("imagenet", 30)])
def test_image_dataset_configs_compose(name, steps):
    cfg = composed([f"dataset={name}"])
    assert cfg.dataset.kind == "image" and cfg.dataset.refine.steps == steps
    assert cfg.n_samples == 50000 and cfg.trials == 1 and cfg.batch_size == 500
    assert cfg.dataset.evaluation.save_samples is False and cfg.metrics.fid_backend == "torch-fidelity"


def test_float_extractors_get_unquantised_images_and_unshuffled_is(tmp_path):
    """An extractor with takes_float (inception-chainer-compat) sees clip(x * 127.5 + 127.5, 0, 255) as floats;
    reference images stay uint8; IS splits follow its is_shuffle."""
    from dotcli.metrics.extractors import FeatureExtractor, Features, register_feature_extractor
    from dotcli.metrics.fidelity import inception_score

    seen = []

    class FloatSpy(FeatureExtractor):
        name, has_logits, takes_float, is_shuffle = "float-spy", True, True, False

        def identity(self):
            return {"name": self.name}

        def __call__(self, images):
            seen.append(images.clone())
            pool = F.adaptive_avg_pool2d(images.float(), 2).flatten(1)  # (n, 12)
            return Features(pool=pool, logits=pool[:, :5] / 50)

    register_feature_extractor("float-spy", lambda **_: FloatSpy(), replace=True)
    write_fake_cifar10(tmp_path / "data", per_file=15)
    ev = ImageEvaluation(Cifar10(tmp_path / "data"), {"feature_extractor": "float-spy", "is_splits": 5}, "cpu",
                         cache_dir=tmp_path / "cache")
    assert all(s.dtype == torch.uint8 for s in seen)  # the reference statistics: uint8 as before
    seen.clear()
    x = rand_images(40, 5)
    x[0, 0, 0, 0] = 0.001  # (x + 1) * 127.5 = 127.6275: rounding would make it 128
    out = stream(ev, x, batch=40)
    assert len(seen) == 1 and seen[0].dtype == torch.float32
    torch.testing.assert_close(seen[0], (x * 127.5 + 127.5).clamp(0, 255))
    assert seen[0][0, 0, 0, 0].item() == pytest.approx(127.6275, abs=1e-4)
    logits = F.adaptive_avg_pool2d(seen[0], 2).flatten(1)[:, :5] / 50
    assert out["metrics"]["is_mean"] == pytest.approx(inception_score(logits, splits=5, shuffle=False)[0])
    assert ev.describe()["quantisation"].startswith("none: float = clip(x * 127.5 + 127.5, 0, 255)")


def test_reference_prepared_beside_sampling_gives_the_same_fid(tmp_path, monkeypatch):
    """With an accelerator the FID reference is factorised in a host thread while sampling; same numbers."""
    from dotcli.evaluation import images

    assert images.host_idle_while_sampling("cuda") and not images.host_idle_while_sampling("cpu")
    write_fake_cifar10(tmp_path / "data", per_file=20)
    ds = Cifar10(tmp_path / "data")
    x, x_init = rand_images(60, 11), rand_images(60, 12)
    inline = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2}, "cpu", cache_dir=tmp_path / "c")
    assert inline._fid_pending is None
    expected = stream(inline, x, x_init, steps={0: x_init, 5: x})
    monkeypatch.setattr(images, "host_idle_while_sampling", lambda device: True)
    overlapped = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2}, "cpu", cache_dir=tmp_path / "c")
    assert overlapped._fid_pending is not None
    assert stream(overlapped, x, x_init, steps={0: x_init, 5: x}) == expected


# ---------------------------------------------------------------- precision / recall / density / coverage


def test_prdc_is_scored_on_the_fid_features_against_a_fixed_reference_subset(tmp_path):
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    from dotcli.metrics.extractors import make_feature_extractor
    from dotcli.metrics.prdc import prdc
    from dotcli.metrics.reference_stats import prdc_reference_subset

    write_fake_cifar10(tmp_path / "data", per_file=20)  # 120 reference images
    ds = Cifar10(tmp_path / "data")
    ev = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2}, "cpu", cache_dir=tmp_path / "cache",
                         expected_samples=90)
    x, x_init = rand_images(90, 11), rand_images(90, 12)
    out = stream(ev, x, steps={0: x_init, 3: x})
    tiny = make_feature_extractor(TINY, device="cpu")
    fake = tiny(to_uint8(x)).pool
    real_all = tiny(torch.cat(list(ds.reference_batches(64)))).pool
    idx = prdc_reference_subset(len(real_all), 90)
    assert len(idx) == 90 and list(idx) == sorted(set(idx.tolist()))
    want = prdc(real_all[idx], fake)
    got = {k: out["metrics"][k] for k in want}
    assert got == pytest.approx(want, abs=1e-12)
    precision, recall = calculate_precision_recall_full(fake, real_all[idx], neighborhood=3)
    assert (got["precision"], got["recall"]) == pytest.approx((precision, recall), abs=1e-7)
    # per recorded step too: step 0 is the initial images, step 3 is x itself
    assert out["by_step"][3]["precision"] == got["precision"]
    assert out["by_step"][0]["recall"] == pytest.approx(prdc(real_all[idx], tiny(to_uint8(x_init)).pool)["recall"])
    d = ev.describe()["prdc"]
    assert d["samples"] == d["reference"] == 90 and d["k_pr"] == 3 and d["k_dc"] == 5
    assert "RandomState(2020)" in d["reference_subset"] and d["radii_from_cache"] is False
    # the radii are cached beside the FID statistics, under their key
    cached = list((tmp_path / "cache" / "reference_stats").glob(f"*{ev.reference.key}.prdc-n90-k3-5.npz"))
    assert len(cached) == 1
    again = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2}, "cpu", cache_dir=tmp_path / "cache")
    assert {k: stream(again, x)["metrics"][k] for k in want} == got
    assert again.describe()["prdc"]["radii_from_cache"] is True
    cached[0].write_bytes(b"garbage")
    third = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2}, "cpu", cache_dir=tmp_path / "cache")
    with pytest.raises(DotcliError, match="cached reference radii .* are unreadable"):
        stream(third, x)


def test_prdc_samples_caps_both_sets_and_prdc_false_turns_it_off(tmp_path):
    from dotcli.metrics.extractors import make_feature_extractor
    from dotcli.metrics.prdc import prdc
    from dotcli.metrics.reference_stats import prdc_reference_subset

    write_fake_cifar10(tmp_path / "data", per_file=20)
    ds = Cifar10(tmp_path / "data")
    x = rand_images(60, 13)
    ev = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2, "prdc_samples": 40}, "cpu",
                         cache_dir=tmp_path / "cache")
    m = stream(ev, x, batch=25)["metrics"]
    tiny = make_feature_extractor(TINY, device="cpu")
    real = tiny(torch.cat(list(ds.reference_batches(64)))).pool[prdc_reference_subset(120, 40)]
    assert m["density"] == pytest.approx(prdc(real, tiny(to_uint8(x[:40])).pool)["density"], abs=1e-12)
    assert ev.describe()["prdc"]["samples"] == 40
    off = ImageEvaluation(ds, {"feature_extractor": TINY, "is_splits": 2, "prdc": False}, "cpu",
                          cache_dir=tmp_path / "cache")
    assert set(stream(off, x)["metrics"]) == {"is_mean", "is_std", "fid"} and "prdc" not in off.describe()


@pytest.mark.parametrize(("metrics", "message"), [
    ({"prdc_k_pr": 0}, "metrics.prdc_k_pr=0 is not valid"),
    ({"prdc_k_dc": "five"}, "metrics.prdc_k_dc='five' is not valid"),
    ({"prdc_samples": 1}, "metrics.prdc_samples=1 is not valid"),
    ({"prdc_samples": 4}, "compare 4 samples per trial with as many reference points"),
])
def test_bad_prdc_settings_fail_before_any_extractor_or_data(tmp_path, metrics, message):
    with pytest.raises(DotcliError, match=message):  # a missing dataset and extractor are never reached
        ImageEvaluation(Cifar10(tmp_path / "nodata"), {"feature_extractor": "nosuch", **metrics}, "cpu",
                        cache_dir=tmp_path / "c", expected_samples=100)
