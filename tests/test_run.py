"""The runner's helpers: the phase timer."""

from __future__ import annotations

import dotcli.runner as run_module
from dotcli.runner import Timer


def test_timer_accumulates_named_durations(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 10.0, 14.0, 20.0, 20.5, 30.0])
    monkeypatch.setattr(run_module.time, "perf_counter", lambda: next(clock))
    timer = Timer()                    # started at 0
    with timer("sample"):              # 1 -> 3
        pass
    with timer("eval"):                # 10 -> 14
        pass
    try:
        with timer("sample"):          # 20 -> 20.5, counted even when the block raises
            raise KeyError
    except KeyError:
        pass
    assert dict(timer.totals) == {"sample": 2.5, "eval": 4.0}
    assert timer.totals["setup"] == 0.0  # a phase that never ran counts 0
    assert timer.wall() == 30.0
