"""dotcli.safe_write: no file is written through a symlink or into a special file; a failed write (full disk,
read-only place) is one line naming the path and leaves nothing half-written behind."""

from __future__ import annotations

import errno
import logging
import os
import stat

import pytest

from dotcli import DotcliError
from dotcli.safe_write import (
    SafeFileHandler,
    check_writable_dir,
    open_regular,
    save_figure,
    write_atomic,
    write_text_atomic,
)

VICTIM = "the user's own file\n"


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM)
    return path


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("name", ["result.json", "toy.md", "index.json", "samples.npz"])
def test_an_atomic_write_replaces_a_link_never_its_target(tmp_path, victim, name):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(victim)
    write_text_atomic(out / name, "new\n")
    assert victim.read_text() == VICTIM
    assert not (out / name).is_symlink() and (out / name).read_text() == "new\n"


def test_a_dangling_link_and_a_fifo_are_replaced_too(tmp_path):
    (tmp_path / "a.json").symlink_to(tmp_path / "nowhere" / "x.json")
    os.mkfifo(tmp_path / "b.json")
    for name in ("a.json", "b.json"):
        write_text_atomic(tmp_path / name, "{}\n")
        assert stat.S_ISREG(os.lstat(tmp_path / name).st_mode)
    assert not (tmp_path / "nowhere").exists()


def test_a_directory_in_the_way_is_one_line(tmp_path):
    (tmp_path / "samples.png").mkdir()
    with pytest.raises(DotcliError, match="samples.png: a directory is in the way"):
        write_text_atomic(tmp_path / "samples.png", "x")


def test_a_figure_is_saved_without_following_a_link(tmp_path, victim):
    from matplotlib.figure import Figure

    (tmp_path / "samples.png").symlink_to(victim)
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    save_figure(fig, tmp_path / "samples.png", dpi=20)
    assert victim.read_text() == VICTIM
    assert (tmp_path / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_a_full_disk_or_read_only_place_is_one_line_and_leaves_the_old_file(tmp_path, code):
    path = tmp_path / "result.json"
    path.write_text("old\n")

    def fail(f):
        f.write(b"half")
        raise OSError(code, os.strerror(code))

    with pytest.raises(DotcliError) as err:
        write_atomic(path, fail)
    line = str(err.value)
    assert str(path) in line and "\n" not in line and "nothing was written" in line
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []


def test_a_rename_refused_by_the_file_system_leaves_no_temporary_file(tmp_path, monkeypatch):
    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(DotcliError, match="read-only file system"):
        write_text_atomic(tmp_path / "toy.md", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["afile/sub", "afile"])
def test_a_directory_that_cannot_exist_is_one_line(tmp_path, where):
    (tmp_path / "afile").write_text("x")  # a path under a file: refused even for root
    with pytest.raises(DotcliError) as err:
        write_text_atomic(tmp_path / where / "toy.md", "x")
    assert str(tmp_path / where) in str(err.value) and "not a directory" in str(err.value)
    with pytest.raises(DotcliError, match="choose another with --out"):
        check_writable_dir(tmp_path / where, "--out")
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("place", ["/proc", "/proc/dotcli_x", "/sys/dotcli_x"])
def test_kernel_file_systems_are_refused_in_one_line(place):
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    with pytest.raises(DotcliError) as err:
        check_writable_dir(place, "--out")
    assert place in str(err.value) and "\n" not in str(err.value)


def test_open_regular_refuses_links_and_special_files(tmp_path, victim):
    (tmp_path / "link").symlink_to(victim)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    os.link(victim, tmp_path / "hard")
    for name, what in (("link", "symbolic link"), ("fifo", "not a regular file"), ("dir", "not a regular file"),
                       ("hard", "other hard links")):
        with pytest.raises(DotcliError, match=what):
            open_regular(tmp_path / name, os.O_RDWR | os.O_CREAT)
    assert victim.read_text() == VICTIM
    fd = open_regular(tmp_path / "plain", os.O_RDWR | os.O_CREAT)
    os.close(fd)


@pytest.mark.parametrize("kind", ["link", "dangling link", "fifo", "hard link"])
def test_the_log_handler_replaces_a_link_or_fifo_with_its_own_file(tmp_path, victim, kind):
    log = tmp_path / "dot-run.log"
    if kind == "hard link":
        os.link(victim, log)
    elif kind == "link":
        log.symlink_to(victim)
    elif kind == "dangling link":
        log.symlink_to(tmp_path / "elsewhere.log")
    else:
        os.mkfifo(log)
    handler = SafeFileHandler(log)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    handler.emit(record)
    handler.close()
    assert victim.read_text() == VICTIM and not (tmp_path / "elsewhere.log").exists()
    assert not log.is_symlink() and log.read_text() == "hello\n"


def test_hydra_configs_are_saved_beside_a_link_never_through_it(tmp_path, victim):
    from omegaconf import OmegaConf

    from dotcli.callbacks import save_yaml_config

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").symlink_to(victim)
    save_yaml_config(OmegaConf.create({"seed": 1}), "config.yaml", run / ".hydra")
    assert victim.read_text() == VICTIM and (run / ".hydra" / "config.yaml").read_text() == "seed: 1\n"
    elsewhere = tmp_path / "elsewhere"  # .hydra itself a link to a directory of someone else's
    elsewhere.mkdir()
    other = tmp_path / "run2"
    other.mkdir()
    (other / ".hydra").symlink_to(elsewhere)
    save_yaml_config(OmegaConf.create({"seed": 2}), "hydra.yaml", other / ".hydra")
    assert list(elsewhere.iterdir()) == [] and (other / ".hydra" / "hydra.yaml").read_text() == "seed: 2\n"
    assert not (other / ".hydra").is_symlink()


def test_a_log_that_cannot_be_written_is_one_warning_not_a_traceback_per_line(tmp_path, capsys):
    handler = SafeFileHandler(tmp_path / "dot-run.log")

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

    handler.stream = Full()
    for i in range(3):
        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, f"line {i}", None, None))
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dot-run: warning: cannot write the log {tmp_path / 'dot-run.log'} (no space left on the device); "
                   "the run goes on without it"]
