"""What dot-run writes into a run directory, attacked: a symlink (or FIFO) at the name of any file it writes is
never written through (the link is replaced, or the run refuses in one line), and a run directory's
``result.json`` that is not what it claims is set aside and recomputed; another config's finished record is
never replaced."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.inprocess import dot_run_in_process

FAST = ["trials=1", "n_samples=50", "method.steps=5", "method.k_eff_repeats=1"]
VICTIM = "the user's own file\n"
RUN_FILES = ["samples.png", "dot-run.log", ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"]


def victims(tmp_path, run, names):
    """A link at each of ``names`` in ``run``, each to a user's file of its own; the user's files."""
    out = []
    for i, name in enumerate(names):
        target = tmp_path / f"victim{i}.txt"
        target.write_text(VICTIM)
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).symlink_to(target)
        out.append(target)
    return out


def last_line(text):
    return text.strip().splitlines()[-1]


def test_a_run_replaces_links_at_its_files_never_their_targets(tmp_path):
    run = tmp_path / "run"
    users = victims(tmp_path, run, RUN_FILES)
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert all(u.read_text() == VICTIM for u in users)
    for name in [*RUN_FILES, "result.json", ".dotcli.lock"]:
        assert (run / name).is_file() and not (run / name).is_symlink(), name
    assert "seed: 0" in (run / ".hydra" / "config.yaml").read_text()


def test_hydra_dir_linked_elsewhere_is_replaced_by_the_runs_own(tmp_path):
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (elsewhere / "config.yaml").write_text(VICTIM)
    (run / ".hydra").symlink_to(elsewhere)
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in elsewhere.iterdir()] == ["config.yaml"]
    assert (elsewhere / "config.yaml").read_text() == VICTIM
    assert not (run / ".hydra").is_symlink() and (run / ".hydra" / "hydra.yaml").is_file()


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_lock_that_is_not_a_regular_file_is_refused_in_one_line(tmp_path, kind):
    run = tmp_path / "run"
    run.mkdir()
    users = victims(tmp_path, run, [".dotcli.lock"]) if kind == "link" else []
    if kind == "fifo":
        os.mkfifo(run / ".dotcli.lock")
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 2
    line = last_line(proc.stderr)
    assert line.startswith("dot-run: error: ") and str(run / ".dotcli.lock") in line
    assert ("symbolic link" if kind == "link" else "not a regular file") in line
    assert all(u.read_text() == VICTIM for u in users)
    assert sorted(p.name for p in run.iterdir()) == [".dotcli.lock"]  # nothing else written: no .hydra/


def test_a_failed_run_writes_failed_json_beside_a_link(tmp_path):
    run = tmp_path / "run"
    users = victims(tmp_path, run, ["failed.json", "dot-run.log"])
    proc = dot_run_in_process("n_samples=1", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 2 and "n_samples=1 is not valid" in last_line(proc.stderr)
    assert all(u.read_text() == VICTIM for u in users)
    assert not (run / "failed.json").is_symlink() and "n_samples=1" in (run / "failed.json").read_text()


def test_a_multirun_replaces_links_at_the_sweeps_and_the_jobs_files(tmp_path):
    sweep = tmp_path / "sweep"
    job = sweep / "0_gaussians25_dotcli_wgangp_dot"
    users = victims(tmp_path, sweep, ["multirun.yaml"]) + victims(tmp_path, job, ["samples.png", ".hydra/config.yaml"])
    proc = dot_run_in_process("-m", *FAST, f"hydra.sweep.dir={sweep}", "seed=0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert all(u.read_text() == VICTIM for u in users)
    for path in (sweep / "multirun.yaml", job / "samples.png", job / ".hydra" / "config.yaml", job / "result.json"):
        assert path.is_file() and not path.is_symlink(), path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished FAST run, copied by the tests below."""
    root = tmp_path_factory.mktemp("finished")
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={root / 'run'}", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


def claimed(finished):
    return json.loads((finished / "result.json").read_text())


