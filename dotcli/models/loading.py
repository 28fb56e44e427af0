"""Turning weight files into state dicts, with errors that say exactly what does not fit."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
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
    Numeric arrays only: an array of pickled objects is refused (unpickling it could run code).
    """
    if not zipfile.is_zipfile(path):
        what = "does not exist" if not Path(path).is_file() else "is not an .npz file (not a zip archive)"
        raise DotcliError(f"cannot read Chainer npz {path}: it {what}")
    out: dict[str, torch.Tensor] = {}
    key = ""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            for key in arrays.files:
                *prefix, leaf = key.split("/")
                if leaf in CHAINER_SKIPPED and not (keep_u and leaf == "u"):
                    continue
                name = ".".join([*[p for p in prefix if p], CHAINER_PARAM_NAMES.get(leaf, leaf)])
                out[name] = torch.from_numpy(np.array(arrays[key]))
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DotcliError(f"{path} holds pickled Python objects (array {key!r}) and is refused: a weights file "
                              "holds numeric arrays only, and unpickling could run code") from None
        raise DotcliError(f"cannot read Chainer npz {path}: {exc} (corrupted file: download it again)") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DotcliError(f"cannot read Chainer npz {path}: {exc} (corrupted file: download it again)") from exc
    return out


# Pickle opcodes that name a global (module attribute) the unpickler would import and call.
_GLOBAL_OPS = ("GLOBAL", "INST")
_STRING_OPS = ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING")


def _pickle_globals(path: Path, limit: int = 1 << 26) -> list[str]:
    """The globals (``module.name``) the pickle at the start of ``path`` references, read without executing it."""
    import pickletools

    names, strings = [], []
    try:
        with open(path, "rb") as f:
            for op, arg, _ in pickletools.genops(io.BytesIO(f.read(limit))):
                if op.name in _STRING_OPS:
                    strings.append(str(arg))
                elif op.name in _GLOBAL_OPS:
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # a truncated or odd pickle: what was read so far
        pass
    return names


_RUNS_CODE = "loading the file would run code; use a file that holds only tensors in dicts"


def _load_failure(path: Path, exc: Exception) -> str:
    """The real reason ``torch.load(weights_only=True)`` refused ``path`` (never torch's advice to turn it off)."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"dotcli refuses to unpickle {found.group(1)} ({_RUNS_CODE})"
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if len(head) < 2 or head[0] != 0x80:
            return "not a torch checkpoint (neither torch's zip format nor a pickle)"
        foreign = [g for g in _pickle_globals(path) if not g.startswith(("torch.", "collections.", "_codecs."))]
        if foreign:
            return f"dotcli refuses to unpickle {foreign[0]} ({_RUNS_CODE})"
    detail = text.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0]
    lines = [ln.strip() for ln in detail.splitlines()
             if ln.strip() and "weights_only" not in ln and "Please file an issue" not in ln]
    return lines[0] if lines else type(exc).__name__


def load_torch_weights(path: str | Path, what: str = "torch checkpoint") -> Any:
    """``torch.load`` on the CPU with ``weights_only=True``: tensors and plain containers, never code.

    A refused or unreadable file is one DotcliError naming the file and the real cause.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not path.is_file():
            raise DotcliError(f"cannot read {what} {path}: it does not exist") from exc
        raise DotcliError(f"cannot read {what} {path}: {_load_failure(path, exc)}") from None


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
