"""Progress on stderr so a long run never looks hung: a transient tqdm bar on a terminal; plain lines elsewhere
(logs, CI, pipes), as tqdm-style tools do off a terminal: ``dot-run: trials 3/10 (30%), 2.1 s``.

Off a terminal, the run's own loop (its trials: ``outer=True``) and every sample counter (images scored) print a line
each time another :data:`PLAIN_EVERY_FRACTION` of their total is done; every reporter also prints one when
:data:`PLAIN_EVERY_S` seconds have passed since the last line of any, so inner loops (refinement steps) speak
only when a run would otherwise be silent that long. ``DOTCLI_PROGRESS=0`` silences both kinds.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

#: off a terminal: a line each time this fraction more of the total is done (outermost loops, sample counters) ...
PLAIN_EVERY_FRACTION = 0.1
#: ... and a line from any reporter this many seconds after the last line
PLAIN_EVERY_S = 30.0

_state = {"last_line": time.monotonic()}  # when the last plain line was printed (by any reporter)


def _enabled() -> bool:
    return os.environ.get("DOTCLI_PROGRESS", "1") != "0"


class PlainProgress:
    """Plain progress lines for a counter of ``total`` items (``None``: unknown); ``update(n)`` counts ``n`` more.

    Args:
        by_fraction: print each time another ``every_fraction`` of ``total`` is done (else only on time).
        every_s: print when this many seconds have passed since the last line of any reporter.
        clock, stream: for tests (``time.monotonic``, ``sys.stderr``).
    """

    def __init__(self, total: int | None, desc: str, unit: str = "", by_fraction: bool = True,
                 every_fraction: float = PLAIN_EVERY_FRACTION, every_s: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, stream: TextIO | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, f" {unit}" if unit else ""
        self.by_fraction = by_fraction and bool(total) and total >= 2
        self.step = max(1, round((total or 0) * every_fraction))
        self.every_s, self.clock, self.stream = every_s, clock, stream
        self.start = clock()
        self.done = self.shown = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        due = self.by_fraction and (self.done - self.shown >= self.step or self.done == self.total)
        if due or now - _state["last_line"] >= self.every_s:
            share = f"/{self.total}{self.unit} ({self.done / self.total:.0%})" if self.total else self.unit
            print(f"dot-run: {self.desc} {self.done}{share}, {now - self.start:.1f} s",
                  file=self.stream or sys.stderr, flush=True)
            _state["last_line"], self.shown = now, self.done

    def close(self) -> None:
        """Nothing to release (plain lines hold no terminal state); kept so it replaces a tqdm bar."""

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def counter(total: int | None, desc: str, unit: str = "img") -> Any:
    """A progress counter (``update(n)``, ``close()``, a context manager) for samples streamed through a stage."""
    if not _enabled():
        return _Silent()
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)
    return PlainProgress(total, desc, unit=unit, by_fraction=True)


def progress(items: Iterable[T], desc: str, total: int | None = None, outer: bool = False) -> Iterable[T]:
    """``items`` with progress named ``desc`` (trials of a run, steps of a refinement) on stderr. ``outer``: the
    run's own loop (off a terminal: a line every tenth); others speak off a terminal only after 30 s of silence."""
    if not _enabled():
        return items
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(items, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr)
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _plain_iter(items, PlainProgress(total, desc, by_fraction=outer))


def _plain_iter(items: Iterable[T], reporter: PlainProgress) -> Iterator[T]:
    try:
        for item in items:
            yield item
            reporter.update(1)
    finally:
        reporter.close()
