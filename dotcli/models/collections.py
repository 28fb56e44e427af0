"""w86763777/pytorch-gan-collections SNGAN ResNet models (PyTorch ``model.pt``) and their loader.

Source: pytorch-gan-collections ``source/models/sngan.py`` (``gans/models/sngan.py`` before
2021-04-16); checkpoints are written by ``sngan.py`` as ``{'net_G', 'net_D', 'optim_G', ...}``.
ResGenerator32: Linear z -> 4*4*256, three up-blocks 256 -> 256 (BN, ReLU, nearest 2x, conv3x3,
BN, ReLU, conv3x3; shortcut nearest 2x + conv1x1), BN, ReLU, conv3x3 -> 3, tanh.
ResGenerator48: Linear z -> 6*6*512, up-blocks 512 -> 256 -> 128 -> 64, same head.
ResDiscriminator32: optimised block 3 -> 128, blocks 128 -> 128 (down), 128 -> 128, 128 -> 128,
ReLU, global sum pooling, SN Linear 128 -> 1 (no bias). ResDiscriminator48: 3 -> 64 -> 128 ->
256 -> 512 (all down), SN Linear 512 -> 1. Every D conv uses ``torch.nn.utils.spectral_norm``.

Two generator key layouts exist in the repository's history: up to commit 2adbd78 (2021-07) the
head sits inside ``blocks`` (``blocks.3`` BN, ``blocks.5`` conv); from f553c71 (2022-01) it is
``output.0`` / ``output.2`` (and the 48px models were dropped from the code). Both load here.

Spectral norm: ``sigma_source: stored`` (default) uses the saved ``weight_u``/``weight_v`` exactly
as torch's ``spectral_norm`` does in eval mode (bit-for-bit the original D); ``exact`` uses the
SVD instead (differs by the power iteration's residual error). Prior N(0, I)^128; hinge loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from dotcli import DotcliError
from dotcli.models.layers import TorchSNConv2d, TorchSNLinear
from dotcli.models.loading import cfg_get, load_state_dict_checked
from dotcli.models.pair import ModelPair
from dotcli.models.toy import load_torch_checkpoint

# arch -> (image size, bottom width, generator channels per stage, discriminator channels per stage)
ARCHS = {
    "res32": (32, 4, (256, 256, 256, 256), (128, 128, 128, 128)),
    "res48": (48, 6, (512, 256, 128, 64), (64, 128, 256, 512)),
}
OLD_HEAD = {"blocks.3.": "output.0.", "blocks.5.": "output.2."}  # layout before 2022-01


class ResGenBlock(nn.Module):
    """``ResGenBlock``: keys residual.{0,3,4,6} and shortcut.1."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.BatchNorm2d(out_ch), nn.ReLU(),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1))
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(in_ch, out_ch, 1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResGenerator(nn.Module):
    """``ResGenerator32`` / ``ResGenerator48`` in the current key layout (``output.0``/``output.2``)."""

    def __init__(self, z_dim: int = 128, bottom_width: int = 4,
                 channels: tuple[int, ...] = ARCHS["res32"][2]) -> None:
        super().__init__()
        self.bottom_width, self.ch0 = bottom_width, channels[0]
        self.linear = nn.Linear(z_dim, bottom_width * bottom_width * channels[0])
        pairs = zip(channels[:-1], channels[1:], strict=True)
        self.blocks = nn.Sequential(*[ResGenBlock(a, b) for a, b in pairs])
        self.output = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(),
                                    nn.Conv2d(channels[-1], 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).view(-1, self.ch0, self.bottom_width, self.bottom_width)
        return self.output(self.blocks(h))


class OptimizedResDisBlock(nn.Module):
    """``OptimizedResDisblock``: keys shortcut.1 and residual.{0,2}."""

    def __init__(self, in_ch: int, out_ch: int, sigma_source: str) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.AvgPool2d(2),
                                      TorchSNConv2d(in_ch, out_ch, 1, 1, 0, sigma_source=sigma_source))
        self.residual = nn.Sequential(
            TorchSNConv2d(in_ch, out_ch, 3, 1, 1, sigma_source=sigma_source), nn.ReLU(),
            TorchSNConv2d(out_ch, out_ch, 3, 1, 1, sigma_source=sigma_source), nn.AvgPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResDisBlock(nn.Module):
    """``ResDisBlock``: keys residual.{1,3}, shortcut.0 when channels change or it downsamples."""

    def __init__(self, in_ch: int, out_ch: int, down: bool, sigma_source: str) -> None:
        super().__init__()
        shortcut: list[nn.Module] = []
        if in_ch != out_ch or down:
            shortcut.append(TorchSNConv2d(in_ch, out_ch, 1, 1, 0, sigma_source=sigma_source))
        if down:
            shortcut.append(nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(*shortcut)
        residual: list[nn.Module] = [
            nn.ReLU(), TorchSNConv2d(in_ch, out_ch, 3, 1, 1, sigma_source=sigma_source),
            nn.ReLU(), TorchSNConv2d(out_ch, out_ch, 3, 1, 1, sigma_source=sigma_source)]
        if down:
            residual.append(nn.AvgPool2d(2))
        self.residual = nn.Sequential(*residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResDiscriminator(nn.Module):
    """``ResDiscriminator32`` (``arch='res32'``) / ``ResDiscriminator48`` (``'res48'``): keys model.*, linear.

    ``channels`` overrides the widths (small test models); the structure follows ``arch``.
    """

    def __init__(self, arch: str = "res32", channels: tuple[int, ...] | None = None,
                 sigma_source: str = "stored") -> None:
        super().__init__()
        c = channels or ARCHS[arch][3]
        if arch == "res32":  # one downsampling block, then two at full 8x8 resolution
            blocks = [ResDisBlock(c[0], c[1], True, sigma_source),
                      ResDisBlock(c[1], c[2], False, sigma_source),
                      ResDisBlock(c[2], c[3], False, sigma_source)]
        else:
            blocks = [ResDisBlock(a, b, True, sigma_source) for a, b in zip(c[:-1], c[1:], strict=True)]
        self.model = nn.Sequential(OptimizedResDisBlock(3, c[0], sigma_source), *blocks, nn.ReLU())
        self.linear = TorchSNLinear(c[-1], 1, bias=False, sigma_source=sigma_source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.model(x).sum(dim=(2, 3)))


def convert_generator_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the pre-2022 head keys ``blocks.3.*`` / ``blocks.5.*`` to ``output.0.*`` / ``output.2.*``."""
    out = {}
    for key, value in state.items():
        for old, new in OLD_HEAD.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def _infer_generator(state: dict[str, torch.Tensor], source: str) -> tuple[str, tuple[int, ...]]:
    try:
        flat = state["linear.weight"].shape[0]
        chans = [state[f"blocks.{i}.residual.0.weight"].shape[0] for i in range(3)]
        chans.append(state["output.0.weight"].shape[0])
    except KeyError as exc:
        raise DotcliError(f"net_G in {source} is not a pytorch-gan-collections ResGenerator32/48 "
                          f"(no {exc.args[0]!r}; keys: {', '.join(list(state)[:8])}, ...)") from None
    bottom_width = round((flat / chans[0]) ** 0.5)
    arch = {4: "res32", 6: "res48"}.get(bottom_width)
    if arch is None or bottom_width * bottom_width * chans[0] != flat:
        raise DotcliError(f"net_G in {source} has linear.weight {tuple(state['linear.weight'].shape)} and "
                          f"{chans[0]} channels: neither ResGenerator32 (4x4) nor ResGenerator48 (6x6)")
    return arch, tuple(int(c) for c in chans)


def _infer_discriminator(state: dict[str, torch.Tensor]) -> tuple[str, tuple[int, ...]]:
    # res48 has a shortcut conv in its last block (channels grow); res32's last block has none
    arch = "res48" if "model.3.shortcut.0.weight_orig" in state else "res32"
    chans = [state[f"model.{i}.residual.{0 if i == 0 else 1}.weight_orig"].shape[0]
             for i in range(4) if f"model.{i}.residual.{0 if i == 0 else 1}.weight_orig" in state]
    return arch, tuple(int(c) for c in chans)


def _pick_arch(found: str, wanted: str, expected_px: int | None, role: str, source: str, where: str) -> None:
    px = ARCHS[found][0]
    if wanted != "auto" and wanted != found:
        raise DotcliError(f"{role} in {source} is {found} ({px}x{px} images) but model.arch={wanted}")
    if expected_px is not None and expected_px != px:
        raise DotcliError(f"{role} in {source} is {found} for {px}x{px} images, but {where} needs "
                          f"{expected_px}x{expected_px}; use a checkpoint trained on that dataset")


def load_collections_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """A pytorch-gan-collections SNGAN ``model.pt`` given by ``model.checkpoint=PATH``.

    Config: ``checkpoint`` (required), ``arch`` (auto | res32 | res48), ``sigma_source``
    (stored | exact), ``resolutions`` (dataset -> image size, to catch a wrong checkpoint),
    ``z_dim`` (128), ``d_output`` (critic: the repo's default hinge loss; logit for ``--loss bce``).
    """
    ckpt = cfg_get(model_cfg, "checkpoint")
    if not ckpt:
        raise DotcliError(f"model {cfg_get(model_cfg, 'name', 'collections_sngan')!r} needs a checkpoint: "
                          "pass model.checkpoint=/path/to/model.pt (a pytorch-gan-collections sngan.py "
                          "checkpoint with 'net_G' and 'net_D')")
    path = Path(str(ckpt)).expanduser()
    if not path.is_file():
        raise DotcliError(f"checkpoint {path} (model.checkpoint) does not exist")
    blob = load_torch_checkpoint(path)
    missing = [k for k in ("net_G", "net_D") if k not in blob]
    if missing:
        raise DotcliError(f"checkpoint {path} has no {' / '.join(missing)}; expected a "
                          f"pytorch-gan-collections model.pt with 'net_G' and 'net_D' "
                          f"(it has: {', '.join(map(str, blob))})")
    wanted = str(cfg_get(model_cfg, "arch", "auto"))
    if wanted not in ("auto", *ARCHS):
        raise DotcliError(f"model.arch={wanted} is not valid; expected auto, {', '.join(ARCHS)}")
    resolutions = cfg_get(model_cfg, "resolutions", {}) or {}
    expected_px = int(resolutions[dataset]) if dataset in resolutions else None
    sigma_source = str(cfg_get(model_cfg, "sigma_source", "stored"))
    z_dim = int(cfg_get(model_cfg, "z_dim", 128))
    where = f"dataset {dataset!r}"

    g_state = convert_generator_keys(dict(blob["net_G"]))
    g_arch, g_chans = _infer_generator(g_state, str(path))
    _pick_arch(g_arch, wanted, expected_px, "net_G", str(path), where)
    G = ResGenerator(z_dim=z_dim, bottom_width=ARCHS[g_arch][1], channels=g_chans)
    load_state_dict_checked(G, g_state, f"{path}[net_G]")

    d_state = dict(blob["net_D"])
    d_arch, d_chans = _infer_discriminator(d_state)
    _pick_arch(d_arch, wanted, expected_px, "net_D", str(path), where)
    if d_arch != g_arch:
        raise DotcliError(f"checkpoint {path} mixes a {g_arch} generator with a {d_arch} discriminator")
    D = ResDiscriminator(d_arch, channels=d_chans if len(d_chans) == 4 else None,
                         sigma_source=sigma_source)
    load_state_dict_checked(D, d_state, f"{path}[net_D]")
    return ModelPair(G=G, D=D, z_dim=z_dim, prior="normal",
                     d_output=str(cfg_get(model_cfg, "d_output", "critic")), sample_range=(-1.0, 1.0),
                     name=str(cfg_get(model_cfg, "name", "collections_sngan")))

