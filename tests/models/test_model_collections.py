"""pytorch-gan-collections SNGAN ResNet checkpoints: both generator key layouts, stored/exact sigma."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils import spectral_norm

from dotcli import DotcliError
from dotcli.models.collections import ARCHS, ResDiscriminator, ResGenerator, load_collections_pair

CONFIG = Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model" / "collections_sngan.yaml"


# --- reference: the original modules, written from source/models/sngan.py (both historic layouts) ---

class RefGenBlock(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.residual = nn.Sequential(nn.BatchNorm2d(a), nn.ReLU(), nn.Upsample(scale_factor=2),
                                      nn.Conv2d(a, b, 3, 1, 1), nn.BatchNorm2d(b), nn.ReLU(),
                                      nn.Conv2d(b, b, 3, 1, 1))
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(a, b, 1, 1, 0))

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class RefGenerator(nn.Module):
    """``old=True``: head inside ``blocks`` (blocks.3 BN, blocks.5 conv; up to 2021-07), else ``output``."""

    def __init__(self, bw, chans, old):
        super().__init__()
        self.bw, self.c0, self.old = bw, chans[0], old
        self.linear = nn.Linear(128, bw * bw * chans[0])
        body = [RefGenBlock(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)]
        head = [nn.BatchNorm2d(chans[-1]), nn.ReLU(True), nn.Conv2d(chans[-1], 3, 3, 1, 1), nn.Tanh()]
        if old:
            self.blocks = nn.Sequential(*body, *head)
        else:
            self.blocks, self.output = nn.Sequential(*body), nn.Sequential(*head)

    def forward(self, z):
        h = self.blocks(self.linear(z).view(-1, self.c0, self.bw, self.bw))
        return h if self.old else self.output(h)


class RefOptimizedDisBlock(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), spectral_norm(nn.Conv2d(a, b, 1, 1, 0)))
        self.residual = nn.Sequential(spectral_norm(nn.Conv2d(a, b, 3, 1, 1)), nn.ReLU(),
                                      spectral_norm(nn.Conv2d(b, b, 3, 1, 1)), nn.AvgPool2d(2))

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class RefDisBlock(nn.Module):
    def __init__(self, a, b, down):
        super().__init__()
        sc = [spectral_norm(nn.Conv2d(a, b, 1, 1, 0))] if (a != b or down) else []
        sc += [nn.AvgPool2d(2)] if down else []
        self.shortcut = nn.Sequential(*sc)
        res = [nn.ReLU(), spectral_norm(nn.Conv2d(a, b, 3, 1, 1)), nn.ReLU(), spectral_norm(nn.Conv2d(b, b, 3, 1, 1))]
        self.residual = nn.Sequential(*res, *([nn.AvgPool2d(2)] if down else []))

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class RefDiscriminator(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        if arch == "res32":
            blocks = [RefDisBlock(c[0], c[1], True), RefDisBlock(c[1], c[2], False), RefDisBlock(c[2], c[3], False)]
        else:
            blocks = [RefDisBlock(a, b, True) for a, b in zip(c[:-1], c[1:], strict=True)]
        self.model = nn.Sequential(RefOptimizedDisBlock(3, c[0]), *blocks, nn.ReLU())
        self.linear = spectral_norm(nn.Linear(c[-1], 1, bias=False))

    def forward(self, x):
        return self.linear(self.model(x).sum(dim=[2, 3]))


def make_checkpoint(tmp_path, arch, old, g_chans, d_chans, seed=0):
    """A trained-looking model.pt: random BN statistics, power-iteration vectors updated in train mode."""
    torch.manual_seed(seed)
    px, bw = ARCHS[arch][0], ARCHS[arch][1]
    G, D = RefGenerator(bw, g_chans, old), RefDiscriminator(arch, d_chans)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        D.train()
        for _ in range(2):
            D(torch.randn(2, 3, px, px))
    G.eval(), D.eval()
    path = tmp_path / f"{arch}_{'old' if old else 'new'}.pt"
    torch.save({"net_G": G.state_dict(), "net_D": D.state_dict(), "optim_G": {}, "step": 5}, path)
    return path, G, D


def cfg_with(path, **kw):
    cfg = OmegaConf.load(CONFIG)
    cfg.checkpoint = str(path)
    for k, v in kw.items():
        cfg[k] = v
    return cfg


SMALL = {"res32": ((16, 16, 16, 16), (8, 8, 8, 8)), "res48": ((16, 8, 8, 8), (4, 8, 8, 16))}


@pytest.mark.parametrize("arch,dataset", [("res32", "cifar10"), ("res48", "stl10")])
@pytest.mark.parametrize("old", [False, True])
def test_both_layouts_load_and_match_the_original(tmp_path, arch, dataset, old):
    path, ref_G, ref_D = make_checkpoint(tmp_path, arch, old, *SMALL[arch])
    pair = load_collections_pair(cfg_with(path), dataset, None)
    assert (pair.z_dim, pair.prior, pair.n_classes, pair.d_output) == (128, "normal", 0, "critic")
    z = torch.randn(3, 128)
    with torch.no_grad():
        x = pair.generate(z)
        px = ARCHS[arch][0]
        assert x.shape == (3, 3, px, px)
        torch.testing.assert_close(x, ref_G(z), rtol=1e-5, atol=1e-6)
        # stored u/v: the original D in eval mode, exactly
        torch.testing.assert_close(pair.discriminate(x), ref_D(x).view(-1), rtol=1e-5, atol=1e-6)


def test_exact_sigma_option(tmp_path):
    path, _, ref_D = make_checkpoint(tmp_path, "res32", False, *SMALL["res32"])
    pair = load_collections_pair(cfg_with(path, sigma_source="exact"), "cifar10", None)
    conv = pair.D.model[1].residual[1]
    w = ref_D.model[1].residual[1].weight_orig.detach().reshape(conv.weight_orig.shape[0], -1).double()
    assert conv.sigma.item() == pytest.approx(torch.linalg.svdvals(w)[0].item(), rel=1e-6)


def test_full_width_keys_and_shapes_match_the_original():
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    for arch in ("res32", "res48"):
        _, bw, g_chans, d_chans = ARCHS[arch]
        for old in (False, True):
            ref = shapes(RefGenerator(bw, g_chans, old))
            if old:
                ref = {k.replace("blocks.3.", "output.0.").replace("blocks.5.", "output.2."): v for k, v in ref.items()}
            assert shapes(ResGenerator(128, bw, g_chans)) == ref
        assert shapes(ResDiscriminator(arch)) == shapes(RefDiscriminator(arch, d_chans))


def test_errors(tmp_path):
    with pytest.raises(DotcliError, match="model.checkpoint=/path/to/model.pt"):
        load_collections_pair(OmegaConf.load(CONFIG), "cifar10", None)
    path, _, _ = make_checkpoint(tmp_path, "res48", False, *SMALL["res48"])
    with pytest.raises(DotcliError, match="res48 for 48x48 images, but dataset 'cifar10' needs 32x32"):
        load_collections_pair(cfg_with(path), "cifar10", None)
    with pytest.raises(DotcliError, match="model.arch=res32"):
        load_collections_pair(cfg_with(path, arch="res32"), "stl10", None)
    torch.save({"G": {}}, tmp_path / "bad.pt")
    with pytest.raises(DotcliError, match="no net_G / net_D"):
        load_collections_pair(cfg_with(tmp_path / "bad.pt"), "cifar10", None)
    with pytest.raises(DotcliError, match="does not exist"):
        load_collections_pair(cfg_with(tmp_path / "none.pt"), "cifar10", None)
