"""The run's parts built from their config nodes: ``build`` (``_target_`` specs, keys checked), the model pair
(its ``loader``), the device. Used by the runner (:mod:`dotcli.runner`) and the pre-flight checks
(:mod:`dotcli.preflight`) alike, so both build the same things the same way.
"""

from __future__ import annotations

import inspect
import platform
from collections.abc import Callable, Mapping
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_method, get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from dotcli import DotcliError
from dotcli.models.pair import ModelPair

#: keys of ``method`` that the runner reads itself (never passed to the sampler's constructor)
RUNNER_METHOD_KEYS = ("name",)


def pick_device(name: str) -> torch.device:
    """``auto`` is cuda when present, else cpu; anything else is taken as given once a tensor op runs on it
    (torch names devices it cannot use here: ``meta`` holds no data, ``mps`` needs Apple's build)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise DotcliError(f"device={name!r} was asked for but CUDA is not available; use device=auto or cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise DotcliError(f"device={name!r} is not a torch device (expected auto, cpu, cuda, cuda:N)") from exc
    if device.type == "meta":
        raise DotcliError(f"device={name!r} cannot run dotcli: a meta tensor has a shape but no data, so nothing "
                          "can be sampled or scored; use device=auto, cpu or cuda")
    try:  # one small op there and back: a device torch knows but this build or machine cannot use fails here
        (torch.ones(1, device=device) + 1).cpu().item()
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = text.split(". ")[0][:160]  # torch's first sentence: the rest is advice for torch developers
        raise DotcliError(f"device={name!r} cannot be used on this machine ({reason}); use device=auto, cpu"
                          f"{' or cuda:N with N < ' + str(torch.cuda.device_count()) if device.type == 'cuda' else ''}"
                          ) from None
    return device


def constructor_keys(target: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keyword arguments ``target`` accepts (a class: its ``__init__``); ``None`` when it takes ``**kwargs``."""
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let the call itself decide
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def check_keys(spec: Mapping[str, Any], where: str, passed: tuple[str, ...] = ()) -> None:
    """Refuse a config key that ``spec['_target_']`` does not take (a typo would otherwise be ignored or fail
    deep inside Hydra): one line naming the key and the keys allowed there. ``passed``: arguments the runner
    gives itself (not config keys)."""
    target = spec.get("_target_")
    if not isinstance(target, str):
        return
    try:
        accepted = constructor_keys(get_object(target))
    except Exception as exc:
        raise DotcliError(f"{where}._target_={target!r} is not importable ({exc})") from exc
    if accepted is None:
        return
    unknown = [k for k in spec if not str(k).startswith("_") and k not in accepted]
    if unknown:
        allowed = [k for k in accepted if k not in passed]
        keys = ", ".join(f"{where}.{k}" for k in unknown)
        raise DotcliError(f"{keys}: not a key of {target} (a typo?); allowed keys: {', '.join(allowed) or 'none'}")


def build(spec: DictConfig | Mapping[str, Any], what: str, where: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of the config node at ``where`` (e.g. ``method``), keys checked first;
    a failure is one clear DotcliError."""
    plain = OmegaConf.to_container(spec, resolve=True) if OmegaConf.is_config(spec) else dict(spec)
    check_keys(plain, where, passed=tuple(kwargs))
    try:
        return instantiate(plain, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, DotcliError):
            raise cause from None
        raise DotcliError(f"cannot build the {what} from its config ({where}): {cause or exc}") from exc


def load_pair(cfg: DictConfig) -> ModelPair:
    """Call the model's loader; a per-dataset entry ``model.files.<dataset>.loader`` wins over ``model.loader``."""
    files = cfg.model.get("files") or {}
    entry = files.get(cfg.dataset.name) if hasattr(files, "get") else None
    name = (entry.get("loader") if hasattr(entry, "get") else None) or cfg.model.loader
    try:
        loader = get_method(name)
    except Exception as exc:
        raise DotcliError(f"model loader {name!r} is not an importable function") from exc
    pair = loader(cfg.model, cfg.dataset.name, cfg.paths)
    pair.set_truncation(cfg.model.get("truncation"))  # z-space truncation trick, any family (model.truncation)
    return pair


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
