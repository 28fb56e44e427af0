"""The files of dot-table: the index, the command line and its default output directory, and the committed
results/ rebuilt from the committed records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dotcli.records import write_json_atomic
from dotcli.tables import main, write_tables
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
