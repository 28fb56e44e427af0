"""The option lists of ``dot-run --help``, read from the config files themselves (the ``${dotcli_help:...}``
resolver of the help template), so the help lists every group, option and method key the package ships, with
their defaults, and cannot drift from the configs. Imports neither torch nor Hydra's composition.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parent / "configs"
#: the config groups users choose, in the order the help shows them (``_base`` folders are internal)
USER_GROUPS = ("dataset", "model", "method", "metrics", "paths", "experiment")
#: hydra/launcher options: Hydra's own, then the plugins' (when installed), then dotcli's files
LAUNCHER_PLUGINS = {"joblib": "hydra_plugins.hydra_joblib_launcher",
                    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
                    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher"}
WIDTH = 118  # the help's line width
_INTERPOLATION = re.compile(r"^\$\{(?:oc\.select:)?([\w.]+)(?:,([^}]*))?\}$")


def options(group: str) -> list[str]:
    """The options of a config group: its ``.yaml`` files (sub-folders such as ``_base`` are not options)."""
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def launcher_options() -> list[str]:
    found = ["basic"]
    for name, module in LAUNCHER_PLUGINS.items():
        try:
            installed = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            installed = False
        found.append(name if installed else f"{name} (needs the launchers extra)")
    return found + [o for o in options("hydra/launcher") if o not in found]


def _raw_method(name: str, depth: int = 0) -> dict[str, Any]:
    """A method config's keys as written (interpolations kept), its ``defaults`` list merged in first."""
    node = OmegaConf.to_container(OmegaConf.load(CONFIGS / "method" / f"{name}.yaml"), resolve=False)
    merged: dict[str, Any] = {}
    for entry in node.pop("defaults", []) if depth < 5 else []:
        if isinstance(entry, str) and entry != "_self_":
            merged.update(_raw_method(entry, depth + 1))
    merged.update(node)
    return merged


def _dataset_refine() -> dict[str, dict[str, Any]]:
    """The ``refine`` blocks the method keys read, by dataset kind (the toys', the images')."""
    out = {}
    for kind in ("toy", "image"):
        node = OmegaConf.load(CONFIGS / "dataset" / "_base" / f"{kind}.yaml")
        out[kind] = OmegaConf.to_container(node.get("refine") or {}, resolve=False)
    return out


def _default_text(value: Any, refine: dict[str, dict[str, Any]]) -> str:
    """A key's default as the help shows it: ``dataset.refine.eps`` interpolations become the toys' and the
    images' values."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    match = _INTERPOLATION.match(text) if isinstance(value, str) else None
    if not match:
        return text.replace("$", "$$")
    path, fallback = match.group(1), match.group(2)
    if path.startswith("dataset.refine."):
        key = path.removeprefix("dataset.refine.")
        toy, image = (refine[k].get(key, fallback) for k in ("toy", "image"))
        if toy == image:
            return str(toy)
        return f"toys {toy}, images {image}"
    return f"{path} (else {fallback})" if fallback is not None else path


def method_keys() -> list[str]:
    """Each method with its keys and defaults: ``  dot           space=toys target, images latent; eps=0.01; ...``."""
    refine = _dataset_refine()
    lines = []
    for name in options("method"):
        keys = {k: v for k, v in _raw_method(name).items() if not k.startswith("_") and k != "name"}
        shown = "; ".join(f"{k}={_default_text(v, refine)}" for k, v in keys.items()) or "(no keys)"
        lines += _wrapped(f"  {name:<12s}", shown)
    return lines


def _wrapped(head: str, text: str) -> list[str]:
    """``head`` then ``text`` wrapped to :data:`WIDTH`, continuation lines indented under the text."""
    return textwrap.wrap(text, WIDTH, initial_indent=head, subsequent_indent=" " * len(head),
                         break_on_hyphens=False, break_long_words=False)


def help_text(part: str) -> str:
    """``${dotcli_help:options}``: every group with its options; ``${dotcli_help:methods}``: each method's keys."""
    if part == "options":
        rows = [(g, options(g)) for g in USER_GROUPS] + [("hydra/launcher", launcher_options())]
        return "\n".join(line for group, opts in rows for line in _wrapped(f"  {group:<16s}", ", ".join(opts)))
    if part == "methods":
        return "\n".join(method_keys())
    raise ValueError(f"unknown help part {part!r}; expected options or methods")
