"""The files of dot-table: the index, the command line and its default output directory, and the committed
results/ rebuilt from the committed records."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from dotcli.records import write_json_atomic
from dotcli.tables import main, tabulate, write_tables
from tests.tables.records import record


def test_index_keeps_tables_written_earlier(tmp_path):
    write_tables([record()], tmp_path)
    write_tables([record(dataset="cifar10", kind="image", metrics={"fid": [3.0]}, params={})], tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    assert [t["family"] for t in index["tables"]] == ["toy", "cifar10"]
    assert "(toy.md)" in (tmp_path / "README.md").read_text()

def test_dot_table_cli_without_records(tmp_path, capsys):
    from dotcli import DotcliError

    with pytest.raises(DotcliError, match="no result.json"):
        main([str(tmp_path), "--out", str(tmp_path / "out")])
    write_json_atomic(tmp_path / "result.json", record())
    main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert Path(capsys.readouterr().out.splitlines()[-1]).name == "README.md"


RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_the_committed_tables_come_back_from_the_committed_records(tmp_path):
    """results/ is built from results/records (what dot-reproduce keeps): the same records give the same files."""
    index = json.loads((RESULTS / "index.json").read_text())["tables"]
    assert index, "results/index.json lists no table"
    tabulate([RESULTS / "records"], tmp_path)
    for entry in index:
        for name in entry["files"].values():  # md, csv, tex, wide csv: every number and every line
            assert (tmp_path / name).read_text() == (RESULTS / name).read_text(), f"results/{name} differs"
        assert {p for p in entry["figures"] if (tmp_path / p).is_file()} == set(entry["figures"])


def test_dot_table_writes_beside_the_records_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json_atomic(tmp_path / "sweep" / "0_dot" / "result.json", record())
    main(["sweep"])
    assert (tmp_path / "sweep" / "tables" / "toy.md").is_file() and not (tmp_path / "results").exists()
    main(["sweep/0_dot/result.json"])  # a record file: the tables go beside it
    assert (tmp_path / "sweep" / "0_dot" / "tables" / "toy.md").is_file()


def test_the_index_describes_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json_atomic(tmp_path / "sweep" / "0_dot" / "result.json", record())
    main(["sweep"])
    readme = (tmp_path / "sweep" / "tables" / "README.md").read_text()
    assert readme.startswith("# Tables\n") and "under `sweep`" in readme
    assert "`dot-table sweep --out sweep/tables` rewrites" in readme
    assert "make reproduce" not in readme and "records/" not in readme
    write_json_atomic(tmp_path / "res" / "records" / "toy" / "0" / "result.json", record())
    main(["res/records", "--out", "res"])  # the project's layout: results/ built from results/records
    assert "`make table` only rewrites them from `records/`" in (tmp_path / "res" / "README.md").read_text()


# ---------------------------------------------------------------- writes: links, full disks, places no file can go
TABLE_FILES = ["toy.md", "toy.csv", "toy.tex", "toy_wide.csv", "toy_samples.png", "README.md", "index.json"]


def records_with_a_figure(tmp_path: Path) -> Path:
    from matplotlib.figure import Figure

    run = tmp_path / "run"
    write_json_atomic(run / "result.json", {**record(), "figures": ["samples.png"]})
    fig = Figure(figsize=(3, 1))
    fig.subplots(1, 3)
    fig.savefig(run / "samples.png", dpi=20)
    return run


def test_every_table_file_replaces_a_link_never_its_target(tmp_path):
    run, out = records_with_a_figure(tmp_path), tmp_path / "out"
    out.mkdir()
    victims = []
    for i, name in enumerate(TABLE_FILES):
        victims.append(tmp_path / f"victim{i}")
        victims[-1].write_text("the user's own file\n")
        (out / name).symlink_to(victims[-1])
    written = tabulate([run], out)
    assert {p.name for p in written} >= set(TABLE_FILES)
    assert all(v.read_text() == "the user's own file\n" for v in victims)
    assert all((out / n).is_file() and not (out / n).is_symlink() for n in TABLE_FILES)


@pytest.mark.parametrize("where", ["afile", "afile/sub", "/proc", "/proc/dotcli_x", "/sys/dotcli_x"])
def test_dot_table_out_where_no_file_can_go_is_one_line(tmp_path, capsys, where):
    from dotcli.cli import table_main

    write_json_atomic(tmp_path / "run" / "result.json", record())
    (tmp_path / "afile").write_text("x")
    out = where if where.startswith("/") else str(tmp_path / where)
    if where.startswith("/") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    with pytest.raises(SystemExit) as exit_:
        table_main([str(tmp_path / "run"), "--out", out])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("dot-table: error: ") and out in err[0]
    assert "--out" in err[0] and (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_while_writing_tables_is_one_line_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch,
                                                                                 code):
    from dotcli.cli import table_main

    write_json_atomic(tmp_path / "run" / "result.json", record())
    out = tmp_path / "out"
    table_main([str(tmp_path / "run"), "--out", str(out)])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def full(fd):  # the third file's data does not fit
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        table_main([str(tmp_path / "run"), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and str(out / "toy.csv") in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # every file whole; no temporary left


@pytest.mark.parametrize("index", ['[1, 2]', '{"tables": 3}', '{"tables": [1, {"family": "x"}]}',
                                   '{"tables": [{"family": "x", "files": {"md": "../../etc/passwd"}, "cells": {}}]}'])
def test_an_index_that_is_not_one_is_rewritten(tmp_path, index):
    (tmp_path / "index.json").write_text(index)
    write_tables([record()], tmp_path)
    assert [t["family"] for t in json.loads((tmp_path / "index.json").read_text())["tables"]] == ["toy"]


def test_a_figure_outside_the_records_directory_is_left_out_in_one_line(tmp_path, capsys):
    run = records_with_a_figure(tmp_path)
    elsewhere = tmp_path / "elsewhere.png"
    (run / "samples.png").rename(elsewhere)
    for name in ["../elsewhere.png", str(elsewhere), "link.png"]:
        if name == "link.png":
            (run / "link.png").symlink_to(elsewhere)
        write_json_atomic(run / "result.json", {**record(), "figures": [name]})
        written = tabulate([run], tmp_path / "out")
        assert "toy_samples.png" not in {p.name for p in written}
        err = capsys.readouterr().err
        assert f"the file {name!r} it names is not inside its directory" in err and err.count("\n") == 1
