"""pfnet-research/sngan_projection ImageNet 128px models (Chainer) and their loader.

Sources: sngan_projection ``gen_models/resnet.py`` + ``gen_models/resblocks.py`` (ResNetGenerator),
``dis_models/snresnet.py`` + ``dis_models/resblocks.py`` (SNResNetProjectionDiscriminator),
``source/links/*`` (categorical conditional BN, SN links), ``configs/sn_projection.yml``
(ch 64, dim_z 128, bottom_width 4, 1000 classes, hinge loss). The DOT paper used the published
``ResNetGenerator_850000.npz`` / ``SNResNetProjectionDiscriminator_850000.npz``.

G: Linear z -> 4*4*16ch, five up-blocks (16ch -> 16ch -> 8ch -> 4ch -> 2ch -> ch), each
``CCBN, ReLU, nearest 2x, conv3x3, CCBN, ReLU, conv3x3`` + shortcut ``nearest 2x, conv1x1``;
then BN, ReLU, conv3x3 -> 3, tanh. D: an optimised down-block (3 -> ch) and blocks ch -> 2ch ->
4ch -> 8ch -> 16ch (down, 2x2 average pooling) -> 16ch (no down, identity shortcut), ReLU,
global *sum* pooling, ``l7(h) + <l_y(y), h>`` (projection). Every D layer is spectrally
normalised; the files store Chainer's power-iteration vector ``u``. ``sigma_source: stored`` (the model
config's default) computes sigma as pfnet's links do at test time: one power iteration from the stored
``u`` (``source/functions/max_sv.py``, Ip=1), kept frozen. ``exact`` uses the exact largest singular value
(what the power iteration converges to). Frozen even where pfnet's code moves ``u`` at test time
(``SNLinear`` l7 and ``SNEmbedID`` l_y update ``u`` on every call, ``SNConvolution2D`` only in training):
l7 has one row, so one iteration is already exact; for l_y the difference is the residual of 850k training
iterations plus DOT_cond.py's 100 warm-up forwards (docs/protocol.md#spectral-norm).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import resolve_checkpoint
from dotcli.models.layers import (
    SIGMA_SOURCES,
    CategoricalConditionalBatchNorm,
    ChainerBatchNorm,
    SNConv2d,
    SNEmbedding,
    SNLinear,
    upsample2x,
)
from dotcli.models.loading import cfg_get, expected_cap, files_entry, load_state_dict_checked, read_chainer_npz
from dotcli.models.pair import ModelPair


class GenBlock(nn.Module):
    """sngan_projection ``gen_models/resblocks.Block`` with ``upsample=True`` (keys c1, c2, b1, b2, c_sc)."""

    def __init__(self, in_ch: int, out_ch: int, n_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        if n_classes > 0:
            self.b1: nn.Module = CategoricalConditionalBatchNorm(in_ch, n_classes)
            self.b2: nn.Module = CategoricalConditionalBatchNorm(out_ch, n_classes)
        else:
            self.b1, self.b2 = ChainerBatchNorm(in_ch), ChainerBatchNorm(out_ch)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1)  # upsampling always makes the shortcut learnable

    def _bn(self, bn: nn.Module, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return bn(h) if y is None or isinstance(bn, ChainerBatchNorm) else bn(h, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.c1(upsample2x(F.relu(self._bn(self.b1, x, y))))
        h = self.c2(F.relu(self._bn(self.b2, h, y)))
        return h + self.c_sc(upsample2x(x))


class ResNetGenerator(nn.Module):
    """sngan_projection ``ResNetGenerator`` (keys l1, block2..block6, b7, l7)."""

    def __init__(self, ch: int = 64, z_dim: int = 128, bottom_width: int = 4, n_classes: int = 1000) -> None:
        super().__init__()
        self.bottom_width, self.n_classes = bottom_width, n_classes
        self.l1 = nn.Linear(z_dim, bottom_width * bottom_width * ch * 16)
        self.block2 = GenBlock(ch * 16, ch * 16, n_classes)
        self.block3 = GenBlock(ch * 16, ch * 8, n_classes)
        self.block4 = GenBlock(ch * 8, ch * 4, n_classes)
        self.block5 = GenBlock(ch * 4, ch * 2, n_classes)
        self.block6 = GenBlock(ch * 2, ch, n_classes)
        self.b7 = ChainerBatchNorm(ch)
        self.l7 = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes > 0 and y is None:
            raise ValueError("this generator is class-conditional: pass labels y")
        h = self.l1(z).reshape(z.shape[0], -1, self.bottom_width, self.bottom_width)
        for block in (self.block2, self.block3, self.block4, self.block5, self.block6):
            h = block(h, y)
        return torch.tanh(self.l7(F.relu(self.b7(h))))


class DisBlock(nn.Module):
    """sngan_projection ``dis_models/resblocks.Block``: pre-activation, hidden = in channels."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.c1 = SNConv2d(in_ch, in_ch, 3, padding=1)
        self.c2 = SNConv2d(in_ch, out_ch, 3, padding=1)
        self.c_sc = SNConv2d(in_ch, out_ch, 1) if (in_ch != out_ch or downsample) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(F.relu(x))))
        sc = x if self.c_sc is None else self.c_sc(x)
        if self.downsample:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class OptimizedDisBlock(nn.Module):
    """sngan_projection ``OptimizedBlock``: the first D block (no pre-activation; pool, then 1x1 shortcut)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.c1 = SNConv2d(in_ch, out_ch, 3, padding=1)
        self.c2 = SNConv2d(out_ch, out_ch, 3, padding=1)
        self.c_sc = SNConv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class SNResNetProjectionDiscriminator(nn.Module):
    """sngan_projection ``SNResNetProjectionDiscriminator`` (keys block1..block6, l7, l_y)."""

    def __init__(self, ch: int = 64, n_classes: int = 1000) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.block1 = OptimizedDisBlock(3, ch)
        self.block2 = DisBlock(ch, ch * 2, downsample=True)
        self.block3 = DisBlock(ch * 2, ch * 4, downsample=True)
        self.block4 = DisBlock(ch * 4, ch * 8, downsample=True)
        self.block5 = DisBlock(ch * 8, ch * 16, downsample=True)
        self.block6 = DisBlock(ch * 16, ch * 16, downsample=False)
        self.l7 = SNLinear(ch * 16, 1)
        self.l_y = SNEmbedding(n_classes, ch * 16) if n_classes > 0 else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU then global *sum* pooling of the last block: the ``h`` of the projection head."""
        h = x
        for block in (self.block1, self.block2, self.block3, self.block4, self.block5, self.block6):
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.l7(h)
        if y is not None and self.l_y is not None:
            out = out + (self.l_y(y) * h).sum(dim=1, keepdim=True)
        return out


