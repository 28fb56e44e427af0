"""Feature extractors: the Inception weights file in both backends, weights resolution, the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as tfi

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics import extractors
from dotcli.metrics.extractors import (
    INCEPTION,
    INCEPTION_FILE,
    INCEPTION_URL,
    make_feature_extractor,
    register_feature_extractor,
    resolve_inception_weights,
)
from tests.metrics.tiny import TINY, TINY_FIDELITY, register_tiny


def random_fidelity_inception_file(path: Path, monkeypatch) -> Path:
    """A randomly initialised torch-fidelity Inception (its own layout), saved as a weights file.

    torch-fidelity always loads weights in __init__; the download and the load are stubbed out here so
    the network keeps its random init. BatchNorm statistics are randomised too, so every tensor matters.
    """

    class Unloaded(tfi.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    monkeypatch.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
    torch.manual_seed(0)
    net = Unloaded("random", ["2048"])
    g = torch.Generator().manual_seed(1)
    for name, t in net.state_dict().items():
        if name.endswith("bn.bias"):
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        elif name.endswith("bn.weight"):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    # Calibrate the BatchNorm statistics on a few images: with the default ones the activations die out
    # with depth and the features no longer depend on the input (the degenerate random Inception).
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g))
    torch.save(net.state_dict(), path)
    return path


def test_both_backends_load_the_same_weights_file_and_agree(tmp_path, monkeypatch):
    weights = random_fidelity_inception_file(tmp_path / INCEPTION_FILE, monkeypatch)
    fidelity = make_feature_extractor(INCEPTION, fid_backend="torch-fidelity", weights=str(weights),
                                      allow_download=False)
    pfid = make_feature_extractor(INCEPTION, fid_backend="pytorch-fid", weights=str(weights), allow_download=False)
    assert fidelity.identity()["weights_sha256"] == pfid.identity()["weights_sha256"] == sha256_of(weights)
    assert fidelity.identity()["backend"] != pfid.identity()["backend"]  # so their reference stats differ
    assert fidelity.has_logits and pfid.has_logits

    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    a = fidelity(images)
    assert a.pool.shape == (2, 2048) and a.logits.shape == (2, 1008)
    assert (a.pool[0] - a.pool[1]).norm() > 0.01 * a.pool.norm()  # not degenerate: features follow the input
    # the weight mapping, exactly: the same normalised input (torch-fidelity's (x - 128) / 128 at 299px,
    # where its resize is the identity) through pytorch-fid's network gives the same features
    same_input = ((images.float() - 128) / 128 + 1) / 2  # pytorch-fid then computes 2 x - 1
    with torch.no_grad():
        pool = pfid.net(same_input)[0].flatten(1)
    torch.testing.assert_close(pool, a.pool, rtol=1e-4, atol=1e-5 * float(a.pool.abs().max()))
    # each backend with its own preprocessing (centre 127.5 vs 128): close, not equal
    b = pfid(images)
    rel = float((b.pool - a.pool).norm() / a.pool.norm())
    assert 0 < rel < 0.05  # measured 0.014 on this random network
    assert float((b.logits - a.logits).norm() / a.logits.norm()) < 0.05


def test_mapping_names_what_does_not_fit():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(DotcliError, match="do not fit pytorch-fid"):
        extractors.pytorch_fid_state_dict({"0.weight": torch.zeros(3, 3), "0.bias": torch.zeros(2)}, net)


def test_inception_weights_resolution_offline(tmp_path, monkeypatch):
    with pytest.raises(DotcliError, match="is not a file"):
        resolve_inception_weights(tmp_path / "nope.pth", allow_download=True)
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    assert str(hub_file).startswith(str(tmp_path))  # conftest points TORCH_HOME at tmp_path
    with pytest.raises(DotcliError, match="downloads are off") as err:
        resolve_inception_weights(None, allow_download=False)
    assert str(hub_file) in str(err.value) and INCEPTION_URL in str(err.value)

    calls = []

    def fake_download(url, dst, progress=True):  # torch-fidelity's location, torch.hub's downloader
        calls.append((url, dst))
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert resolve_inception_weights(None, allow_download=True) == hub_file
    assert calls == [(INCEPTION_URL, str(hub_file))]
    assert resolve_inception_weights(None, allow_download=False) == hub_file  # found now: no download
    assert len(calls) == 1


def test_bad_backend_and_bad_weights_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(DotcliError, match="fid_backend='tf'"):
        make_feature_extractor(INCEPTION, fid_backend="tf", weights=str(bad))
    with pytest.raises(DotcliError, match="cannot load the Inception weights"):
        make_feature_extractor(INCEPTION, weights=str(bad))
    with pytest.raises(DotcliError, match="do not fit pytorch-fid"):
        make_feature_extractor(INCEPTION, fid_backend="pytorch-fid", weights=str(bad))


def test_registry():
    register_tiny()
    ex = make_feature_extractor(TINY)
    feats = ex(torch.zeros(3, 3, 8, 8, dtype=torch.uint8))
    assert feats.pool.shape == (3, 8) and feats.logits.shape == (3, 10)
    with pytest.raises(DotcliError, match="already registered"):
        register_feature_extractor(TINY, lambda **_: ex)
    with pytest.raises(DotcliError, match="unknown feature extractor 'nosuch'"):
        make_feature_extractor("nosuch")
    with pytest.raises(DotcliError, match="not registered with torch-fidelity"):
        make_feature_extractor("torch-fidelity:nosuch")
    with pytest.raises(DotcliError, match="uint8"):
        ex_tf = make_feature_extractor("torch-fidelity:" + TINY_FIDELITY)
        ex_tf(torch.zeros(1, 3, 8, 8))
    out = ex_tf(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    assert ex_tf.has_logits and out.logits.shape == (2, 10)
    torch.testing.assert_close(out.pool, ex(torch.zeros(2, 3, 8, 8, dtype=torch.uint8)).pool)
