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