def load_sngan_projection_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """The published ImageNet 128px SNGAN-projection pair (Chainer .npz), hinge loss.

    Config (entry first, then model): ``ch`` (64), ``n_classes`` (1000), ``z_dim`` (128),
    ``bottom_width`` (4 -> 128px), ``d_output`` (critic), ``sigma_source`` (stored | exact).
    """
    entry = files_entry(model_cfg, dataset)
    get = lambda key, default=None: cfg_get(entry, key, cfg_get(model_cfg, key, default))  # noqa: E731
    ch, n_classes = int(get("ch", 64)), int(get("n_classes", 1000))
    z_dim, bottom_width = int(get("z_dim", 128)), int(get("bottom_width", 4))
    sigma_source = str(get("sigma_source", "stored"))
    if sigma_source not in SIGMA_SOURCES:
        raise DotcliError(f"model.sigma_source={sigma_source!r} is not valid; expected stored or exact")
    G = ResNetGenerator(ch=ch, z_dim=z_dim, bottom_width=bottom_width, n_classes=n_classes)
    D = SNResNetProjectionDiscriminator(ch=ch, n_classes=n_classes)
    for role, net in (("G", G), ("D", D)):
        path = resolve_checkpoint(entry[role], paths)
        state = read_chainer_npz(path, keep_u=True, max_bytes=expected_cap(net))
        stored_u = {k[:-len(".u")]: state.pop(k) for k in list(state) if k.endswith(".u")}
        _check_classes(state, role, n_classes, str(path))
        load_state_dict_checked(net, state, str(path))
        if sigma_source == "stored":
            _use_stored_u(net, stored_u, str(path))
    notes = {"spectral_norm": "sigma from one power iteration from the stored u, frozen (sigma_source=stored)"
             if sigma_source == "stored" else "exact largest singular value (sigma_source=exact)"}
    return ModelPair(G=G, D=D, z_dim=z_dim, prior="normal", n_classes=n_classes,
                     d_output=str(get("d_output", "critic")), sample_range=(-1.0, 1.0),
                     name=str(model_cfg.name), notes=notes)


def _use_stored_u(net: nn.Module, stored_u: dict[str, torch.Tensor], source: str) -> None:
    """Give every SN layer of ``net`` its saved power-iteration vector (``<link>/u`` in the npz)."""
    for name, module in net.named_modules():
        if hasattr(module, "use_stored_u"):  # a spectrally normalised layer
            if name not in stored_u:
                raise DotcliError(f"{source} stores no power-iteration vector for {name} ({name.replace('.', '/')}/u); "
                                  "use model.sigma_source=exact")
            try:
                module.use_stored_u(stored_u[name])
            except ValueError as exc:
                raise DotcliError(f"{source}: {name.replace('.', '/')}/u does not fit its layer ({exc})") from exc


def _check_classes(state: dict[str, torch.Tensor], role: str, n_classes: int, source: str) -> None:
    key = "block2.b1.gammas.weight" if role == "G" else "l_y.weight"
    if key in state and state[key].dim() == 2 and state[key].shape[0] != n_classes:
        raise DotcliError(f"checkpoint {source} has {state[key].shape[0]} classes ({key}), but the model "
                          f"config says n_classes={n_classes}")
