"""The Fashion-MNIST classifier extractor: input conversion, features/logits, IS/FID on hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.data.fashion_mnist import DEBIAN_DIR, FashionMnist
from dotcli.metrics import classifier as clf
from dotcli.metrics.extractors import make_feature_extractor
from dotcli.metrics.fidelity import MeanCov, fid_from_stats, inception_score

SHIPPED = Path(clf.__file__).parent.parent / clf.PACKAGE_FILE


def tiny_file(tmp_path: Path, width: int = 4) -> Path:
    torch.manual_seed(0)
    net = clf.FmnistNet(width=width)
    path = tmp_path / "tiny_classifier.pt"
    torch.save({"state": net.state_dict(), "recipe": {"width": width, "test_accuracy": 0.5}}, path)
    return path


def grey_rgb(n: int, seed: int) -> torch.Tensor:
    g = torch.randint(0, 256, (n, 1, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return g.repeat(1, 3, 1, 1)


def test_uint8_to_grey_is_the_channel_mean_in_minus_one_one():
    u = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    assert clf.uint8_to_grey(u).item() == pytest.approx((383 / 3) / 127.5 - 1, abs=1e-6)
    g = grey_rgb(2, 0)
    torch.testing.assert_close(clf.uint8_to_grey(g), g[:, :1].float() / 127.5 - 1)


def test_extractor_gives_pre_relu_features_and_logits(tmp_path):
    ext = clf.ClassifierExtractor(tiny_file(tmp_path))
    images = grey_rgb(6, 1)
    out = ext(images)
    assert out.pool.shape == (6, clf.FEATURES) and out.logits.shape == (6, 10)
    assert (out.pool < 0).any()  # pre-activation: negative values survive (post-ReLU would be >= 0)
    with torch.no_grad():
        feats = ext.net.features(clf.uint8_to_grey(images))
        torch.testing.assert_close(out.pool, feats)
        torch.testing.assert_close(out.logits, ext.net.fc2(torch.relu(feats)))  # eval: dropout is off
    ident = ext.identity()
    assert ident["name"] == clf.NAME and len(ident["weights_sha256"]) == 64 and ext.has_logits
    with pytest.raises(DotcliError, match="uint8 images"):
        ext(images.float())


def test_inception_score_on_hand_made_classifier_logits():
    confident = torch.full((100, 10), -30.0)
    confident[torch.arange(100), torch.arange(100) % 10] = 30.0  # every class equally often, sure of each
    assert inception_score(confident, splits=5, shuffle=False)[0] == pytest.approx(10.0, rel=1e-6)
    collapsed = torch.zeros(100, 10)
    collapsed[:, 3] = 30.0  # always the same class: IS = 1
    assert inception_score(collapsed, splits=5)[0] == pytest.approx(1.0, abs=1e-6)
    uniform = torch.zeros(100, 10)  # no confidence at all: IS = 1
    assert inception_score(uniform, splits=5)[0] == pytest.approx(1.0, abs=1e-6)


def test_fid_of_classifier_features_is_zero_for_the_same_images_and_positive_otherwise(tmp_path):
    ext = clf.ClassifierExtractor(tiny_file(tmp_path))

    def stats(images):
        s = MeanCov()
        s.update(ext(images).pool)
        return s.mean(), s.cov()

    a, b = stats(grey_rgb(400, 2)), stats(grey_rgb(400, 2))
    assert abs(fid_from_stats(*a, *b, eps=1e-6)) < 1e-6
    dark = (grey_rgb(400, 3) // 4).to(torch.uint8)
    assert fid_from_stats(*a, *stats(dark), eps=1e-6) > 0.1


def test_bad_classifier_file_fails_with_one_line(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DotcliError, match="cannot read the Fashion-MNIST classifier .*: not a torch checkpoint"):
        clf.ClassifierExtractor(tmp_path / "bad.pt")


@pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{SHIPPED} not trained yet (scripts/train_classifier.py)")
def test_registered_name_builds_the_shipped_classifier():
    ext = make_feature_extractor(clf.NAME)
    assert isinstance(ext, clf.ClassifierExtractor) and ext.recipe["test_accuracy"] >= 0.90


@pytest.mark.skipif(not (SHIPPED.is_file() and Path(DEBIAN_DIR, "t10k-images-idx3-ubyte.gz").is_file()),
                    reason="needs the shipped classifier and Debian's dataset-fashion-mnist")
def test_shipped_classifier_accuracy_on_debian_test_images():
    ds = FashionMnist("/nonexistent")
    ext = make_feature_extractor(clf.NAME)
    idx = np.arange(0, 10000, 5)  # 2000 test images keep this fast
    logits = torch.cat([ext(ds.heldout().get(idx[i:i + 500])).logits for i in range(0, len(idx), 500)])
    acc = float((logits.argmax(1).numpy() == ds.labels("test")[idx]).mean())
    assert acc >= 0.89, acc
