"""Progress off a terminal: plain lines every tenth of the outermost loop and of sample counters, and after 30 s of
silence from any loop; a terminal gets tqdm's bar; DOTCLI_PROGRESS=0 silences both."""

from __future__ import annotations

import io
import itertools

from dotcli import progress as progress_module
from dotcli.progress import PlainProgress, progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_tenth_of_the_total(monkeypatch):
    clock, out = Clock(), io.StringIO()
    monkeypatch.setitem(progress_module._state, "last_line", 0.0)
    bar = PlainProgress(20, "trials", clock=clock, stream=out)
    for _ in range(20):
        clock.now += 0.5
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "dot-run: trials 2/20 (10%), 1.0 s" and lines[-1] == "dot-run: trials 20/20 (100%), 10.0 s"


def test_an_inner_loop_speaks_only_after_30_s_of_silence(monkeypatch):
    clock, out = Clock(), io.StringIO()
    monkeypatch.setitem(progress_module._state, "last_line", 0.0)
    bar = PlainProgress(100, "latent steps", by_fraction=False, clock=clock, stream=out)
    for _ in range(100):
        clock.now += 1.0
        bar.update(1)
    bar.close()
    assert out.getvalue().splitlines() == [f"dot-run: latent steps {n}/100 ({n}%), {n}.0 s" for n in (30, 60, 90)]


def test_sample_counters_name_their_unit(monkeypatch):
    clock, out = Clock(), io.StringIO()
    monkeypatch.setitem(progress_module._state, "last_line", 0.0)
    with PlainProgress(1000, "trial 0", unit="img", clock=clock, stream=out) as bar:
        bar.update(500)
    assert out.getvalue() == "dot-run: trial 0 500/1000 img (50%), 0.0 s\n"


def test_off_a_terminal_the_runs_loop_reports_and_the_inner_one_waits(capsys, monkeypatch):
    monkeypatch.setenv("DOTCLI_PROGRESS", "1")
    monkeypatch.setitem(progress_module._state, "last_line", float("inf"))  # no 30-s lines in this test
    for _ in progress(range(4), "trials", outer=True):
        assert list(progress(range(50), "target steps")) == list(range(50))
    err = capsys.readouterr().err.splitlines()  # pytest's captured stderr is not a terminal
    assert [line.split(",")[0] for line in err] == [f"dot-run: trials {n}/4 ({n * 25}%)" for n in range(1, 5)]


def test_dotcli_progress_0_silences(capsys, monkeypatch):
    monkeypatch.setenv("DOTCLI_PROGRESS", "0")
    items = range(3)
    assert progress(items, "trials") is items
    assert list(itertools.chain(progress(range(3), "trials"))) == [0, 1, 2]
    assert capsys.readouterr().err == ""
