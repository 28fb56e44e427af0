"""BigGAN generator and projection discriminator with PyTorch-StudioGAN's key layout (``big_resnet``).

Architecture: Brock, Donahue & Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis" (ICLR 2019), Sec. 3 and Appendix B (Fig. 15, Tables 4-5): the latent z is split into one chunk
per resolution (the first chunk feeds the linear layer, each later chunk is concatenated with a shared class
embedding and conditions one residual block through conditional batch norm), self-attention (SAGAN) at one
resolution, spectral norm in G and D, a projection discriminator (Miyato & Koyama 2018, Eq. 3) with global
sum pooling. The block structure, channel tables and parameter names follow PyTorch-StudioGAN
(POSTECH-CVLab, ``src/models/big_resnet.py`` and ``src/utils/ops.py`` @ 947b35e), so its
``state_dict`` files load without renaming. This is dotcli's own code written from those facts.

StudioGAN details kept on purpose (they change the numbers):
- cBN (``ops.ConditionalBatchNorm2d``): ``BN(x; eps 1e-4, no affine) * (1 + W_g a) + W_b a`` with
  spectrally normalised bias-free linear maps of the affine input ``a = [shared(y), z_chunk]``.
- Self-attention (``ops.SelfAttention``): theta, phi (C -> C/8), g (C -> C/2) and the output conv
  (C/2 -> C) are bias-free SN 1x1 convs; phi and g are 2x2 max-pooled; ``x + sigma * o``.
- In D blocks without batch norm (every SN discriminator), StudioGAN's in-place ReLU also overwrites the
  block input that the shortcut reads: the shortcut path sees ``relu(x)``, not ``x``. Reproduced here.
- Spectral norm with the stored ``weight_u`` / ``weight_v`` (torch's eval-mode ``sigma = u^T W v``, no
  power iteration), or the exact top singular value (``sigma_source: exact``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dotcli.models.layers import TorchSNConv2d, TorchSNEmbedding, TorchSNLinear

BN_EPS = 1e-4  # ops.batchnorm_2d default (StudioGAN), used by cBN and the final BN

# image size -> per-block (in, out) channel multipliers of the base width (StudioGAN big_resnet tables)
G_IN = {32: (4, 4, 4), 64: (16, 8, 4, 2), 128: (16, 16, 8, 4, 2), 256: (16, 16, 8, 8, 4, 2)}
G_OUT = {32: (4, 4, 4), 64: (8, 4, 2, 1), 128: (16, 8, 4, 2, 1), 256: (16, 8, 8, 4, 2, 1)}
D_IN = {32: (0, 2, 2, 2), 64: (0, 1, 2, 4, 8), 128: (0, 1, 2, 4, 8, 16), 256: (0, 1, 2, 4, 8, 8, 16)}
D_OUT = {32: (2, 2, 2, 2), 64: (1, 2, 4, 8, 16), 128: (1, 2, 4, 8, 16, 16), 256: (1, 2, 4, 8, 8, 16, 16)}
D_DOWN = {32: (True, True, False, False), 64: (True, True, True, True, False),
          128: (True, True, True, True, True, False), 256: (True, True, True, True, True, True, False)}
IMAGE_SIZES = tuple(G_IN)
BOTTOM = 4  # the generator starts at 4x4 for every size


class ConditionalBatchNorm(nn.Module):
    """BigGAN cBN: ``BN(x) * (1 + gain(a)) + bias(a)``; keys ``bn.*``, ``gain.*``, ``bias.*``."""

    def __init__(self, affine_dim: int, channels: int, sigma_source: str) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.1, affine=False)
        self.gain = TorchSNLinear(affine_dim, channels, bias=False, sigma_source=sigma_source)
        self.bias = TorchSNLinear(affine_dim, channels, bias=False, sigma_source=sigma_source)

    def forward(self, x: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
        shape = (affine.shape[0], -1, 1, 1)
        return self.bn(x) * (1 + self.gain(affine)).view(shape) + self.bias(affine).view(shape)


class SelfAttention(nn.Module):
    """SAGAN self-attention in BigGAN's form (Zhang et al. 2019, Sec. 3; BigGAN's pooled phi/g)."""

    def __init__(self, channels: int, sigma_source: str) -> None:
        super().__init__()
        conv = lambda cin, cout: TorchSNConv2d(cin, cout, 1, bias=False, sigma_source=sigma_source)  # noqa: E731
        self.conv1x1_theta = conv(channels, channels // 8)
        self.conv1x1_phi = conv(channels, channels // 8)
        self.conv1x1_g = conv(channels, channels // 2)
        self.conv1x1_attn = conv(channels // 2, channels)
        self.sigma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        theta = self.conv1x1_theta(x).view(n, c // 8, h * w)
        phi = F.max_pool2d(self.conv1x1_phi(x), 2).view(n, c // 8, h * w // 4)
        attn = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)   # (n, hw, hw/4)
        g = F.max_pool2d(self.conv1x1_g(x), 2).view(n, c // 2, h * w // 4)
        o = torch.bmm(g, attn.transpose(1, 2)).view(n, c // 2, h, w)
        return x + self.sigma * self.conv1x1_attn(o)


class GenBlock(nn.Module):
    """Up block: cBN, ReLU, nearest 2x, conv3x3, cBN, ReLU, conv3x3; shortcut nearest 2x + conv1x1."""

    def __init__(self, cin: int, cout: int, affine_dim: int, sigma_source: str) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm(affine_dim, cin, sigma_source)
        self.bn2 = ConditionalBatchNorm(affine_dim, cout, sigma_source)
        self.conv2d0 = TorchSNConv2d(cin, cout, 1, sigma_source=sigma_source)
        self.conv2d1 = TorchSNConv2d(cin, cout, 3, padding=1, sigma_source=sigma_source)
        self.conv2d2 = TorchSNConv2d(cout, cout, 3, padding=1, sigma_source=sigma_source)

    def forward(self, x: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, affine)), scale_factor=2, mode="nearest")
        h = self.conv2d2(F.relu(self.bn2(self.conv2d1(h), affine)))
        return h + self.conv2d0(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(nn.Module):
    """``G(z, y)``: z of ``z_dim`` = (blocks + 1) chunks; keys ``linear0``, ``shared``, ``blocks.i.0``, ``bn4``,
    ``conv2d5``. ``conditional=False`` (StudioGAN ``g_cond_mtd: W/O``): no shared embedding, cBN on z chunks."""

    def __init__(self, img_size: int = 32, z_dim: int = 80, shared_dim: int = 128, conv_dim: int = 96,
                 n_classes: int = 10, attn_loc: tuple[int, ...] = (2,), conditional: bool = True,
                 sigma_source: str = "stored") -> None:
        super().__init__()
        if img_size not in G_IN:
            raise ValueError(f"BigGAN image size {img_size} is not one of {IMAGE_SIZES}")
        ins = [m * conv_dim for m in G_IN[img_size]]
        outs = [m * conv_dim for m in G_OUT[img_size]]
        n_blocks = len(ins)
        if z_dim % (n_blocks + 1):
            raise ValueError(f"z_dim {z_dim} does not split into {n_blocks + 1} equal chunks")
        self.z_dim, self.chunk, self.conditional = z_dim, z_dim // (n_blocks + 1), conditional
        self.first_channels = ins[0]
        affine_dim = self.chunk + (shared_dim if conditional else 0)
        self.linear0 = TorchSNLinear(self.chunk, ins[0] * BOTTOM * BOTTOM, sigma_source=sigma_source)
        if conditional:
            self.shared = nn.Embedding(n_classes, shared_dim)
        blocks: list[nn.Module] = []
        for i in range(n_blocks):
            blocks.append(nn.ModuleList([GenBlock(ins[i], outs[i], affine_dim, sigma_source)]))
            if i + 1 in attn_loc:  # attention after block i+1 (StudioGAN attn_g_loc, 1-based)
                blocks.append(nn.ModuleList([SelfAttention(outs[i], sigma_source)]))
        self.blocks = nn.ModuleList(blocks)
        self.bn4 = nn.BatchNorm2d(outs[-1], eps=BN_EPS, momentum=0.1)
        self.conv2d5 = TorchSNConv2d(outs[-1], 3, 3, padding=1, sigma_source=sigma_source)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        chunks = torch.split(z, self.chunk, dim=1)
        if self.conditional:
            if y is None:
                raise ValueError("this BigGAN generator is class-conditional: pass labels y")
            shared = self.shared(y)
            affines = [torch.cat([shared, c], dim=1) for c in chunks[1:]]  # BigGAN: [shared(y), z_i]
        else:
            affines = list(chunks[1:])
        h = self.linear0(chunks[0]).view(-1, self.first_channels, BOTTOM, BOTTOM)
        used = 0
        for (block,) in self.blocks:
            if isinstance(block, SelfAttention):
                h = block(h)
            else:
                h = block(h, affines[used])
                used += 1
        return torch.tanh(self.conv2d5(F.relu(self.bn4(h))))


class DiscOptBlock(nn.Module):
    """First D block: conv3x3, ReLU, conv3x3, avg-pool; shortcut avg-pool then conv1x1."""

    def __init__(self, cin: int, cout: int, sigma_source: str) -> None:
        super().__init__()
        self.conv2d0 = TorchSNConv2d(cin, cout, 1, sigma_source=sigma_source)
        self.conv2d1 = TorchSNConv2d(cin, cout, 3, padding=1, sigma_source=sigma_source)
        self.conv2d2 = TorchSNConv2d(cout, cout, 3, padding=1, sigma_source=sigma_source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2d2(F.relu(self.conv2d1(x))), 2)
        return h + self.conv2d0(F.avg_pool2d(x, 2))


class DiscBlock(nn.Module):
    """Pre-activation D block; the shortcut reads ``relu(x)`` (StudioGAN's in-place ReLU, module docstring)."""

    def __init__(self, cin: int, cout: int, downsample: bool, sigma_source: str) -> None:
        super().__init__()
        self.downsample = downsample
        self.learnable_sc = downsample or cin != cout
        if self.learnable_sc:
            self.conv2d0 = TorchSNConv2d(cin, cout, 1, sigma_source=sigma_source)
        self.conv2d1 = TorchSNConv2d(cin, cout, 3, padding=1, sigma_source=sigma_source)
        self.conv2d2 = TorchSNConv2d(cout, cout, 3, padding=1, sigma_source=sigma_source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)  # shared by both paths, as the in-place activation leaves it
        h = self.conv2d2(F.relu(self.conv2d1(x)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.learnable_sc:
            sc = self.conv2d0(sc)
            if self.downsample:
                sc = F.avg_pool2d(sc, 2)
        return h + sc


class BigGANDiscriminator(nn.Module):
    """``D(x, y)`` = ``linear1(h) + <embedding(y), h>``, h = sum-pooled ReLU features (projection, Eq. 3 of
    Miyato & Koyama 2018); ``conditional=False`` (``d_cond_mtd: W/O``) drops the projection term."""

    def __init__(self, img_size: int = 32, conv_dim: int = 96, n_classes: int = 10, attn_loc: tuple[int, ...] = (1,),
                 conditional: bool = True, sigma_source: str = "stored") -> None:
        super().__init__()
        if img_size not in D_IN:
            raise ValueError(f"BigGAN image size {img_size} is not one of {IMAGE_SIZES}")
        ins = [m * conv_dim if m else 3 for m in D_IN[img_size]]
        outs = [m * conv_dim for m in D_OUT[img_size]]
        blocks: list[nn.Module] = []
        for i, (cin, cout, down) in enumerate(zip(ins, outs, D_DOWN[img_size], strict=True)):
            block = DiscOptBlock(cin, cout, sigma_source) if i == 0 else DiscBlock(cin, cout, down, sigma_source)
            blocks.append(nn.ModuleList([block]))
            if i + 1 in attn_loc:
                blocks.append(nn.ModuleList([SelfAttention(cout, sigma_source)]))
        self.blocks = nn.ModuleList(blocks)
        self.conditional = conditional
        self.linear1 = TorchSNLinear(outs[-1], 1, sigma_source=sigma_source)
        if conditional:
            self.embedding = TorchSNEmbedding(n_classes, outs[-1], sigma_source=sigma_source)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for (block,) in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.linear1(h).reshape(-1)
        if self.conditional:
            if y is None:
                raise ValueError("this BigGAN discriminator is class-conditional: pass labels y")
            out = out + (self.embedding(y) * h).sum(dim=1)
        return out
