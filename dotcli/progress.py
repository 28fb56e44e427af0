"""Progress bars on stderr so a long run never looks hung; silent when stderr is not a terminal (tqdm's
``disable=None``), so logs, pipes and tests see nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """``items`` with a transient bar named ``desc`` (trials of a run, steps of a refinement)."""
    return tqdm(items, desc=desc, total=total, disable=None, leave=False, dynamic_ncols=True, file=sys.stderr)
