"""Console scripts are found wherever the package is installed (venv, --user, --target, PYTHONPATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dotcli import console
from dotcli.console import console_command


def test_script_beside_the_interpreter_wins(tmp_path, monkeypatch):
    (tmp_path / "dot-run").write_text("#!/bin/sh\n")
    monkeypatch.setattr(console.sys, "executable", str(tmp_path / "python"))
    assert console_command("dot-run") == [str(tmp_path / "dot-run")]


def test_path_is_searched_like_a_shell(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "dot-table"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(console.sys, "executable", str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("PATH", str(bindir))
    assert console_command("dot-table") == [str(script)]


def test_without_any_script_the_entry_point_runs_through_this_interpreter(tmp_path, monkeypatch):
    monkeypatch.setattr(console.sys, "executable", sys.executable)
    monkeypatch.setattr(console.Path, "is_file", lambda self: False)
    monkeypatch.setenv("PATH", str(tmp_path))
    cmd = console_command("dot-table")
    assert cmd[:2] == [sys.executable, "-c"] and "table_main" in cmd[2]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": str(tmp_path)}, cwd=Path(__file__).parent)
    assert proc.returncode == 0 and "dot-table" in proc.stdout, proc.stderr


def test_unknown_script_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(console.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no-such-script"):
        console_command("no-such-script")


@pytest.mark.parametrize(("body", "code", "message"), [("pass", 0, ""), ("sys.exit(3)", 3, ""),
                                                        ("sys.exit('dot-run: error: bad')", 1, "dot-run: error: bad"),
                                                        ("sys.exit(None)", 0, "")])
def test_dot_run_exits_with_its_status_output_and_atexit_but_without_teardown(body, code, message):
    """dot-run's console script skips the interpreter's module teardown (~0.8 s with torch), nothing else."""
    script = "\n".join([
        "import atexit, sys",
        "from dotcli.cli import exit_without_teardown",
        "class Finalised:",
        "    def __del__(self): print('module teardown ran', file=sys.stderr)",
        "kept = Finalised()  # a module global: finalised only by the interpreter's teardown",
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))",
        "def main():",
        "    print('no newline at the end', end='')",
        f"    {body}",
        "exit_without_teardown(main)",
        "print('not reached')",
    ])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == code
    assert proc.stdout == "no newline at the end"
    assert "atexit ran" in proc.stderr and message in proc.stderr
    assert "module teardown ran" not in proc.stderr


def test_with_a_thread_still_running_dot_run_exits_the_usual_way():
    """A launcher's pool (a non-daemon thread or a child process) is left to the interpreter's own shutdown."""
    script = "\n".join([
        "import sys, threading, time",
        "from dotcli.cli import exit_without_teardown",
        "class Finalised:",
        "    def __del__(self): print('module teardown ran', file=sys.stderr)",
        "kept = Finalised()",
        "def main():",
        "    threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', file=sys.stderr))).start()",
        "    sys.exit(4)",
        "exit_without_teardown(main)",
    ])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4
    assert "thread done" in proc.stderr and "module teardown ran" in proc.stderr
