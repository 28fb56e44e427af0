"""DINOv2 ViT-L/14 as a feature extractor, loaded from the official checkpoint file (no torch.hub).

``metrics.feature_extractor=dinov2-vit-l-14`` (FD_DINOv2, Stein et al., NeurIPS 2023). torch-fidelity 0.4.0
ships a DINOv2 extractor, but it always builds the network through ``torch.hub.load("facebookresearch/dinov2")``
(GitHub first, no local file accepted), so dotcli has its own network here that reads the state dict of the
official ``dinov2_vitl14_pretrain.pth`` (a plain state dict: loaded with ``weights_only=True``, no code runs)
and registers it with torch-fidelity as :data:`FIDELITY_NAME`. The torch-fidelity class it subclasses keeps
torch-fidelity's own ``forward``: TF1-compatible bilinear resize of the uint8 values to 224, ImageNet
mean/std normalisation, the network, the CLS token (the hub model's output). dgm-eval and EDM2 resize with PIL
bicubic instead; their FD_DINOv2 numbers therefore differ from these (docs/metrics/feature-spaces.md).

The network follows facebookresearch/dinov2 ``models/vision_transformer.py`` (``DinoVisionTransformer`` as
``hub/backbones.py`` builds ``dinov2_vitl14``: img_size 518, patch 14, LayerScale init 1.0, MLP FFN, no block
chunks, no registers, position embeddings interpolated bicubically with offset 0.1, no antialias), with the
same parameter names, so the official file loads strictly. Width, depth and patch size are read from the
state dict (heads = width / 64, as in every DINOv2 size); :data:`ARCHITECTURES` says what each name expects.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics.extractors import (
    FeatureExtractor,
    TorchFidelityExtractor,
    _version,
    register_feature_extractor,
    resolve_hub_weights,
)

NAME = "dinov2-vit-l-14"
FIDELITY_NAME = "dotcli-dinov2-vit-l-14"  # torch-fidelity's own "dinov2-vit-l-14" is its torch.hub extractor
URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
FILE = URL.rsplit("/", 1)[1]
#: what a name's file must hold: width (embed_dim), blocks (depth), patch size, pretraining grid (518 / 14)
ARCHITECTURES: dict[str, dict[str, int]] = {NAME: {"width": 1024, "depth": 24, "patch": 14, "grid": 37}}
HEAD_DIM = 64
LN_EPS = 1e-6  # partial(nn.LayerNorm, eps=1e-6) in DinoVisionTransformer
INTERPOLATE_OFFSET = 0.1
RESIZE = "torch-fidelity TF1-compatible bilinear to 224 (not dgm-eval's PIL bicubic)"


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (dinov2 ``layers/attention.py``)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).unbind(2)
        # softmax(q k^T / sqrt(d_head)) v per head (Vaswani et al. 2017, eq. 1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2ViT(nn.Module):
    """DINOv2's vision transformer; ``forward`` returns the CLS token after the final LayerNorm ``(n, width)``."""

    def __init__(self, width: int, depth: int, patch: int, grid: int) -> None:
        super().__init__()
        if width % HEAD_DIM:
            raise DotcliError(f"DINOv2 width {width} is not a multiple of the head size {HEAD_DIM}")
        self.patch = patch
        self.patch_embed = PatchEmbed(width, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, width))
        self.mask_token = nn.Parameter(torch.zeros(1, width))  # used only in training; in the file, so kept
        self.blocks = nn.ModuleList(Block(width, width // HEAD_DIM) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=LN_EPS)

    def interpolate_pos_encoding(self, n_patches: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        """The pretraining grid's position embeddings resized to the input's (DinoVisionTransformer's way)."""
        m = self.pos_embed.shape[1] - 1
        if n_patches == m and h == w:
            return self.pos_embed
        pos = self.pos_embed.float()
        side, dim = int(math.sqrt(m)), pos.shape[-1]
        h0, w0 = h // self.patch, w // self.patch
        # scale factor (not size) with the historical +0.1 offset: the operator uses both (dino issue 8)
        scale = ((h0 + INTERPOLATE_OFFSET) / side, (w0 + INTERPOLATE_OFFSET) / side)
        grid = F.interpolate(pos[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2), scale_factor=scale,
                             mode="bicubic", antialias=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([pos[:, :1], grid], dim=1).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.patch or w % self.patch:
            raise DotcliError(f"DINOv2 input {h}x{w} is not a multiple of the patch size {self.patch}")
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        tokens = tokens + self.interpolate_pos_encoding(tokens.shape[1] - 1, h, w, tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def architecture_of(state: dict[str, Any]) -> dict[str, int]:
    """Width, depth, patch size and pretraining grid read from a DINOv2 state dict (official key names)."""
    try:
        width = int(state["cls_token"].shape[-1])
        patch = int(state["patch_embed.proj.weight"].shape[-1])
        grid = math.isqrt(int(state["pos_embed"].shape[1]) - 1)
    except (KeyError, AttributeError, IndexError, TypeError) as exc:
        raise DotcliError(f"not a DINOv2 state dict (no {exc}); expected the official key layout "
                          "(cls_token, pos_embed, patch_embed.proj.weight, blocks.<i>...)") from None
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    return {"width": width, "depth": depth, "patch": patch, "grid": grid}


def load_dinov2(path: str | Path, name: str = NAME) -> DinoV2ViT:
    """The network of ``name`` over the state dict in ``path`` (checked: architecture, keys, shapes)."""
    from dotcli.models.loading import load_state_dict_checked, load_torch_weights

    state = load_torch_weights(path, f"the {name} weights file")
    if not isinstance(state, dict):
        raise DotcliError(f"{path} holds a {type(state).__name__}, not a DINOv2 state dict")
    arch, want = architecture_of(state), ARCHITECTURES[name]
    if arch != want:
        raise DotcliError(f"{path} holds a DINOv2 with {arch}, but {name} is {want}; pass {FILE} (from {URL})")
    net = DinoV2ViT(**arch)
    load_state_dict_checked(net, state, str(path))
    return net.eval().requires_grad_(False)


class LocalDinoV2(FeatureExtractorDinoV2):
    """torch-fidelity's DINOv2 extractor (its ``forward``: resize, normalise, CLS) over a local file."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs: Any) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)  # not DinoV2's __init__: it calls torch.hub
        if feature_extractor_weights_path is None:
            raise DotcliError(f"{name} needs feature_extractor_weights_path ({FILE}, from {URL})")
        self.feature_extractor_internal_dtype = torch.float32
        self.model = load_dinov2(feature_extractor_weights_path, NAME)
        self.requires_grad_(False)
        self.eval()


def register_with_torch_fidelity() -> None:
    """Make :data:`FIDELITY_NAME` known to torch-fidelity (its registry is process-global: once)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if FIDELITY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(FIDELITY_NAME, LocalDinoV2)


def resolve_weights(path: Any, allow_download: bool) -> Path:
    """The weights file (``metrics.feature_extractor_weights`` or the torch.hub cache, see ``resolve_hub_weights``).

    Meta publishes no checksum for it: its sha256 goes into every record and the reference-cache key instead.
    """
    return resolve_hub_weights(path, name=NAME, filename=FILE, url=URL, allow_download=allow_download)


def make_dinov2(*, device: torch.device, extractor_weights: Any = None, allow_download: bool = True,
                **_: Any) -> FeatureExtractor:
    """``metrics.feature_extractor=dinov2-vit-l-14`` over ``metrics.feature_extractor_weights`` (or the cache)."""
    from torch_fidelity.utils import create_feature_extractor

    path = resolve_weights(extractor_weights, allow_download)
    register_with_torch_fidelity()
    module = create_feature_extractor(FIDELITY_NAME, ["dinov2"], cuda=False, verbose=False,
                                      feature_extractor_weights_path=str(path))
    arch = ARCHITECTURES[NAME]
    identity = {"name": NAME, "torch_fidelity": _version("torch-fidelity"), "weights_file": path.name,
                "weights_sha256": sha256_of(path), "pool": f"CLS token after the final LayerNorm ({arch['width']})",
                "logits": None, "resize": RESIZE, "normalise": "ImageNet mean/std"}
    return TorchFidelityExtractor(module, "dinov2", None, identity, device, resize=RESIZE)


register_feature_extractor(NAME, make_dinov2, replace=True)
