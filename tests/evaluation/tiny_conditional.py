"""A tiny class-conditional G/D pair for ``model=custom`` (32px RGB, 10 classes): G(z, y), D(x, y)."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """z (8-d) plus a class embedding -> 3x32x32 in (-1, 1); each class has its own mean colour."""

    def __init__(self, z_dim: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_classes, 3)
        self.fc = nn.Linear(z_dim, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, 3, 8, 8) + 2.0 * self.embed(y)[:, :, None, None]
        return torch.tanh(nn.functional.interpolate(x, scale_factor=4, mode="nearest"))


class Discriminator(nn.Module):
    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 1)
        self.embed = nn.Embedding(n_classes, 3 * 32 * 32)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return self.fc(flat).squeeze(1) + (self.embed(y) * flat).sum(1) * 1e-3


def write_checkpoint(path, seed: int = 0):
    torch.manual_seed(seed)
    torch.save({"G": Generator().state_dict(), "D": Discriminator().state_dict()}, path)
    return path


def custom_args(ckpt) -> list[str]:
    """dot-run overrides for this pair."""
    return ["model=custom", "model.G._target_=tests.evaluation.tiny_conditional.Generator", "+model.G.z_dim=8",
            "model.D._target_=tests.evaluation.tiny_conditional.Discriminator", f"model.checkpoint={ckpt}",
            "model.z_dim=8", "model.n_classes=10", "model.d_output=critic"]
