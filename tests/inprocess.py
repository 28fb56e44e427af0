"""``dot-run`` called inside the test process: the same Hydra app (argv parsing, config composition, callbacks,
run-directory lock, record, warnings, exit status) without a fresh interpreter's start-up (torch, sklearn, POT,
matplotlib: ~5 s a process, paid once per test process here). For tests whose point is what a run does, not the
process boundary; error lines, exit codes of failed runs and signals stay subprocess tests (tests/test_cli.py)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def dot_run_in_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``dot-run ARGS`` run in ``cwd`` with ``env`` added to the environment, in this process; what a
    subprocess would have given: exit status (``sys.exit`` codes; 0 when the app returns), stdout and stderr
    (text written through ``sys.stdout``/``sys.stderr``, log records included). Restores argv, cwd, the
    environment, Hydra's global state and the root logger afterwards."""
    from hydra.core.global_hydra import GlobalHydra

    from dotcli.cli import run_main

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd, saved_env = sys.argv, os.getcwd(), dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    code = 0
    try:
        os.chdir(cwd)
        os.environ.update(env or {})
        sys.argv = ["dot-run", *args]
        GlobalHydra.instance().clear()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                run_main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        GlobalHydra.instance().clear()
        for handler in root.handlers:  # the run's console and dot-run.log handlers
            if handler not in saved_handlers:
                handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return subprocess.CompletedProcess(["dot-run", *args], code, out.getvalue(), err.getvalue())


def grid_child_in_process(monkeypatch) -> None:
    """Make ``dot-reproduce``'s ``dot-run -m`` child (:func:`dotcli.reproduce.run_child`) run in this process
    through :func:`dot_run_in_process`, returning its exit status, for tests of what a grid does (cells, skips,
    failures, resume, tables). The child as a real process tied to its parent: tests/test_reproduce_kill.py."""
    from dotcli import reproduce

    prefix = len(reproduce.dot_run_command())
    monkeypatch.setattr(reproduce, "run_child",
                        lambda cmd: dot_run_in_process(*cmd[prefix:], cwd=Path.cwd()).returncode)
