"""How a record's method is shown: its :class:`~dotcli.samplers.base.MethodInfo` (label, order, columns).

A record written by ``dot-run`` carries ``method_info``. Older records (written before it existed) name
their sampler class in ``config.method._target_``: the class's ``info`` is read from there. A method known
only by name (a published number for a method absent from the table) is looked up in its method config.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib import resources
from typing import Any

from dotcli.samplers.base import MethodInfo

# the cost columns every method has (run.py counts them), with their headers and decimals
RUN_COST = {"wall_s": ("wall s", 1), "g_evals_per_sample": ("G evals/sample", 1),
            "d_evals_per_sample": ("D evals/sample", 1)}
METHOD_COST_DIGITS = 3  # a method's own cost columns (MethodInfo.cost)


def _from_dict(data: dict[str, Any]) -> MethodInfo:
    known = {k: v for k, v in data.items() if k in MethodInfo.__dataclass_fields__}
    for key in ("params", "cost"):
        known[key] = tuple(known.get(key) or ())
    return MethodInfo(**known)


@cache
def _from_target(target: str) -> MethodInfo | None:
    module, _, name = target.rpartition(".")
    try:
        info = getattr(importlib.import_module(module), name).info
    except (ImportError, AttributeError, ValueError):
        return None
    return info if isinstance(info, MethodInfo) else None


@cache
def info_for_name(method: str) -> MethodInfo:
    """The info of the method config ``configs/method/<method>.yaml`` (its ``_target_``'s ``info``).

    An unknown name gets a plain info labelled by the name itself, shown after the known methods.
    """
    from omegaconf import OmegaConf

    path = resources.files("dotcli.configs") / "method" / f"{method}.yaml"
    if path.is_file():
        target = OmegaConf.create(path.read_text()).get("_target_")
        info = _from_target(str(target)) if target else None
        if info is not None:
            return info
    return MethodInfo(label=method)


def info_for_record(record: dict[str, Any]) -> MethodInfo:
    """The record's ``method_info``; else its config's ``method._target_`` class's ``info``; else by name."""
    if isinstance(record.get("method_info"), dict):
        return _from_dict(record["method_info"])
    target = (record.get("config", {}).get("method") or {}).get("_target_")
    info = _from_target(str(target)) if target else None
    return info if info is not None else info_for_name(str(record.get("method")))


def column_label(info: MethodInfo) -> str:
    """The method's column header: its label, with a dagger when the method is this project's own."""
    return f"{info.label} †" if info.ours else info.label


def params_of(info: MethodInfo, method_cfg: dict[str, Any]) -> dict[str, Any]:
    """The values of the method's declared parameter columns, in declared order."""
    return {k: method_cfg[k] for k in info.params if k in method_cfg}
