"""The run-directory lock, with real processes: another config fails at once, the same config waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dotcli.rundir import LOCK_NAME, RunDirBusy, lock_run_dir, unlock_run_dir

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def gated(gate: Path, *extra: str) -> list[str]:
    """A run that holds its directory until ``gate`` exists (tests/gate.py), then finishes at once."""
    return [str(BIN / "dot-run"), "method=none", "method._target_=tests.gate.GateSampler", f"+method.gate={gate}",
            "trials=1", "hydra.run.dir=out", *extra]


def wait_for_holder(lock: Path, pid: int, waiting: Path, timeout: float = 300) -> None:
    """Until process ``pid`` holds the lock and its sampler waits at the gate."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == pid and waiting.exists():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never took {lock}")


def test_second_process_other_config_fails_same_config_waits(tmp_path):
    gate, out = tmp_path / "go", tmp_path / "out"
    first = subprocess.Popen(gated(gate, "n_samples=20"), cwd=tmp_path, env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_holder(out / LOCK_NAME, first.pid, tmp_path / "go.waiting")
        hydra_cfg = (out / ".hydra" / "config.yaml").read_text()

        other = subprocess.run(gated(gate, "n_samples=30"), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                               timeout=300)
        assert other.returncode == 2
        assert other.stderr.strip().splitlines()[-1] == (
            f"dot-run: error: run directory {out} is in use by another dot-run (pid {first.pid}) with a different "
            "config; wait for it to finish or choose another directory (hydra.run.dir=... / hydra.sweep.dir=...)")
        assert (out / ".hydra" / "config.yaml").read_text() == hydra_cfg  # the holder's files are untouched
        assert not (out / "failed.json").exists()

        same = subprocess.Popen(gated(gate, "n_samples=20"), cwd=tmp_path, env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert same.stderr.readline().strip() == (
            f"dot-run: waiting for pid {first.pid}, which runs the same config in {out}")
        gate.touch()  # the first run finishes
        first_out, _ = first.communicate(timeout=300)
        record = out / "result.json"
        written = record.stat().st_mtime_ns
        same_out, same_err = same.communicate(timeout=300)
        assert first.returncode == same.returncode == 0, same_err
        assert first_out.strip().splitlines()[-1] == same_out.strip().splitlines()[-1] == str(record)
        assert record.stat().st_mtime_ns == written  # returned, not recomputed
    finally:
        gate.touch()
        if first.poll() is None:
            first.kill()


def test_lock_in_process(tmp_path):
    lock_run_dir(tmp_path / "d", "abc")
    lock_run_dir(tmp_path / "d", "abc")  # held already: a no-op
    holder = json.loads((tmp_path / "d" / LOCK_NAME).read_text())
    assert holder == {"pid": os.getpid(), "config_hash": "abc"}
    code = ("import sys; from dotcli.rundir import lock_run_dir, RunDirBusy\n"
            f"try:\n    lock_run_dir({str(tmp_path / 'd')!r}, 'xyz')\nexcept RunDirBusy as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert f"(pid {os.getpid()}) with a different config" in out.stdout
    unlock_run_dir(tmp_path / "d")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0 and out.stdout == ""  # free again: the other process took it
    assert issubclass(RunDirBusy, Exception)