@pytest.mark.parametrize("text, slug", [
    ("[1, 2]", "not-an-object"),
    ("{oops", "not-json"),
    ("", "not-json"),
    ("STUB", "incomplete"),
    ("FORGED", "hash-mismatch"),
])
def test_a_result_json_that_is_not_a_finished_record_is_set_aside_and_recomputed(tmp_path, finished, text, slug):
    good = claimed(finished)
    text = {"STUB": json.dumps({"config_hash": good["config_hash"]}),
            "FORGED": json.dumps({**good, "metrics": {"hq": 1.0}, "config": {**good["config"], "seed": 9}})
            }.get(text, text)
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "result.json").write_text(text)
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"set aside as result.json.{slug}" in proc.stderr and str(run / "result.json") in proc.stderr
    assert (run / f"result.json.{slug}").read_text() == text  # kept, under a name that says why
    again = json.loads((run / "result.json").read_text())
    assert again["config_hash"] == good["config_hash"] and again["metrics"] == good["metrics"]


@pytest.mark.parametrize("override", ["seed=5", "method.eps=0.02"])
def test_another_config_never_replaces_a_finished_record(tmp_path, finished, override):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".dotcli.lock"}
    proc = dot_run_in_process(*FAST, override, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 2
    line = last_line(proc.stderr)
    assert line.startswith("dot-run: error: ") and "finished record of another config" in line
    assert str(run / "result.json") in line and "hydra.run.dir" in line
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".dotcli.lock"}
    assert after == before  # the record, its .hydra/, its log: all as they were; no failed.json


def test_a_multirun_job_leaves_another_configs_finished_record_and_saved_config_alone(tmp_path, finished):
    sweep = tmp_path / "sweep"
    job = sweep / "0_gaussians25_dotcli_wgangp_dot"
    shutil.copytree(finished, job)
    before = saved(job)
    proc = dot_run_in_process("-m", *FAST, f"hydra.sweep.dir={sweep}", "seed=5", cwd=tmp_path)
    assert proc.returncode != 0 and "finished record of another config" in proc.stderr
    assert saved(job) == before  # the record, its .hydra/*.yaml, its figure (the log only gains lines)


def saved(run):
    """Every file of ``run`` but its log and lock (the lock's holder pid changes)."""
    return {p: p.read_bytes() for p in run.rglob("*")
            if p.is_file() and p.suffix != ".log" and p.name != ".dotcli.lock"}


@pytest.mark.parametrize("fails", ["samples.png", "result.json"])
def test_a_full_disk_during_a_run_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch, fails):
    import errno

    from dotcli import safe_write

    real = safe_write.write_atomic

    def full_at(path, write):
        if os.path.basename(path) == fails:
            def write_then_fail(f):
                write(f)
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(path, write_then_fail)
        return real(path, write)

    monkeypatch.setattr(safe_write, "write_atomic", full_at)
    run = tmp_path / "run"
    proc = dot_run_in_process(*FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 2
    line = last_line(proc.stderr)
    assert line == (f"dot-run: error: cannot write {run / fails} (no space left on the device); "
                    "nothing was written there")
    assert not (run / "result.json").exists() and not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("multirun", [False, True])
def test_a_file_where_hydra_saves_its_config_is_one_line(tmp_path, multirun):
    run = tmp_path / "sweep" / "0_gaussians25_dotcli_wgangp_dot" if multirun else tmp_path / "run"
    run.mkdir(parents=True)
    (run / ".hydra").write_text(VICTIM)
    where = [f"hydra.sweep.dir={tmp_path / 'sweep'}", "-m"] if multirun else [f"hydra.run.dir={run}"]
    proc = dot_run_in_process(*FAST, *where, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert last_line(proc.stderr) == (f"dot-run: error: cannot write into {run / '.hydra'}: it or a folder above it "
                                      "is a file, not a directory")
    assert (run / ".hydra").read_text() == VICTIM
