"""Test helper: write files in NVIDIA's network-pickle format from numbers (no official code involved).

The format (stylegan2-ada-pytorch ``torch_utils/persistence.py`` and ``training/training_loop.py``): a plain
pickle of ``dict(training_set_kwargs, G, D, G_ema, augment_pipe)``; each network is
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, ``meta = dict(type='class', version=6,
module_src=<text>, class_name=<name>, state=<the module's __dict__>)``; its tensors are pickled by torch itself
(``_rebuild_parameter`` / ``_rebuild_tensor_v2`` / ``torch.storage._load_from_bytes``), its kwargs as
``dnnlib.util.EasyDict`` and its float attributes as numpy float64, as in the real files.

Stand-in modules named ``torch_utils.persistence`` and ``dnnlib.util`` exist in ``sys.modules`` only while
writing, so that pickle can name those globals; they run nothing at load time here or anywhere.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

PLACEHOLDER_SRC = "# placeholder module source written by dotcli's tests\n"


class EasyDict(dict):
    """Pickled as ``dnnlib.util.EasyDict`` (the module is renamed while writing)."""


def _reconstruct_persistent_obj(meta: dict) -> Any:  # never called: pickle only needs its name
    raise AssertionError("the writer's stand-in must never run")


@contextlib.contextmanager
def _stand_in_modules():
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    saved = (EasyDict.__module__, _reconstruct_persistent_obj.__module__)
    EasyDict.__module__, _reconstruct_persistent_obj.__module__ = "dnnlib.util", "torch_utils.persistence"
    added = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
             "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    old = {k: sys.modules.get(k) for k in added}
    sys.modules.update(added)
    try:
        yield
    finally:
        EasyDict.__module__, _reconstruct_persistent_obj.__module__ = saved
        for k, v in old.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _easy(value: Any) -> Any:
    if isinstance(value, dict):
        return EasyDict({k: _easy(v) for k, v in value.items()})
    return value


class Persistent:
    """One pickled network object: ``__reduce__`` gives exactly the persistence format."""

    def __init__(self, class_name: str, state: dict, module_src: str = PLACEHOLDER_SRC) -> None:
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def persistent_tree(module: nn.Module, state: dict[str, torch.Tensor], init_kwargs: dict | None = None,
                    prefix: str = "", module_src: str = PLACEHOLDER_SRC) -> Persistent:
    """The persistent-object tree of ``module`` (class names and nesting), filled with ``state`` tensors."""
    params = OrderedDict((n, nn.Parameter(state[prefix + n].clone(), requires_grad=False) if p is not None else None)
                         for n, p in module._parameters.items())
    buffers = OrderedDict((n, state[prefix + n].clone() if b is not None else None) for n, b in module._buffers.items())
    children = OrderedDict((n, persistent_tree(c, state, {}, f"{prefix}{n}.", module_src))
                           for n, c in module._modules.items())
    st: dict[str, Any] = {"training": False, "_parameters": params, "_buffers": buffers,
                          "_non_persistent_buffers_set": set(), "_modules": children,
                          "_init_args": (), "_init_kwargs": _easy(init_kwargs or {})}
    if hasattr(module, "weight_gain"):  # numpy float64, as the official layers store it
        st["weight_gain"] = np.float64(module.weight_gain)
    return Persistent(type(module).__name__, st, module_src)


def write_network_pickle(path: Path, networks: dict[str, Any], training_set_kwargs: dict | None = None) -> Path:
    """``pickle.dump(dict(training_set_kwargs, G, D, G_ema, augment_pipe=None))`` with ``networks`` as given."""
    snapshot = {"training_set_kwargs": dict(training_set_kwargs or {}), **networks}
    snapshot.setdefault("augment_pipe", None)
    with _stand_in_modules(), open(path, "wb") as f:
        pickle.dump(snapshot, f)
    return path


def fixture_pickle(path: Path, fixture: dict, module_src: str = PLACEHOLDER_SRC) -> Path:
    """A network pickle holding the fixture's G, D, G_ema (dotcli's networks give the module tree)."""
    from dotcli.models.stylegan2_ada import discriminator_from_kwargs, generator_from_kwargs

    gk, dk = fixture["init_kwargs"]["G"], fixture["init_kwargs"]["D"]
    nets = {"G": persistent_tree(generator_from_kwargs(gk), fixture["state"]["G"], gk, module_src=module_src),
            "D": persistent_tree(discriminator_from_kwargs(dk), fixture["state"]["D"], dk, module_src=module_src),
            "G_ema": persistent_tree(generator_from_kwargs(gk), fixture["state"]["G_ema"], gk,
                                     module_src=module_src)}
    return write_network_pickle(path, nets, fixture.get("training_set_kwargs"))
