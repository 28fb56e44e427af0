"""Turning weight files into state dicts, with errors that say exactly what does not fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dotcli import DotcliError

# Chainer parameter names -> torch names (Linear, Convolution2D, Deconvolution2D, BatchNormalization).
CHAINER_PARAM_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
                       "avg_mean": "running_mean", "avg_var": "running_var"}
# Chainer bookkeeping that has no torch counterpart (BN's update count, SN's power-iteration vector).
CHAINER_SKIPPED = {"N", "u"}


def read_chainer_npz(path: str | Path, keep_u: bool = False) -> dict[str, torch.Tensor]:
    """Read a Chainer ``serializers.save_npz`` file into a torch-named state dict.

    ``l0/W`` becomes ``l0.weight``, ``bn0/avg_mean`` becomes ``bn0.running_mean``; Chainer's
    Linear/Convolution/Deconvolution weights already have torch's layout. No Chainer needed.
    ``keep_u``: keep SN links' power-iteration vectors as ``<link>.u`` (for ``sigma_source: stored``).
    """
    try:
        arrays = np.load(path)
    except Exception as exc:  # numpy raises several types for a bad file
        raise DotcliError(f"cannot read Chainer npz {path}: {exc}") from exc
    out: dict[str, torch.Tensor] = {}
    for key in arrays.files:
        *prefix, leaf = key.split("/")
        if leaf in CHAINER_SKIPPED and not (keep_u and leaf == "u"):
            continue
        name = ".".join([*[p for p in prefix if p], CHAINER_PARAM_NAMES.get(leaf, leaf)])
        out[name] = torch.from_numpy(np.array(arrays[key]))
    return out


def load_state_dict_checked(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict`` that fails with the missing/unexpected keys and shape mismatches."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches {_short(mismatched)}")
        raise DotcliError(f"weights in {source} do not fit {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _short(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"


def cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg[key]`` for a DictConfig, dict or object, ``default`` when absent or null."""
    if cfg is None:
        return default
    value = cfg.get(key, None) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return default if value is None else value


def files_entry(model_cfg: Any, dataset: str) -> Any:
    """``model.files.<dataset>``, or a DotcliError naming the datasets the model has files for."""
    files = cfg_get(model_cfg, "files", {})
    if dataset not in files:
        raise DotcliError(f"model {cfg_get(model_cfg, 'name', '?')!r} has no checkpoint for dataset "
                          f"{dataset!r}; it has: {', '.join(files) or 'none'}")
    return files[dataset]
