"""One line for every error (issue 23, item 7): Hydra's own errors, Ctrl-C, devices torch knows but cannot use
here, and a multirun with failing jobs; each one line (a multirun: one per failed job and a summary), exit 2
(Ctrl-C: 130), never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dotcli import DotcliError
from dotcli.components import pick_device
from dotcli.console import console_command
from tests.inprocess import dot_run_in_process

REPO = Path(__file__).resolve().parents[1]


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.mark.parametrize("override,expected", [
    ("method=dott", "dot-run: error: method=dott is not an option of method; did you mean method=dot? the options "
                    "are: ddls, dgflow, dot, dot_local, drs, mh, naive, none"),
    ("dataset=cifar100", "dot-run: error: dataset=cifar100 is not an option of dataset; did you mean "
                         "dataset=cifar10? the options are: cifar10, fashion_mnist, gaussians25, imagenet, stl10"),
    ("metrics=fid", "dot-run: error: metrics=fid is not an option of metrics; the options are: default, fmnist, "
                    "none"),
    ("experiment=toy", "dot-run: error: experiment=toy is not an option of experiment; did you mean "
                       "experiment=toy_table?"),
    ("method.epss=1", "dot-run: error: method.epss=1: method.epss is not a key of the config (a typo?); did you "
                      "mean method.eps? the keys of method are: anchor, clip_target, eps"),
    ("seeed=1", "dot-run: error: seeed=1: seeed is not a key of the config (a typo?); did you mean seed? the "
                "top-level keys are: batch_size"),
    ("metrics.kidd=true", "dot-run: error: metrics.kidd=true: metrics.kidd is not a key of the config (a typo?); "
                          "did you mean metrics.kid?"),
    ("+seed=1", "dot-run: error: +seed=...: seed exists already; drop the + to change it"),
    ("hydra.run.dir=/tmp/a=b", "dot-run: error: cannot read the override 'hydra.run.dir=/tmp/a=b' (mismatched "
                               "input '=' expecting <EOF>): quote a value that holds = , [ ] { } ( ) or quotes, "
                               "e.g. 'hydra.run.dir=\"/tmp/a=b\"'"),
    ("method.k_eff=[1,2", "dot-run: error: cannot read the override 'method.k_eff=[1,2' (no viable alternative"),
    ("paths.data=/tmp/(x", "dot-run: error: cannot read the override 'paths.data=/tmp/(x'"),
    ("paths.data=/tmp/x,y", "dot-run: error: Ambiguous value for argument 'paths.data=/tmp/x,y'; 1. To use it as "
                            "a list, use key=[value1,value2]; 2. To use it as string, quote the value"),
])
def test_hydra_errors_are_one_line_exit_2(tmp_path, override, expected):
    out = dot_run_in_process(override, cwd=tmp_path)
    lines = _lines(out.stderr)
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith(expected), lines[0]
    assert not list(tmp_path.rglob("result.json"))


def test_the_quoting_the_line_advises_works(tmp_path):
    """``'hydra.run.dir="DIR/a=b"'`` as the parse error line says: the run goes there."""
    target = tmp_path / "a=b"
    out = dot_run_in_process(f'hydra.run.dir="{target}"', "method=none", "trials=1", "n_samples=20",
                             cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (target / "result.json").is_file()


@pytest.mark.parametrize("args,expected", [
    (("method=none", "-m", "seed=1"), "dot-run: error: unrecognized arguments: seed=1; options (-m/--multirun, "
                                      "--cfg job, --help, --resolve) go before the overrides"),
    (("--resolve",), "dot-run: error: The --resolve flag can only be used in conjunction with --cfg or --help"),
    (("--cfg", "jobs"), "dot-run: error: argument --cfg/-c: invalid choice: 'jobs'"),
])
def test_misplaced_or_wrong_flags_are_one_line_exit_2(tmp_path, args, expected):
    out = dot_run_in_process(*args, cwd=tmp_path)
    lines = _lines(out.stderr)
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith(expected), out.stderr


def test_hydra_full_error_still_gives_hydras_exception(tmp_path):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException):
        dot_run_in_process("method=dott", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})


@pytest.mark.parametrize("name,expected", [
    ("meta", "device='meta' cannot run dotcli: a meta tensor has a shape but no data"),
    ("mps", "device='mps' cannot be used on this machine ("),
    ("xpu", "device='xpu' cannot be used on this machine ("),
    ("hpu", "device='hpu' cannot be used on this machine ("),
    ("CPU", "device='CPU' is not a torch device"),
    ("cuda:7" if not __import__("torch").cuda.is_available() else "cuda:4096", "device='cuda:"),
])
def test_devices_torch_knows_but_cannot_use_here_are_one_line(name, expected):
    with pytest.raises(DotcliError) as err:
        pick_device(name)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
    assert "fburl" not in str(err.value)  # torch's advice to its own developers is cut


def test_usable_devices_pass():
    assert pick_device("cpu").type == "cpu" and pick_device("auto").type in ("cpu", "cuda")


@pytest.mark.parametrize("device", ["meta", "mps"])
def test_dot_run_on_an_unusable_device_is_one_line_exit_2(tmp_path, device):
    out = dot_run_in_process(f"device={device}", "trials=1", "n_samples=20", "hydra.run.dir=run", cwd=tmp_path)
    lines = _lines(out.stderr)
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith(f"dot-run: error: device='{device}' cannot")


@pytest.mark.parametrize("sweep,failed,jobs", [
    (("method=naive", "method.steps=5", "method.eps=0.01,-1"), ["job 1 (method=naive method.steps=5 method.eps=-1"],
     2),
    (("method=none", "seed=abc,0,-1"), ["job 0 (method=none seed=abc", "job 2 (method=none seed=-1"], 3),
])
def test_multirun_with_failing_jobs_is_their_lines_then_a_summary(tmp_path, sweep, failed, jobs):
    out = dot_run_in_process("-m", *sweep, "trials=1", "n_samples=20",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    lines = _lines(out.stderr)
    errors = [ln for ln in lines if ln.startswith("dot-run: ")]
    summaries = [ln for ln in lines if not ln.startswith("dot-run: ")]  # each finished job's metrics line
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(summaries) == jobs - len(failed) and all(" trial" in ln for ln in summaries), out.stderr
    assert len(errors) == len(failed) + 1, out.stderr
    assert all(ln.startswith("dot-run: error: ") for ln in errors)
    summary = errors[-1]
    assert summary.startswith(f"dot-run: error: {len(failed)} of {jobs} jobs failed: "), summary
    assert all(f in summary for f in failed)
    assert len(list((tmp_path / "sweep").rglob("result.json"))) == jobs - len(failed)
    assert len(list((tmp_path / "sweep").rglob("failed.json"))) == len(failed)


def _mapped(pid: int, name: str) -> bool:
    """Whether the process has a shared library whose path holds ``name`` loaded (how far its imports got)."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _has_child(pid: int, name: str) -> bool:
    """Whether a child of ``pid`` runs a command line holding ``name`` (and has loaded torch)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return False
    for kid in kids:
        try:
            if name in Path(f"/proc/{kid}/cmdline").read_text() and _mapped(int(kid), "libtorch"):
                return True
        except OSError:
            continue
    return False


def _interrupt(cmd: list[str], ready, cwd: Path, then: float = 0.0) -> subprocess.CompletedProcess:
    """Start ``cmd``, wait until ``ready(pid)`` (polled) and ``then`` seconds more, send SIGINT, collect."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(then)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to time the interrupt")
