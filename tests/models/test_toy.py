"""The Chainer npz loader: outputs equal a NumPy forward pass of the same weights."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.models.toy import load_chainer_toy_pair


def leaky(x):
    return np.where(x > 0, x, 0.2 * x)


def numpy_forward(weights, names, x, last_identity=True):
    for i, name in enumerate(names):
        x = x @ weights[f"{name}/W"].T + weights[f"{name}/b"]
        if i < len(names) - 1:
            x = leaky(x)
    return x


def write_npz(path, shapes, seed):
    rng = np.random.default_rng(seed)
    np.savez(path, **{k: rng.normal(size=s).astype(np.float32) * 0.1 for k, s in shapes.items()})


G_SHAPES = {"l0/W": (256, 2), "l0/b": (256,), "l1/W": (256, 256), "l1/b": (256,), "l2/W": (256, 256),
            "l2/b": (256,), "l4/W": (2, 256), "l4/b": (2,)}
D_SHAPES = {"l1/W": (512, 2), "l1/b": (512,), "l2/W": (512, 512), "l2/b": (512,), "l3/W": (512, 512),
            "l3/b": (512,), "l4/W": (1, 512), "l4/b": (1,)}


def model_cfg(directory, g="G.npz", d="D.npz"):
    files = {"G": {"name": g, "url": None, "sha256": None}, "D": {"name": d, "url": None, "sha256": None}}
    return OmegaConf.create({"name": "test", "files": {"gaussians25": files}}), SimpleNamespace(
        checkpoints=str(directory), cache=str(directory / "cache"), allow_download=False)


def check_against_numpy(pair, g_path, d_path):
    g_w, d_w = dict(np.load(g_path)), dict(np.load(d_path))
    z = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32)
    with torch.no_grad():
        x = pair.generate(torch.from_numpy(z)).numpy()
        d = pair.discriminate(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(x, numpy_forward(g_w, ["l0", "l1", "l2", "l4"], z), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d, numpy_forward(d_w, ["l1", "l2", "l3", "l4"], x)[:, 0], rtol=1e-4, atol=1e-5)


def test_synthetic_npz_matches_numpy(tmp_path):
    write_npz(tmp_path / "G.npz", G_SHAPES, 0)
    write_npz(tmp_path / "D.npz", D_SHAPES, 1)
    pair = load_chainer_toy_pair(*model_cfg(tmp_path)[:1], "gaussians25", model_cfg(tmp_path)[1])
    check_against_numpy(pair, tmp_path / "G.npz", tmp_path / "D.npz")
    assert pair.prior == "uniform" and pair.z_dim == 2


def test_author_checkpoints_match_numpy(author_checkpoints):
    cfg = OmegaConf.load("dotcli/configs/model/tanaka_wgangp.yaml")
    paths = SimpleNamespace(checkpoints=str(author_checkpoints), cache=None, allow_download=False)
    for dataset in ("gaussians25", "swissroll"):
        pair = load_chainer_toy_pair(cfg, dataset, paths)
        files = cfg.files[dataset]
        check_against_numpy(pair, author_checkpoints / files.G.name, author_checkpoints / files.D.name)
        assert sha256_of(author_checkpoints / files.G.name) == files.G.sha256


def test_mismatched_npz_names_keys_and_shapes(tmp_path):
    shapes = dict(G_SHAPES)
    shapes["l1/W"] = (128, 256)
    shapes["l3/W"] = shapes.pop("l2/W")
    write_npz(tmp_path / "G.npz", shapes, 0)
    write_npz(tmp_path / "D.npz", D_SHAPES, 1)
    cfg, paths = model_cfg(tmp_path)
    with pytest.raises(DotcliError) as err:
        load_chainer_toy_pair(cfg, "gaussians25", paths)
    msg = str(err.value)
    assert "missing keys [l2.weight]" in msg and "unexpected keys [l3.weight]" in msg
    assert "l1.weight: file (128, 256) vs model (256, 256)" in msg


def test_missing_checkpoint_says_where_it_looked(tmp_path):
    cfg, paths = model_cfg(tmp_path, g="nowhere.npz")
    with pytest.raises(DotcliError, match=r"checkpoint nowhere.npz not found \(looked in .*"):
        load_chainer_toy_pair(cfg, "gaussians25", paths)


def test_unknown_dataset_for_model(tmp_path):
    cfg, paths = model_cfg(tmp_path)
    with pytest.raises(DotcliError, match="no checkpoint for dataset 'swissroll'; it has: gaussians25"):
        load_chainer_toy_pair(cfg, "swissroll", paths)
