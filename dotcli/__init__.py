"""dotcli: improve the samples of a trained GAN with its own discriminator.

The public API (:mod:`dotcli.api`): :class:`ModelPair`, :func:`load_pair`, :func:`refine`, :func:`evaluate`,
:func:`run`, :class:`SampleBatch`, :class:`DotcliError`, ``__version__``. ``import dotcli`` stays light (no
torch): the names that need torch are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ModelPair", "load_pair", "refine", "evaluate", "run", "SampleBatch", "DotcliError", "__version__"]


class DotcliError(Exception):
    """A user-facing error: printed as one line, exit code non-zero."""


#: public name -> the module that defines it (imported on first access: torch only when needed)
_LAZY = {"ModelPair": "dotcli.models.pair", "SampleBatch": "dotcli.samplers.base", "load_pair": "dotcli.api",
         "refine": "dotcli.api", "evaluate": "dotcli.api", "run": "dotcli.api"}

if TYPE_CHECKING:
    from dotcli.api import evaluate, load_pair, refine, run
    from dotcli.models.pair import ModelPair
    from dotcli.samplers.base import SampleBatch


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'dotcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