@pytest.mark.parametrize("stage,marker,then", [
    ("while Hydra imports", "_yaml", 0.0),  # PyYAML's extension: the console script's own imports are under way
    ("while sampling", "libtorch", 3.0),
])
def test_ctrl_c_of_dot_run_is_one_line_exit_130(tmp_path, stage, marker, then):
    out = _interrupt([*console_command("dot-run"), "trials=10", "n_samples=3000", "hydra.run.dir=run"],
                     lambda pid: _mapped(pid, marker), tmp_path, then)
    assert out.returncode == 130, out.stderr
    assert _lines(out.stderr) == ["dot-run: interrupted; nothing was written for this run"], out.stderr
    assert not (tmp_path / "run" / "result.json").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to time the interrupt")
def test_ctrl_c_of_dot_reproduce_and_its_child_is_one_line_each(tmp_path):
    cmd = [*console_command("dot-reproduce"), "--only", "toy", "--runs", "runs", "--out", "out", "trials=1",
           "n_samples=50"]
    before = _interrupt(cmd, lambda pid: _mapped(pid, "_yaml"), tmp_path, 0.5)  # planning, no child yet
    assert before.returncode == 130 and "Traceback" not in before.stderr, before.stderr
    assert _lines(before.stderr) == ["dot-reproduce: interrupted; rerun to continue where it stopped (finished "
                                     "cells keep their records)"]
    during = _interrupt(cmd, lambda pid: _has_child(pid, "experiment=toy_table"), tmp_path, 2.0)
    assert during.returncode == 130 and "Traceback" not in during.stderr, during.stderr
    lines = _lines(during.stderr)
    assert lines[-1] == "dot-reproduce: stopped by signal 2; rerun to continue where it stopped", lines
    assert all(ln.startswith(("dot-run: ", "dot-reproduce: ")) for ln in lines), lines
    assert not subprocess.run(["pgrep", "-f", str(tmp_path / "runs")], capture_output=True).stdout
