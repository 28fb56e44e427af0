"""The 2-D MLPs of the DOT paper (official ``model.py``: Generator / Discriminator for 2-D)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import resolve_checkpoint
from dotcli.models.loading import expected_cap, load_state_dict_checked, load_torch_weights, read_chainer_npz
from dotcli.models.pair import ModelPair

LEAK = 0.2  # Chainer's leaky_relu default slope


class ToyGenerator(nn.Module):
    """Linear 2-256-256-256-2, leaky ReLU 0.2 after the first three, identity output (keys l0, l1, l2, l4)."""

    def __init__(self, z_dim: int = 2, hidden: int = 256) -> None:
        super().__init__()
        self.l0 = nn.Linear(z_dim, hidden)
        self.l1 = nn.Linear(hidden, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l4 = nn.Linear(hidden, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.l0(z), LEAK)
        h = F.leaky_relu(self.l1(h), LEAK)
        h = F.leaky_relu(self.l2(h), LEAK)
        return self.l4(h)


class ToyDiscriminator(nn.Module):
    """Linear 2-512-512-512-1, leaky ReLU 0.2, identity output (keys l1..l4)."""

    def __init__(self, hidden: int = 512) -> None:
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, hidden)
        self.l4 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.l1(x), LEAK)
        h = F.leaky_relu(self.l2(h), LEAK)
        h = F.leaky_relu(self.l3(h), LEAK)
        return self.l4(h)


def _files_for(model_cfg: Any, dataset: str) -> Any:
    files = model_cfg.files
    if dataset not in files:
        raise DotcliError(f"model {model_cfg.name!r} has no checkpoint for dataset {dataset!r}; "
                          f"it has: {', '.join(files)}")
    return files[dataset]


def _pair(G: nn.Module, D: nn.Module, name: str) -> ModelPair:
    return ModelPair(G=G, D=D, z_dim=2, prior="uniform", d_output="critic",
                     sample_range=(-2.0, 2.0), name=name)


def load_chainer_toy_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """The author's 2-D WGAN-GP checkpoints (Chainer .npz), file chosen by dataset."""
    files = _files_for(model_cfg, dataset)
    G, D = ToyGenerator(), ToyDiscriminator()
    for net, spec in ((G, files.G), (D, files.D)):
        path = resolve_checkpoint(spec, paths)
        load_state_dict_checked(net, read_chainer_npz(path, max_bytes=expected_cap(net)), str(path))
    return _pair(G, D, model_cfg.name)


def load_torch_toy_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """A toy pair saved by ``scripts/train_toy_gan.py``: ``{"G": state, "D": state, "recipe": ...}``."""
    spec = _files_for(model_cfg, dataset)
    path = resolve_checkpoint(spec, paths)
    blob = load_torch_checkpoint(path)
    recipe = blob.get("recipe", {})
    G = ToyGenerator(hidden=recipe.get("g_hidden", 256))
    D = ToyDiscriminator(hidden=recipe.get("d_hidden", 512))
    for key, net in (("G", G), ("D", D)):
        if key not in blob:
            raise DotcliError(f"checkpoint {path} has no {key!r} entry; expected keys 'G' and 'D'")
        load_state_dict_checked(net, blob[key], f"{path}[{key}]")
    return _pair(G, D, model_cfg.name)


def load_torch_checkpoint(path: str | Path, max_bytes: int | None = None) -> dict[str, Any]:
    """``torch.load`` on CPU with weights only, turning failures into one clear line; the file may declare at
    most ``max_bytes`` (default: :data:`dotcli.models.loading.MAX_WEIGHTS_BYTES`)."""
    blob = load_torch_weights(path, max_bytes=max_bytes)
    if not isinstance(blob, dict):
        raise DotcliError(f"checkpoint {path} holds a {type(blob).__name__}, expected a dict")
    return blob
