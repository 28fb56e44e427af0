"""Turning weight files into state dicts, with errors that say exactly what does not fit."""

from __future__ import annotations

import io
import math
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


# Weights files are untrusted: what a file declares (an .npz member's .npy header, a zip member's uncompressed
# size) is checked before anything is decompressed or allocated. No weights file dotcli knows of comes near
# this total (the largest, the ImageNet SNGAN projection pair, is under 400 MB per network).
MAX_WEIGHTS_BYTES = 2 << 30
# Trained float weights do not compress: a file that declares more than this many times its size on disk,
# beyond BOMB_FLOOR_BYTES, is a decompression bomb, refused whatever the cap.
BOMB_RATIO = 16
BOMB_FLOOR_BYTES = 64 << 20


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 28 else f"{n / (1 << 20):.1f} MiB"


def state_bytes(*modules: nn.Module) -> int:
    """The bytes of the parameters and buffers of ``modules``: what their weights file should hold."""
    return sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())


def expected_cap(*modules: nn.Module) -> int:
    """The most a weights file for ``modules`` may declare: twice their own size, plus 1 MiB for bookkeeping
    arrays (Chainer's BN counts and SN vectors), never above :data:`MAX_WEIGHTS_BYTES`."""
    return min(MAX_WEIGHTS_BYTES, 2 * state_bytes(*modules) + (1 << 20))


def check_declared_size(path: Path, declared: int, largest: tuple[str, int], max_bytes: int | None) -> None:
    """Refuse ``path`` when what it declares (``declared`` bytes in all, ``largest`` = (member, bytes)) is more
    than ``max_bytes`` (default :data:`MAX_WEIGHTS_BYTES`) or is a decompression bomb; reads nothing."""
    cap = MAX_WEIGHTS_BYTES if max_bytes is None else max_bytes
    on_disk = path.stat().st_size
    if declared > BOMB_FLOOR_BYTES and declared > BOMB_RATIO * on_disk:
        raise DotcliError(f"{path} is refused: it declares {_gib(declared)} of arrays ({largest[0]!r}: "
                          f"{_gib(largest[1])}) in {_gib(on_disk)} on disk, more than {BOMB_RATIO}x, which trained "
                          "weights never compress to (a decompression bomb?); nothing was decompressed")
    if declared > cap:
        raise DotcliError(f"{path} is refused: it declares {_gib(declared)} of arrays ({largest[0]!r}: "
                          f"{_gib(largest[1])}), more than the {_gib(cap)} this model's weights can take; "
                          "nothing was loaded (a wrong or crafted file?)")


def _npy_declared(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, bool]:
    """(bytes, holds objects) that the .npy member ``info`` declares in its header, reading only the header
    (the first few KB of the member: nothing else is decompressed)."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version} in member {info.filename!r}")
        shape, _, dtype = read_header(f, max_header_size=1 << 16)
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"member {info.filename!r} declares shape {shape}")
    return math.prod(shape) * dtype.itemsize, dtype.hasobject


def read_chainer_npz(path: str | Path, keep_u: bool = False, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Read a Chainer ``serializers.save_npz`` file into a torch-named state dict.

    ``l0/W`` becomes ``l0.weight``, ``bn0/avg_mean`` becomes ``bn0.running_mean``; Chainer's
    Linear/Convolution/Deconvolution weights already have torch's layout. No Chainer needed.
    ``keep_u``: keep SN links' power-iteration vectors as ``<link>.u`` (for ``sigma_source: stored``).
    Numeric arrays only: an array of pickled objects is refused (unpickling it could run code).
    Before any array is read, every member's declared size (zip directory and .npy header) is checked
    against ``max_bytes`` (the model's :func:`expected_cap`; default :data:`MAX_WEIGHTS_BYTES`).
    """
    if not zipfile.is_zipfile(path):
        what = "does not exist" if not Path(path).is_file() else "is not an .npz file (not a zip archive)"
        raise DotcliError(f"cannot read Chainer npz {path}: it {what}")
    path = Path(path)
    out: dict[str, torch.Tensor] = {}
    key = ""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            declared = {i.filename: i.file_size for i in members}  # the zip's own claim, checked first
            check_declared_size(path, sum(declared.values()), max(declared.items(), key=lambda kv: kv[1],
                                                                    default=("", 0)), max_bytes)
            for info in members:
                if info.filename.endswith(".npy"):
                    key = info.filename[:-len(".npy")]
                    nbytes, objects = _npy_declared(zf, info)
                    if objects:
                        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
                    declared[info.filename] = max(declared[info.filename], nbytes)
            check_declared_size(path, sum(declared.values()), max(declared.items(), key=lambda kv: kv[1]),
                                max_bytes)
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


def _check_torch_file_size(path: Path, max_bytes: int | None) -> None:
    """The declared size of a ``torch.save`` file, read from its zip directory (nothing is decompressed);
    a legacy (non-zip) file holds its storages raw, so its size on disk is what loading it takes."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            declared = {i.filename: i.file_size for i in zf.infolist()}
    else:
        declared = {path.name: path.stat().st_size}
    check_declared_size(path, sum(declared.values()), max(declared.items(), key=lambda kv: kv[1], default=("", 0)),
                        max_bytes)


def load_torch_weights(path: str | Path, what: str = "torch checkpoint", max_bytes: int | None = None) -> Any:
    """``torch.load`` on the CPU with ``weights_only=True``: tensors and plain containers, never code.

    A refused or unreadable file is one DotcliError naming the file and the real cause. The file's declared
    size is checked against ``max_bytes`` (default :data:`MAX_WEIGHTS_BYTES`) before torch reads it.
    """
    path = Path(path)
    if not path.is_file():
        raise DotcliError(f"cannot read {what} {path}: it does not exist")
    try:
        _check_torch_file_size(path, max_bytes)
    except OSError as exc:
        raise DotcliError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DotcliError(f"cannot read {what} {path}: {exc} (corrupted file)") from None
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
