"""The DOT author's DCGAN/SAGAN models: Chainer npz keys, loaders, configs, forward semantics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from dotcli import DotcliError
from dotcli.models.dcgan import DCGANGenerator, SNDCGANDiscriminator, WGANDiscriminator, load_random_dcgan_pair
from dotcli.runner import load_pair
from tests.models import chainer_specs as specs

CONFIGS = Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model"
DRIVE = "https://drive.google.com/drive/folders/1UpWndW2xz0X8XaQZNyfSOjyiTbMfWEVs"


def model_cfg(name: str, **overrides):
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def paths_for(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(checkpoints=str(tmp_path), cache=str(tmp_path / "cache"), allow_download=False)


# --- reference forward passes written from DOT model.py, straight from the npz arrays ---

def _t(a, key):
    return torch.from_numpy(a[key])


def _w(a, key, spectral):
    w = a[key]
    if spectral:
        w = w / specs.power_sigma(w)
    return torch.from_numpy(w.astype(np.float32))


def _bn(a, prefix, h):
    shape = (1, -1) + (1,) * (h.dim() - 2)
    mean, var = _t(a, f"{prefix}/avg_mean").view(shape), _t(a, f"{prefix}/avg_var").view(shape)
    gamma, beta = _t(a, f"{prefix}/gamma").view(shape), _t(a, f"{prefix}/beta").view(shape)
    return (h - mean) / torch.sqrt(var + 2e-5) * gamma + beta


def _attention(a, h):
    n, c, hh, ww = h.shape
    conv = lambda name: F.conv2d(h, _w(a, f"sa1/{name}/W", True), _t(a, f"sa1/{name}/b"))  # noqa: E731
    q, k, v = conv("query_conv").flatten(2), conv("key_conv").flatten(2), conv("value_conv").flatten(2)
    att = torch.softmax(torch.einsum("nci,ncj->nij", q, k), dim=2)
    return _t(a, "sa1/gamma") * torch.einsum("ncj,nij->nci", v, att).view(n, c, hh, ww) + h


def ref_generator(a, z, bw, ch, spectral=False, attention=False):
    h = F.linear(z, _w(a, "l0/W", spectral), _t(a, "l0/b"))
    h = F.relu(_bn(a, "bn0", h)).view(len(z), ch, bw, bw)
    for i in (1, 2, 3):
        h = F.relu(_bn(a, f"bn{i}", F.conv_transpose2d(h, _w(a, f"dc{i}/W", spectral), _t(a, f"dc{i}/b"), 2, 1)))
        if i == 2 and attention:
            h = _attention(a, h)
    return torch.tanh(F.conv_transpose2d(h, _w(a, "dc4/W", spectral), _t(a, "dc4/b"), 1, 1))


def ref_discriminator(a, x, names, spectral, attention=False):
    h = x
    for name in names:
        stride, pad = (2, 1) if a[f"{name}/W"].shape[-1] == 4 else (1, 1)
        h = F.leaky_relu(F.conv2d(h, _w(a, f"{name}/W", spectral), _t(a, f"{name}/b"), stride, pad), 0.2)
        if attention and name == "c0_1":
            h = _attention(a, h)
    return F.linear(h.flatten(1), _w(a, "l4/W", spectral), _t(a, "l4/b"))


WGAN_NAMES = ["c0", "c1", "c1_0", "c2", "c2_0", "c3", "c3_0"]
SN_NAMES = ["c0_0", "c0_1", "c1_0", "c1_1", "c2_0", "c2_1", "c3_0"]


def write_pair(tmp_path, cfg, dataset, g_spec, d_spec, seed=0):
    entry = cfg.files[dataset]
    g = specs.random_arrays(g_spec, seed)
    d = specs.random_arrays(d_spec, seed + 1)
    specs.write_npz(tmp_path / entry.G.name, g)
    specs.write_npz(tmp_path / entry.D.name, d)
    return g, d


# --- full-width key names and shapes (no forward: built on the meta device) ---

def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("bw", [4, 6])
def test_full_width_modules_have_the_chainer_keys_and_shapes(bw):
    with torch.device("meta"):
        nets = {
            "dcgan_G": (DCGANGenerator(bottom_width=bw), specs.dcgan_generator(bw)),
            "sagan_G": (DCGANGenerator(bottom_width=bw, spectral=True, self_attention=True),
                        specs.dcgan_generator(bw, attention=True)),
            "wgan_D": (WGANDiscriminator(bottom_width=bw), specs.wgan_discriminator(bw)),
            "sndcgan_D": (SNDCGANDiscriminator(bottom_width=bw), specs.sndcgan_discriminator(bw)),
            "sagan_D": (SNDCGANDiscriminator(bottom_width=bw, self_attention=True),
                        specs.sndcgan_discriminator(bw, attention=True)),
        }
    for name, (module, spec) in nets.items():
        assert _shapes(module) == specs.torch_shapes(spec), name
    assert specs.dcgan_generator(bw)["l0/W"] == (bw * bw * 512, 128)
    assert specs.sndcgan_discriminator(bw)["l4/W"] == (1, bw * bw * 512)


# --- loading through the configs and loaders, then a forward against the reference ---

CASES = [  # config, dataset, bottom width, D layer names, spectral D, d_output
    ("tanaka_wgangp", "cifar10", 4, WGAN_NAMES, False, "critic"),
    ("tanaka_sngan_ns", "stl10", 6, SN_NAMES, True, "logit"),
    ("tanaka_sngan_hinge", "cifar10", 4, SN_NAMES, True, "critic"),
]


@pytest.mark.parametrize("name,dataset,bw,d_names,spectral,d_output", CASES)
def test_tanaka_loader_matches_reference_forward(tmp_path, name, dataset, bw, d_names, spectral, d_output):
    ch = 32
    cfg = model_cfg(name, ch=ch)
    d_spec = specs.sndcgan_discriminator(bw, ch) if spectral else specs.wgan_discriminator(bw, ch)
    g, d = write_pair(tmp_path, cfg, dataset, specs.dcgan_generator(bw, ch), d_spec)
    full = OmegaConf.create({"model": cfg, "dataset": {"name": dataset}, "paths": vars(paths_for(tmp_path))})
    pair = load_pair(full)  # the per-dataset `loader` entry (tanaka_wgangp) or the model's loader
    assert (pair.z_dim, pair.prior, pair.n_classes, pair.d_output) == (128, "uniform", 0, d_output)
    assert pair.sample_range == (-1.0, 1.0)
    z = torch.rand(3, 128) * 2 - 1
    with torch.no_grad():
        x = pair.generate(z)
        assert x.shape == (3, 3, 8 * bw, 8 * bw)
        torch.testing.assert_close(x, ref_generator(g, z, bw, ch), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(pair.discriminate(x), ref_discriminator(d, x, d_names, spectral).view(-1),
                                   rtol=1e-4, atol=1e-5)


def test_sagan_with_attention_matches_reference(tmp_path):
    ch, bw = 64, 4  # ch // 4 // 8 = 2 query/key channels
    cfg = model_cfg("tanaka_sagan_ns", ch=ch)
    g, d = write_pair(tmp_path, cfg, "cifar10", specs.dcgan_generator(bw, ch, attention=True),
                      specs.sndcgan_discriminator(bw, ch, attention=True))
    pair = load_pair(OmegaConf.create({"model": cfg, "dataset": {"name": "cifar10"},
                                       "paths": vars(paths_for(tmp_path))}))
    assert pair.G.sa1 is not None and pair.D.sa1 is not None and pair.d_output == "logit"
    z = torch.rand(2, 128) * 2 - 1
    with torch.no_grad():
        x = pair.generate(z)
        torch.testing.assert_close(x, ref_generator(g, z, bw, ch, spectral=True, attention=True),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(pair.discriminate(x),
                                   ref_discriminator(d, x, SN_NAMES, True, attention=True).view(-1),
                                   rtol=1e-4, atol=1e-5)


def test_sagan_attention_setting(tmp_path, caplog):
    ch, bw = 32, 4
    caplog.set_level("INFO", logger="dotcli.models.dcgan")
    paths = paths_for(tmp_path)
    cfg = model_cfg("tanaka_sagan_ns", ch=ch)
    from dotcli.models.dcgan import load_tanaka_pair

    # files without sa1/* keys: auto builds no attention block (the public execute_dot.py model)
    g, _ = write_pair(tmp_path, cfg, "cifar10", specs.dcgan_generator(bw, ch), specs.sndcgan_discriminator(bw, ch))
    pair = load_tanaka_pair(cfg, "cifar10", paths)
    assert pair.G.sa1 is None and pair.D.sa1 is None
    assert pair.notes["self_attention_G"].startswith("sa1 block absent from DCGAN_G_CIFAR_SAGAN")
    assert "not used (self_attention=auto)" in pair.notes["self_attention_D"]
    assert "D: sa1 block absent from" in caplog.text  # logged when loading, recorded as model_notes
    cfg.self_attention = True
    with pytest.raises(DotcliError, match="no sa1"):
        load_tanaka_pair(cfg, "cifar10", paths)
    # files with sa1/* keys and self_attention=false: the keys are ignored, like Chainer's load_npz
    g, _ = write_pair(tmp_path, cfg, "cifar10", specs.dcgan_generator(bw, ch, attention=True),
                      specs.sndcgan_discriminator(bw, ch, attention=True))
    cfg.self_attention = False
    pair = load_tanaka_pair(cfg, "cifar10", paths)
    assert "found in" in pair.notes["self_attention_G"] and "not used (self_attention=False)" in pair.notes[
        "self_attention_G"]
    cfg.self_attention = "auto"
    assert load_tanaka_pair(cfg, "cifar10", paths).notes["self_attention_D"].endswith(", used (self_attention=auto)")
    cfg.self_attention = False
    z = torch.rand(2, 128) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(pair.generate(z), ref_generator(g, z, bw, ch, spectral=True),
                                   rtol=1e-4, atol=1e-5)


# --- errors ---

def test_wrong_resolution_is_named(tmp_path):
    ch = 32
    cfg = model_cfg("tanaka_sngan_ns", ch=ch)
    write_pair(tmp_path, cfg, "cifar10", specs.dcgan_generator(6, ch), specs.sndcgan_discriminator(6, ch))
    from dotcli.models.dcgan import load_tanaka_pair

    with pytest.raises(DotcliError, match=r"48x48 images \(bottom width 6\).*expects 32x32"):
        load_tanaka_pair(cfg, "cifar10", paths_for(tmp_path))


def test_wrong_keys_and_shapes_are_listed(tmp_path):
    ch = 32
    cfg = model_cfg("tanaka_sngan_hinge", ch=ch)
    g = specs.random_arrays(specs.dcgan_generator(4, ch))
    del g["dc4/b"]
    g["extra/W"] = np.zeros((2, 2), np.float32)
    g["dc2/W"] = np.zeros((ch // 2, ch // 4, 3, 3), np.float32)
    specs.write_npz(tmp_path / cfg.files.cifar10.G.name, g)
    specs.write_npz(tmp_path / cfg.files.cifar10.D.name, specs.random_arrays(specs.sndcgan_discriminator(4, ch)))
    from dotcli.models.dcgan import load_tanaka_pair

    with pytest.raises(DotcliError) as err:
        load_tanaka_pair(cfg, "cifar10", paths_for(tmp_path))
    msg = str(err.value)
    assert "missing keys [dc4.bias]" in msg and "unexpected keys [extra.weight]" in msg
    assert "dc2.weight: file (16, 8, 3, 3) vs model (16, 8, 4, 4)" in msg


def test_missing_file_says_where_to_download(tmp_path):
    from dotcli.models.dcgan import load_tanaka_pair

    with pytest.raises(DotcliError, match="DCGAN_G_STL48_SNGAN_Hinge_150001.npz not found.*" + DRIVE):
        load_tanaka_pair(model_cfg("tanaka_sngan_hinge"), "stl10", paths_for(tmp_path))
    with pytest.raises(DotcliError, match="no checkpoint for dataset 'imagenet'"):
        load_tanaka_pair(model_cfg("tanaka_sngan_hinge"), "imagenet", paths_for(tmp_path))


# --- configs ---

def test_tanaka_configs_name_the_published_files():
    toy = model_cfg("tanaka_wgangp")
    assert toy.loader == "dotcli.models.toy.load_chainer_toy_pair"  # the 2-D entries are unchanged
    assert "loader" not in toy.files.gaussians25 and "loader" not in toy.files.swissroll
    runs = {"tanaka_wgangp": "WGAN-GP_Wasserstein_150001", "tanaka_sngan_ns": "SNGAN_NonSaturating_150001",
            "tanaka_sngan_hinge": "SNGAN_Hinge_150001", "tanaka_sagan_ns": "SAGAN_NonSaturating_140000"}
    for name, run in runs.items():
        cfg = model_cfg(name)
        for dataset, tag, bw in (("cifar10", "CIFAR", 4), ("stl10", "STL48", 6)):
            entry = cfg.files[dataset]
            assert entry.bottom_width == bw
            for role in "GD":
                spec = entry[role]
                assert spec.name == f"DCGAN_{role}_{tag}_{run}.npz"
                assert spec.url is None and spec.sha256 is None and DRIVE in spec.help


def test_every_model_config_names_an_importable_loader():
    from hydra.utils import get_method

    def composed(path):
        # a model config may extend another of its group (defaults: [parent, _self_]); its own keys win
        cfg = OmegaConf.load(path)
        parents = [d for d in cfg.pop("defaults", []) if d != "_self_"]
        return OmegaConf.merge(*[composed(CONFIGS / f"{p}.yaml") for p in parents], cfg)

    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = composed(path)
        assert cfg.name == path.stem
        get_method(cfg.loader)
        for entry in (cfg.get("files") or {}).values():
            if "loader" in entry:
                get_method(entry.loader)


# --- random pair for tests and benchmarks ---

def test_random_dcgan32_is_seeded_and_spectrally_normalised(tmp_path):
    cfg = model_cfg("random_dcgan32", ch=16)
    a, b = (load_random_dcgan_pair(cfg, "cifar10", paths_for(tmp_path)) for _ in range(2))
    z = torch.rand(2, 128) * 2 - 1
    with torch.no_grad():
        x = a.generate(z)
        assert x.shape == (2, 3, 32, 32)
        torch.testing.assert_close(x, b.generate(z))
        torch.testing.assert_close(a.discriminate(x), b.discriminate(x))
    conv = a.D.c1_1
    w = conv.normalized_weight().detach().reshape(conv.weight.shape[0], -1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=1e-5)
    assert (a.prior, a.d_output, a.z_dim) == ("uniform", "logit", 128)
    other = load_random_dcgan_pair(model_cfg("random_dcgan32", ch=16, seed=1), "cifar10", paths_for(tmp_path))
    assert not torch.allclose(other.G.l0.weight, a.G.l0.weight)
    with pytest.raises(DotcliError, match="multiple of 8"):
        load_random_dcgan_pair(model_cfg("random_dcgan32", ch=12), "cifar10", paths_for(tmp_path))
