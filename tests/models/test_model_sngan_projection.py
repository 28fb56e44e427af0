"""pfnet-research/sngan_projection ImageNet models: npz keys, loader, CCBN generator, projection D."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.models.sngan_projection import (
    ResNetGenerator,
    SNResNetProjectionDiscriminator,
    load_sngan_projection_pair,
)
from tests.models import chainer_specs as specs

CONFIG = Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model" / "pfn_sngan_projection.yaml"
CH, N_CLASSES = 2, 5  # 16 * ch = 32 channels at the bottom: small enough for a 128px forward on a CPU


def small_cfg():
    cfg = OmegaConf.load(CONFIG)
    cfg.ch, cfg.n_classes = CH, N_CLASSES
    return cfg


def write_files(tmp_path: Path, cfg, g_spec=None, d_spec=None):
    g = specs.random_arrays(g_spec or specs.resnet_generator(CH, N_CLASSES), 0)
    d = specs.random_arrays(d_spec or specs.projection_discriminator(CH, N_CLASSES), 1)
    specs.write_npz(tmp_path / cfg.files.imagenet.G.name, g)
    specs.write_npz(tmp_path / cfg.files.imagenet.D.name, d)
    return g, d


def paths_for(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(checkpoints=str(tmp_path), cache=str(tmp_path / "cache"), allow_download=False)


# --- reference forward passes written from the sngan_projection Chainer code ---

def _t(a, key):
    return torch.from_numpy(a[key])


def _sn(a, key):
    w = a[key]
    return torch.from_numpy((w / specs.power_sigma(w)).astype(np.float32))


def _up(h):
    return h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # unpooling_2d(x, 2)


def _ccbn(a, p, h, y):
    norm = (h - _t(a, f"{p}/avg_mean")[:, None, None]) / torch.sqrt(_t(a, f"{p}/avg_var")[:, None, None] + 2e-5)
    return _t(a, f"{p}/gammas/W")[y][:, :, None, None] * norm + _t(a, f"{p}/betas/W")[y][:, :, None, None]


def ref_generator(a, z, y):
    h = F.linear(z, _t(a, "l1/W"), _t(a, "l1/b")).view(len(z), -1, 4, 4)
    conv = lambda x, k: F.conv2d(x, _t(a, f"{k}/W"), _t(a, f"{k}/b"), padding=_t(a, f"{k}/W").shape[-1] // 2)  # noqa: E731
    for b in ("block2", "block3", "block4", "block5", "block6"):
        r = conv(_up(F.relu(_ccbn(a, f"{b}/b1", h, y))), f"{b}/c1")
        r = conv(F.relu(_ccbn(a, f"{b}/b2", r, y)), f"{b}/c2")
        h = r + conv(_up(h), f"{b}/c_sc")
    norm = (h - _t(a, "b7/avg_mean")[:, None, None]) / torch.sqrt(_t(a, "b7/avg_var")[:, None, None] + 2e-5)
    h = F.relu(_t(a, "b7/gamma")[:, None, None] * norm + _t(a, "b7/beta")[:, None, None])
    return torch.tanh(conv(h, "l7"))


def ref_features(a, x):
    conv = lambda h, k: F.conv2d(h, _sn(a, f"{k}/W"), _t(a, f"{k}/b"), padding=a[f"{k}/W"].shape[-1] // 2)  # noqa: E731
    h = F.avg_pool2d(conv(F.relu(conv(x, "block1/c1")), "block1/c2"), 2) + conv(F.avg_pool2d(x, 2), "block1/c_sc")
    for b, down in (("block2", 1), ("block3", 1), ("block4", 1), ("block5", 1), ("block6", 0)):
        r = conv(F.relu(conv(F.relu(h), f"{b}/c1")), f"{b}/c2")
        s = conv(h, f"{b}/c_sc") if f"{b}/c_sc/W" in a else h
        h = (F.avg_pool2d(r, 2) + F.avg_pool2d(s, 2)) if down else r + s
    return F.relu(h).sum(dim=(2, 3))  # global sum pooling


# --- tests ---

def test_full_width_modules_have_the_chainer_keys_and_shapes():
    with torch.device("meta"):
        G, D = ResNetGenerator(), SNResNetProjectionDiscriminator()
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(G) == specs.torch_shapes(specs.resnet_generator(64, 1000))
    assert shapes(D) == specs.torch_shapes(specs.projection_discriminator(64, 1000))
    assert specs.resnet_generator()["block2/b1/gammas/W"] == (1000, 1024)
    assert specs.projection_discriminator()["l_y/W"] == (1000, 1024)


def test_loader_matches_reference_and_projection_formula(tmp_path):
    cfg = small_cfg()
    cfg.sigma_source = "exact"  # the converged sigma of the reference below
    g, d = write_files(tmp_path, cfg)
    pair = load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))
    assert (pair.z_dim, pair.prior, pair.n_classes, pair.d_output) == (128, "normal", N_CLASSES, "critic")
    z, y = torch.randn(2, 128), torch.tensor([4, 1])
    with torch.no_grad():
        x = pair.generate(z, y)
        assert x.shape == (2, 3, 128, 128)
        torch.testing.assert_close(x, ref_generator(g, z, y), rtol=1e-4, atol=1e-5)
        h = ref_features(d, x)
        torch.testing.assert_close(pair.D.features(x), h, rtol=1e-4, atol=1e-4)
        # projection: linear head + <embed(y), h>, both spectrally normalised
        hand = h @ _sn(d, "l7/W").T + _t(d, "l7/b") + (_sn(d, "l_y/W")[y] * h).sum(dim=1, keepdim=True)
        torch.testing.assert_close(pair.discriminate(x, y), hand.view(-1), rtol=1e-4, atol=1e-4)
        # without labels D is the unconditional head alone
        torch.testing.assert_close(pair.D(x).view(-1), (h @ _sn(d, "l7/W").T + _t(d, "l7/b")).view(-1),
                                   rtol=1e-4, atol=1e-4)


def test_wrong_class_count_and_keys(tmp_path):
    cfg = small_cfg()
    write_files(tmp_path, cfg, g_spec=specs.resnet_generator(CH, 7))
    with pytest.raises(DotcliError, match="7 classes.*n_classes=5"):
        load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))
    d_spec = specs.projection_discriminator(CH, N_CLASSES)
    del d_spec["l_y/W"]
    write_files(tmp_path, cfg, d_spec=d_spec)
    with pytest.raises(DotcliError, match=r"missing keys \[l_y.weight\]"):
        load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))


def test_config_points_at_the_pfnet_drive(tmp_path):
    cfg = OmegaConf.load(CONFIG)
    assert (cfg.ch, cfg.n_classes, cfg.z_dim, cfg.d_output) == (64, 1000, 128, "critic")
    assert cfg.files.imagenet.G.name == "ResNetGenerator_850000.npz"
    assert cfg.files.imagenet.D.name == "SNResNetProjectionDiscriminator_850000.npz"
    with pytest.raises(DotcliError, match="1m04Db3HbN10Tz5XHqiPpIg8kw23fkbSi"):
        load_sngan_projection_pair(small_cfg(), "imagenet", paths_for(tmp_path))


def _chainer_one_iteration_sigma(w: np.ndarray, u: np.ndarray) -> float:
    """sngan_projection source/functions/max_sv.py with Ip=1, float32: v = l2n(u W), u = l2n(v W^T), u W v."""
    mat = w.reshape(w.shape[0], -1).astype(np.float32)
    v = u @ mat
    v = v / (np.sqrt((v ** 2).sum()) + 1e-12)
    u2 = v @ mat.T
    u2 = u2 / (np.sqrt((u2 ** 2).sum()) + 1e-12)
    return float((u2 @ mat * v).sum())


def test_stored_sigma_is_one_power_iteration_from_the_files_u(tmp_path):
    cfg = small_cfg()
    assert cfg.sigma_source == "stored"  # the model config's default
    _, d = write_files(tmp_path, cfg)
    pair = load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))
    assert "stored u" in pair.notes["spectral_norm"]
    for key, module in (("block3/c1", pair.D.block3.c1), ("l_y", pair.D.l_y), ("l7", pair.D.l7)):
        expected = _chainer_one_iteration_sigma(d[f"{key}/W"], d[f"{key}/u"])
        assert module.sigma.item() == pytest.approx(expected, rel=1e-5)
    # random u after one iteration is not the converged value: the two sources differ on these weights
    assert abs(pair.D.block3.c1.sigma.item() - specs.power_sigma(d["block3/c1/W"])) > 1e-4
    exact = load_sngan_projection_pair(OmegaConf.merge(cfg, {"sigma_source": "exact"}), "imagenet",
                                       paths_for(tmp_path))
    assert exact.D.block3.c1.sigma.item() == pytest.approx(specs.power_sigma(d["block3/c1/W"]), rel=1e-4)
    assert "exact" in exact.notes["spectral_norm"]


def test_stored_sigma_needs_the_u_vectors(tmp_path):
    cfg = small_cfg()
    d_spec = specs.projection_discriminator(CH, N_CLASSES)
    del d_spec["block2/c1/u"]
    write_files(tmp_path, cfg, d_spec=d_spec)
    with pytest.raises(DotcliError, match=r"no power-iteration vector for block2.c1 \(block2/c1/u\)"):
        load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))
    cfg.sigma_source = "svd"
    with pytest.raises(DotcliError, match="model.sigma_source='svd'"):
        load_sngan_projection_pair(cfg, "imagenet", paths_for(tmp_path))
