"""The DOT author's DCGAN-type image models (CIFAR-10 32px, STL-10 48px) and their loaders.

Source: AkinoriTanaka-phys/DOT ``model.py`` (a modified chainer-gan-lib ``common/net.py``):
``DCGANGenerator``, ``WGANDiscriminator``, ``SNDCGANDiscriminator``, ``SADCGANGenerator``,
``SADCGANDiscriminator``; SN layers from DOT ``snd/``; self-attention from DOT ``sa/attention.py``
(commit 50a004e, later removed from the public repository, whose ``model.py`` comments the
``sa1`` lines out). Chainer npz key names load directly: ``l0/W``, ``bn0/avg_mean``, ``dc1/W``,
``c0_0/W``, ``sa1/query_conv/W``, ``sa1/gamma``, ...

Widths (``ch`` = 512): G Linear z -> bw*bw*ch + BN over that flat vector, deconvs ch -> ch/2 ->
ch/4 -> ch/8 (k4 s2 p1, BN, ReLU), deconv ch/8 -> 3 (k3 s1 p1), tanh. D convs 3 -> ch/8 (k3) ->
ch/4 (k4 s2) -> ch/4 (k3) -> ch/2 (k4 s2) -> ch/2 (k3) -> ch (k4 s2) -> ch (k3), leaky ReLU 0.2,
Linear bw*bw*ch -> 1. bw = 4 (32px) or 6 (48px). Prior U[-1, 1]^128.

SAGAN variants (files ``..._SAGAN_NonSaturating_140000.npz``): every G and D layer is
spectrally normalised (``SNLinear``/``SNDeconvolution2D``, BN kept in G), and a self-attention
block ``sa1`` at ch/4 channels sits after ``bn2``+ReLU in G and after ``c0_1``+leaky ReLU in D.
Uncertain: the published Drive files were not inspected here. Whether they contain ``sa1/*``
keys is therefore unverified; the public ``execute_dot.py`` builds the models *without*
``sa1`` and Chainer's ``load_npz`` ignores extra keys, so the public code runs them without
attention. ``self_attention: auto`` (default) uses the block iff the file has ``sa1/*`` keys;
``false`` reproduces the public code; ``true`` requires the keys.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import resolve_checkpoint
from dotcli.models.layers import (
    LEAK,
    ChainerBatchNorm,
    SelfAttention,
    SNConv2d,
    SNConvTranspose2d,
    SNLinear,
    refresh_spectral_norms,
)
from dotcli.models.loading import cfg_get, files_entry, load_state_dict_checked, read_chainer_npz
from dotcli.models.pair import ModelPair

log = logging.getLogger(__name__)

Z_DIM = 128
BOTTOM_WIDTH_TO_PIXELS = {4: 32, 6: 48}


class DCGANGenerator(nn.Module):
    """DOT ``DCGANGenerator`` / ``SADCGANGenerator`` (``spectral=True``, optional ``self_attention``)."""

    def __init__(self, z_dim: int = Z_DIM, bottom_width: int = 4, ch: int = 512,
                 spectral: bool = False, self_attention: bool = False, channels: int = 3) -> None:
        super().__init__()
        self.ch, self.bottom_width = ch, bottom_width
        linear = SNLinear if spectral else nn.Linear
        deconv = SNConvTranspose2d if spectral else nn.ConvTranspose2d
        self.l0 = linear(z_dim, bottom_width * bottom_width * ch)
        self.dc1 = deconv(ch, ch // 2, 4, 2, 1)
        self.dc2 = deconv(ch // 2, ch // 4, 4, 2, 1)
        self.sa1 = SelfAttention(ch // 4) if self_attention else None
        self.dc3 = deconv(ch // 4, ch // 8, 4, 2, 1)
        self.dc4 = deconv(ch // 8, channels, 3, 1, 1)  # channels: 3 (paper), 1 for grey data
        self.bn0 = ChainerBatchNorm(bottom_width * bottom_width * ch)  # BN over the flat vector
        self.bn1 = ChainerBatchNorm(ch // 2)
        self.bn2 = ChainerBatchNorm(ch // 4)
        self.bn3 = ChainerBatchNorm(ch // 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn0(self.l0(z.reshape(z.shape[0], -1))))
        h = h.reshape(z.shape[0], self.ch, self.bottom_width, self.bottom_width)
        h = F.relu(self.bn1(self.dc1(h)))
        h = F.relu(self.bn2(self.dc2(h)))
        if self.sa1 is not None:
            h = self.sa1(h)
        h = F.relu(self.bn3(self.dc3(h)))
        return torch.tanh(self.dc4(h))


class WGANDiscriminator(nn.Module):
    """DOT ``WGANDiscriminator``: plain convs c0, c1, c1_0, c2, c2_0, c3, c3_0 and Linear l4."""

    def __init__(self, bottom_width: int = 4, ch: int = 512) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(3, ch // 8, 3, 1, 1)
        self.c1 = nn.Conv2d(ch // 8, ch // 4, 4, 2, 1)
        self.c1_0 = nn.Conv2d(ch // 4, ch // 4, 3, 1, 1)
        self.c2 = nn.Conv2d(ch // 4, ch // 2, 4, 2, 1)
        self.c2_0 = nn.Conv2d(ch // 2, ch // 2, 3, 1, 1)
        self.c3 = nn.Conv2d(ch // 2, ch, 4, 2, 1)
        self.c3_0 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.l4 = nn.Linear(bottom_width * bottom_width * ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in (self.c0, self.c1, self.c1_0, self.c2, self.c2_0, self.c3, self.c3_0):
            h = F.leaky_relu(conv(h), LEAK)
        return self.l4(h.flatten(1))


class SNDCGANDiscriminator(nn.Module):
    """DOT ``SNDCGANDiscriminator`` / ``SADCGANDiscriminator`` (``self_attention=True``).

    SN convs c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0 and SN Linear l4; ``sa1`` after c0_1.
    """

    def __init__(self, bottom_width: int = 4, ch: int = 512, self_attention: bool = False,
                 channels: int = 3) -> None:
        super().__init__()
        self.c0_0 = SNConv2d(channels, ch // 8, 3, 1, 1)
        self.c0_1 = SNConv2d(ch // 8, ch // 4, 4, 2, 1)
        self.sa1 = SelfAttention(ch // 4) if self_attention else None
        self.c1_0 = SNConv2d(ch // 4, ch // 4, 3, 1, 1)
        self.c1_1 = SNConv2d(ch // 4, ch // 2, 4, 2, 1)
        self.c2_0 = SNConv2d(ch // 2, ch // 2, 3, 1, 1)
        self.c2_1 = SNConv2d(ch // 2, ch, 4, 2, 1)
        self.c3_0 = SNConv2d(ch, ch, 3, 1, 1)
        self.l4 = SNLinear(bottom_width * bottom_width * ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.c0_0(x), LEAK)
        h = F.leaky_relu(self.c0_1(h), LEAK)
        if self.sa1 is not None:
            h = self.sa1(h)
        for conv in (self.c1_0, self.c1_1, self.c2_0, self.c2_1, self.c3_0):
            h = F.leaky_relu(conv(h), LEAK)
        return self.l4(h.flatten(1))


GENERATORS = ("dcgan", "sadcgan")
DISCRIMINATORS = ("wgan", "sndcgan", "sadcgan")


def build_generator(kind: str, bottom_width: int, ch: int = 512,
                    self_attention: bool = False) -> nn.Module:
    """``dcgan`` (WGAN-GP and SNGAN files) or ``sadcgan`` (SAGAN files)."""
    if kind == "dcgan":
        return DCGANGenerator(bottom_width=bottom_width, ch=ch)
    if kind == "sadcgan":
        return DCGANGenerator(bottom_width=bottom_width, ch=ch, spectral=True, self_attention=self_attention)
    raise DotcliError(f"unknown generator {kind!r}; expected one of {', '.join(GENERATORS)}")


def build_discriminator(kind: str, bottom_width: int, ch: int = 512,
                        self_attention: bool = False) -> nn.Module:
    """``wgan`` (WGAN-GP files), ``sndcgan`` (SNGAN files) or ``sadcgan`` (SAGAN files)."""
    if kind == "wgan":
        return WGANDiscriminator(bottom_width=bottom_width, ch=ch)
    if kind == "sndcgan":
        return SNDCGANDiscriminator(bottom_width=bottom_width, ch=ch)
    if kind == "sadcgan":
        return SNDCGANDiscriminator(bottom_width=bottom_width, ch=ch, self_attention=self_attention)
    raise DotcliError(f"unknown discriminator {kind!r}; expected one of {', '.join(DISCRIMINATORS)}")


def _pixels(bottom_width: int) -> str:
    px = BOTTOM_WIDTH_TO_PIXELS.get(bottom_width, 8 * bottom_width)
    return f"{px}x{px} images (bottom width {bottom_width})"


def _check_resolution(state: dict[str, torch.Tensor], role: str, bottom_width: int, ch: int,
                      source: str, where: str) -> None:
    """Name a resolution mismatch (32px file for a 48px model, ...) before the generic key check."""
    key, axis = ("l0.weight", 0) if role == "G" else ("l4.weight", 1)
    if key not in state or state[key].dim() != 2:
        return  # a different layout: load_state_dict_checked lists the keys
    flat = int(state[key].shape[axis])
    if flat == bottom_width * bottom_width * ch:
        return
    found = round((flat / ch) ** 0.5)
    what = _pixels(found) if found * found * ch == flat else f"a flat size of {flat}"
    raise DotcliError(f"checkpoint {source} is for {what}, but {where} expects {_pixels(bottom_width)}; "
                      "use the file of the matching dataset (CIFAR = 32px, STL48 = 48px)")


def _self_attention_wanted(setting: Any, state: dict[str, torch.Tensor], source: str) -> bool:
    has = any(k.startswith("sa1.") for k in state)
    if setting in ("auto", None):
        return has
    if setting is True and not has:
        raise DotcliError(f"self_attention=true but {source} has no sa1/* keys (no attention block); "
                          "use self_attention=auto or false")
    return bool(setting)


def _chainer_state(path: Path) -> dict[str, torch.Tensor]:
    state = read_chainer_npz(path)
    if "sa1.weight" in state:  # the reader maps every `gamma` leaf to BN's `weight`; here it is SA's gamma
        state["sa1.gamma"] = state.pop("sa1.weight")
    return state


def load_tanaka_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """The author's DCGAN/SAGAN checkpoints (Chainer .npz) for ``cifar10`` (32px) or ``stl10`` (48px).

    Architecture keys are read from ``model.files.<dataset>`` first, then from ``model``:
    ``generator`` (dcgan | sadcgan), ``discriminator`` (wgan | sndcgan | sadcgan), ``bottom_width``
    (4 | 6), ``d_output`` (critic | logit), ``self_attention`` (auto | true | false).
    """
    entry = files_entry(model_cfg, dataset)
    get = lambda key, default=None: cfg_get(entry, key, cfg_get(model_cfg, key, default))  # noqa: E731
    bottom_width = int(get("bottom_width"))
    ch = int(get("ch", 512))
    where = f"model {model_cfg.name!r} for dataset {dataset!r}"
    nets, notes = {}, {}
    for role, kind, builder in (("G", get("generator"), build_generator),
                                ("D", get("discriminator"), build_discriminator)):
        path = resolve_checkpoint(entry[role], paths)
        state = _chainer_state(path)
        _check_resolution(state, role, bottom_width, ch, str(path), where)
        attention = _self_attention_wanted(get("self_attention", "auto"), state, str(path)) \
            if kind == "sadcgan" else False
        if kind == "sadcgan":  # whether the published SAGAN files hold sa1/* is unverified: say what was found
            found = any(k.startswith("sa1.") for k in state)
            notes[f"self_attention_{role}"] = (
                f"sa1 block {'found in' if found else 'absent from'} {path.name}, "
                f"{'used' if attention else 'not used'} (self_attention={get('self_attention', 'auto')})")
            log.info("%s %s: %s", model_cfg.name, role, notes[f"self_attention_{role}"])
        if not attention:  # drop sa1/* like Chainer's load_npz drops keys the model lacks
            state = {k: v for k, v in state.items() if not k.startswith("sa1.")}
        net = builder(kind, bottom_width, ch, self_attention=attention)
        load_state_dict_checked(net, state, str(path))
        nets[role] = net
    if any(isinstance(m, SNConv2d) for m in nets["D"].modules()):
        notes["spectral_norm"] = ("exact largest singular value (the files store no u; the released code starts "
                                  "u at random and iterates: docs/protocol.md#spectral-norm)")
    return ModelPair(G=nets["G"], D=nets["D"], z_dim=Z_DIM, prior="uniform", d_output=str(get("d_output")),
                     sample_range=(-1.0, 1.0), name=str(model_cfg.name), notes=notes)


@torch.no_grad()
def chainer_init_(module: nn.Module, gen: torch.Generator, std: float = 0.02) -> None:
    """Chainer-gan-lib's init: weights N(0, std) (``initializers.Normal(0.02)``), biases 0, BN (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = getattr(m, "weight_orig", None)
            w = m.weight if w is None else w
            w.copy_(torch.randn(w.shape, generator=gen) * std)
            if m.bias is not None:
                m.bias.zero_()
    refresh_spectral_norms(module)


def load_random_dcgan_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """DCGAN G + SNDCGAN D with a seeded random init, no files (tests and benchmarks).

    Config: ``ch`` (width, 512 = the paper's), ``bottom_width`` (4 = 32px), ``seed``, ``d_output``.
    """
    ch = int(cfg_get(model_cfg, "ch", 512))
    if ch < 8 or ch % 8:
        raise DotcliError(f"model.ch={ch} is not valid; expected a multiple of 8 (>= 8)")
    bottom_width = int(cfg_get(model_cfg, "bottom_width", 4))
    gen = torch.Generator().manual_seed(int(cfg_get(model_cfg, "seed", 0)))
    G = DCGANGenerator(bottom_width=bottom_width, ch=ch)
    D = SNDCGANDiscriminator(bottom_width=bottom_width, ch=ch)
    chainer_init_(G, gen)
    chainer_init_(D, gen)
    return ModelPair(G=G, D=D, z_dim=Z_DIM, prior="uniform",
                     d_output=str(cfg_get(model_cfg, "d_output", "logit")), sample_range=(-1.0, 1.0),
                     name=str(cfg_get(model_cfg, "name", "random_dcgan32")))
