"""The record's typed layout and its version: written into every record, checked when records are read; a file
that is not what it claims is set aside, refused or left out in one line; a file a record names stays inside its
directory."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dotcli import DotcliError
from dotcli.records import (
    FAILURE_NAME,
    SCHEMA_VERSION,
    Cost,
    Record,
    RecordConflict,
    claim_run_dir,
    config_hash,
    current_umask,
    finished_record,
    load_records,
    read_record,
    record_file,
    record_problem,
    write_json_atomic,
)
from tests.finished import finished_record_json

# the keys of a record before schema_version existed (version 0): tables read them by these names
V0_KEYS = ["dataset", "model", "method", "method_info", "params", "metrics", "metrics_by_step", "cost",
           "evaluation", "seed", "trials", "n_samples", "device", "device_name", "versions", "created", "figures",
           "config", "config_hash"]


def a_record(**changes) -> Record:
    cost = Cost(wall_s=2.0, setup_s=0.5, sample_s=1.0, eval_s=0.25, g_evals_per_sample=1.0,
                d_evals_per_sample=10.0, setup_g_evals=200, setup_d_evals=200, sampler={"acceptance_rate": 0.5})
    fields = dict(dataset="gaussians25", model="dotcli_wgangp", method="dot", method_info={"label": "DOT"},
                  params={"eps": 0.01, "setup": [{"k_eff": 1.0}]}, metrics={"hq": 0.9}, metrics_by_step={},
                  cost=cost, evaluation={}, seed=0, trials=1, n_samples=10, device="cpu", device_name="x",
                  versions={"dotcli": "0"}, created="2026-01-01T00:00:00+00:00", figures=["samples.png"],
                  config={"seed": 0}, config_hash=config_hash({"seed": 0}))
    return Record(**{**fields, **changes})


def test_record_json_keeps_the_v0_keys_and_adds_the_version(tmp_path):
    path = write_json_atomic(tmp_path / "result.json", a_record())
    data = json.loads(path.read_text())
    assert list(data) == [*V0_KEYS, "model_notes", "schema_version"] and data["schema_version"] == SCHEMA_VERSION == 1
    # the sampler's own counters sit beside the runner's, as before
    assert data["cost"] == {"wall_s": 2.0, "setup_s": 0.5, "sample_s": 1.0, "eval_s": 0.25, "g_evals_per_sample": 1.0,
                            "d_evals_per_sample": 10.0, "setup_g_evals": 200, "setup_d_evals": 200,
                            "acceptance_rate": 0.5}


def test_records_without_a_version_are_version_0_and_load(tmp_path):
    old = a_record().to_json()
    old.pop("schema_version")
    write_json_atomic(tmp_path / "a" / "result.json", old)
    write_json_atomic(tmp_path / "b" / "result.json", a_record())
    loaded = load_records([tmp_path])
    assert [r.get("schema_version", 0) for r in loaded] == [0, 1]


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, -1, "1"])
def test_a_record_of_an_unknown_version_is_refused_in_one_line(tmp_path, version):
    path = write_json_atomic(tmp_path / "run" / "result.json", a_record(schema_version=version))
    with pytest.raises(DotcliError) as err:
        load_records([tmp_path])
    assert str(path) in str(err.value) and "schema_version" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DotcliError):
        read_record(path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_write_json_atomic_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        path = write_json_atomic(tmp_path / "r.json", {"a": 1})
        plain = tmp_path / "plain"
        plain.write_text("x")  # what open() gives under this umask
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == '{\n  "a": 1\n}\n' and [p.name for p in tmp_path.iterdir()] != []
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------- records are what they claim

CONFIG = {"dataset": {"name": "gaussians25"}, "model": {"name": "dotcli_wgangp"}, "method": {"name": "dot"}, "seed": 0}


@pytest.mark.parametrize("data, slug", [
    ([1, 2], "not-an-object"),
    ("a string", "not-an-object"),
    (None, "not-an-object"),
    ({"config_hash": config_hash(CONFIG)}, "incomplete"),
    ({**finished_record_json(CONFIG), "metrics": [0.5]}, "malformed"),
    ({**finished_record_json(CONFIG), "seed": True}, "malformed"),
    ({**finished_record_json(CONFIG), "figures": [3]}, "malformed"),
    ({**finished_record_json(CONFIG), "schema_version": 99}, "unknown-version"),
    ({**finished_record_json(CONFIG), "config": {**CONFIG, "seed": 1}}, "hash-mismatch"),
])
def test_what_is_not_a_finished_record(data, slug):
    problem = record_problem(data, check_hash=True)
    assert problem is not None and problem[0] == slug and "\n" not in problem[1]
    assert record_problem(finished_record_json(CONFIG), check_hash=True) is None


@pytest.mark.parametrize("text, slug", [("[]", "not-an-object"), ("{", "not-json"), ("", "not-json"),
                                        (json.dumps({"config_hash": config_hash(CONFIG)}), "incomplete")])
def test_a_run_dir_with_a_bad_record_is_set_aside_never_lost(tmp_path, capsys, text, slug):
    (tmp_path / "result.json").write_text(text)
    assert finished_record(tmp_path, config_hash(CONFIG)) is None
    assert claim_run_dir(tmp_path, config_hash(CONFIG)) is None
    assert (tmp_path / f"result.json.{slug}").read_text() == text and not (tmp_path / "result.json").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "result.json") in err and f"result.json.{slug}" in err
    (tmp_path / "result.json").write_text(text)  # a second bad one never replaces the first one set aside
    claim_run_dir(tmp_path, config_hash(CONFIG))
    assert (tmp_path / f"result.json.{slug}.1").read_text() == text


@pytest.mark.parametrize("other", [{**CONFIG, "seed": 5}, {**CONFIG, "method": {"name": "none"}}])
def test_a_finished_record_of_another_config_is_never_claimed(tmp_path, other):
    write_json_atomic(tmp_path / "result.json", finished_record_json(CONFIG))
    before = (tmp_path / "result.json").read_text()
    assert claim_run_dir(tmp_path, config_hash(CONFIG)) == tmp_path / "result.json"
    with pytest.raises(RecordConflict) as err:
        claim_run_dir(tmp_path, config_hash(other))
    assert str(tmp_path / "result.json") in str(err.value) and "\n" not in str(err.value)
    assert (tmp_path / "result.json").read_text() == before


@pytest.mark.parametrize("content", ["[1]", "{nope", json.dumps({"dataset": "x"}), json.dumps({"metrics": {}}),
                                     json.dumps({**a_record().to_json(), "config": {"seed": 3}})])  # edited config
def test_tables_leave_out_a_malformed_record_in_one_line_and_read_the_others(tmp_path, capsys, content):
    write_json_atomic(tmp_path / "good" / "result.json", a_record())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "result.json").write_text(content)
    (tmp_path / "bad" / FAILURE_NAME).write_text(content)
    assert [r["_path"] for r in load_records([tmp_path], warn="dot-table")] == [str(tmp_path / "good" / "result.json")]
    assert load_records([tmp_path], FAILURE_NAME, warn="dot-table") == []
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("dot-table: warning: ") for line in lines)
    assert str(tmp_path / "bad" / "result.json") in lines[0] and "left out" in lines[0]
    with pytest.raises(DotcliError, match="bad/result.json"):  # without warn: an error naming the file
        load_records([tmp_path])


def test_a_file_a_record_names_stays_inside_its_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "samples.png").write_text("png")
    (run / "sub").mkdir()
    (run / "out.png").symlink_to(tmp_path / "secret.png")
    (run / "in.png").symlink_to(run / "samples.png")
    rec = run / "result.json"
    assert record_file(rec, "samples.png") == run / "samples.png"
    assert record_file(rec, "in.png") == run / "in.png"  # a link that stays inside
    for name in ["../secret.png", "/etc/passwd", "sub/../../x", "out.png", "", None, 3, ["a"]]:
        with pytest.raises(DotcliError) as err:
            record_file(rec, name)
        assert str(rec) in str(err.value) and "not inside its directory" in str(err.value)
