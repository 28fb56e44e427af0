"""Reading NVIDIA "persistence" network pickles (stylegan2-ada-pytorch) without running anything from them.

Security code: keep it small. A network pickle is a plain pickle of
``dict(G, D, G_ema, augment_pipe, training_set_kwargs)``; each network is
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` holds the defining module's
whole source (``module_src``), which the stock reader ``exec``s. Here:

* only the globals in :data:`ALLOWED` below can be named by the file; each maps to a function of ours that
  builds plain data (no class or function from the file's modules is imported);
* a persistent object becomes an inert :class:`PersistentObject` (class name, state, source kept as text);
* tensor storages are ``torch.storage._load_from_bytes(bytes)``, which upstream is an unrestricted
  ``torch.load``: :func:`read_legacy_storage` parses that legacy ``torch.save`` stream itself, accepting
  only storage-type globals;
* anything else is refused in one line naming the global the file asked for.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dotcli import DotcliError

# ---- the allow-list: every global such a file may name, and what stands in for it --------------------------


def _persistent(meta: dict) -> PersistentObject:
    return PersistentObject.from_meta(meta)


def _rebuild_tensor_v2(storage: torch.Tensor, offset: int, size: tuple, stride: tuple,
                       requires_grad: bool = False, backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise DotcliError("a tensor in the file is not built on a storage")
    try:  # as_strided checks the view fits inside the storage
        return torch.as_strided(storage, tuple(size), tuple(stride), int(offset)).clone()
    except RuntimeError as exc:
        raise DotcliError(f"a tensor in the file does not fit its storage ({exc})") from None


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, backward_hooks: Any = None) -> torch.Tensor:
    return data


_NUMERIC_DTYPE_KINDS = "biuf"  # bool, signed/unsigned int, float: nothing that holds objects


def _numpy_dtype(name: str, align: bool = False, copy: bool = False) -> np.dtype:
    dtype = np.dtype(str(name))
    if dtype.kind not in _NUMERIC_DTYPE_KINDS:
        raise DotcliError(f"the file asks for numpy dtype {name!r}; only numeric dtypes are accepted")
    return dtype


def _numpy_scalar(dtype: np.dtype, data: bytes) -> int | float | bool:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_DTYPE_KINDS or len(data) != dtype.itemsize:
        raise DotcliError("a numpy scalar in the file is not a numeric value")
    return np.frombuffer(data, dtype=dtype)[0].item()


def _load_from_bytes(data: bytes) -> torch.Tensor:
    return read_legacy_storage(data)


ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("dnnlib.util", "EasyDict"): dict,  # an attribute-access dict: a plain dict here
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # the same, pickled under numpy 2
}

#: storage classes the legacy storage stream may name -> element dtype
STORAGE_TYPES = {f"{n}Storage": getattr(torch, d) for n, d in (
    ("Float", "float32"), ("Double", "float64"), ("Half", "float16"), ("BFloat16", "bfloat16"),
    ("Long", "int64"), ("Int", "int32"), ("Short", "int16"), ("Char", "int8"), ("Byte", "uint8"),
    ("Bool", "bool"))}

# Globals that tell what a refused file is, for the one-line error.
_KNOWN_FOREIGN = {
    "dnnlib.tflib.network": "a TensorFlow-era StyleGAN/StyleGAN2 pickle (convert it to a stylegan2-ada-pytorch "
                            "pickle with that repository's legacy.py, on a machine you trust)",
    "numpy.core.multiarray._reconstruct": "numpy arrays, as StyleGAN3 networks hold (dotcli reads StyleGAN2-ADA "
                                          "networks only)",
    "numpy._core.multiarray._reconstruct": "numpy arrays, as StyleGAN3 networks hold (dotcli reads StyleGAN2-ADA "
                                           "networks only)",
}

PERSISTENCE_VERSION = 6  # torch_utils/persistence.py _version


@dataclass
class PersistentObject:
    """An NVIDIA persistent network, inert: its class name, its ``__dict__`` and its module source as text."""

    class_name: str
    state: dict[str, Any]
    module_src_sha256: str
    module_src: str = field(repr=False)

    @classmethod
    def from_meta(cls, meta: Any) -> PersistentObject:
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
            raise DotcliError("a persistent object in the file is not a pickled class instance")
        if meta.get("version") != PERSISTENCE_VERSION:
            raise DotcliError(f"persistence version {meta.get('version')!r} in the file, expected "
                              f"{PERSISTENCE_VERSION} (stylegan2-ada-pytorch)")
        src = meta.get("module_src")
        if not isinstance(src, str):
            raise DotcliError("a persistent object in the file has no module source text")
        return cls(class_name=str(meta.get("class_name")), state=meta["state"],
                   module_src_sha256=hashlib.sha256(src.encode("utf-8")).hexdigest(), module_src=src)


def _refusal(module: str, name: str) -> DotcliError:
    qual = f"{module}.{name}"
    what = next((v for k, v in _KNOWN_FOREIGN.items() if qual.startswith(k)), None)
    tail = f": {what}" if what else " (not one of the globals NVIDIA network pickles use; loading it could run code)"
    return DotcliError(f"refused: the file asks for {qual}{tail}")


class _NetworkUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _refusal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DotcliError("refused: the file uses persistent ids at top level (not an NVIDIA network pickle)")


# ---- the legacy (non-zip) torch.save stream of one storage -------------------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class _StorageStreamUnpickler(pickle.Unpickler):
    """The pickles inside a legacy storage stream: only ``torch.<X>Storage`` globals, storage persistent ids."""

    def __init__(self, f: io.BytesIO) -> None:
        super().__init__(f)
        self.storages: dict[str, tuple[torch.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        raise _refusal(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], torch.dtype) and isinstance(pid[4], int) and pid[5] is None):
            raise DotcliError(f"refused: a storage record in the file is not a plain storage ({str(pid)[:80]})")
        _, dtype, key, _location, numel, _ = pid  # location may say cuda:0: read onto the CPU all the same
        self.storages[str(key)] = (dtype, numel)
        return str(key)


def read_legacy_storage(data: bytes) -> torch.Tensor:
    """One storage saved by ``torch.save(storage, _use_new_zipfile_serialization=False)``, as a 1-D CPU tensor.

    Layout: pickled magic number, protocol 1001, sys info; a pickle whose persistent id is
    ``('storage', torch.XStorage, key, location, numel, None)``; the pickled list of keys; then per key an
    int64 element count and the raw little-endian data.
    """
    if not isinstance(data, bytes | bytearray):
        raise DotcliError("a storage in the file is not a byte string")
    f = io.BytesIO(data)
    try:
        reader = _StorageStreamUnpickler(f)
        if reader.load() != LEGACY_MAGIC or reader.load() != LEGACY_PROTOCOL:
            raise DotcliError("a storage in the file is not a legacy torch.save stream (bad magic number)")
        info = reader.load()
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise DotcliError("a storage in the file is not little-endian")
        key = reader.load()
        keys = reader.load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise DotcliError(f"a storage in the file is corrupted ({exc})") from None
    if not isinstance(key, str) or keys != [key] or key not in reader.storages:
        raise DotcliError("a storage in the file does not hold exactly one storage")
    dtype, numel = reader.storages[key]
    elsize = torch.empty((), dtype=dtype).element_size()
    count = int.from_bytes(f.read(8), "little", signed=True)
    raw = f.read()
    if count != numel or count < 0 or len(raw) != count * elsize:
        raise DotcliError(f"a storage in the file is truncated or inconsistent ({count} elements announced, "
                          f"{numel} expected, {len(raw)} bytes present)")
    return torch.frombuffer(bytearray(raw), dtype=dtype) if count else torch.empty(0, dtype=dtype)


# ---- the file ------------------------------------------------------------------------------------------------

NETWORK_KEYS = ("G", "D", "G_ema")


def read_network_pickle(path: str | Path) -> dict[str, Any]:
    """The dict a stylegan2-ada-pytorch snapshot holds; networks as :class:`PersistentObject`. Runs nothing.

    Raises DotcliError (one line) for anything that is not such a file: a refused global, random bytes,
    a truncated file, a TF-era or StyleGAN3 pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise DotcliError(f"network pickle {path} does not exist")
    try:
        with open(path, "rb") as f:
            data = _NetworkUnpickler(f).load()
    except DotcliError as exc:
        raise DotcliError(f"cannot read network pickle {path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
        raise DotcliError(f"cannot read network pickle {path}: not a complete Python pickle "
                          f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), PersistentObject) for k in NETWORK_KEYS):
        found = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise DotcliError(f"{path} is not a stylegan2-ada-pytorch network pickle: expected a dict with networks "
                          f"G, D, G_ema; found {found}")
    return data


def flat_state(obj: PersistentObject | Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """``state_dict()``-style names -> tensors, walking ``_parameters``, ``_buffers`` and ``_modules``."""
    state = obj.state if isinstance(obj, PersistentObject) else getattr(obj, "state", None)
    if not isinstance(state, dict):
        raise DotcliError(f"module {prefix or '<root>'} in the file has no state")
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                out[prefix + str(name)] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise DotcliError(f"submodule {prefix}{name} in the file is not a persistent network object")
        out.update(flat_state(child, f"{prefix}{name}."))
    return out


def sources(obj: PersistentObject) -> dict[str, str]:
    """class name -> sha256 of its module source, for this object and every submodule."""
    out = {obj.class_name: obj.module_src_sha256}
    for child in (obj.state.get("_modules") or {}).values():
        if isinstance(child, PersistentObject):
            out.update(sources(child))
    return out
