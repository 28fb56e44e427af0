"""The files of dot-table: the index, the command line and its default output directory, and the committed
results/ rebuilt from the committed records."""

from __future__ import annotations

import json
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
