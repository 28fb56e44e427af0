"""The record's typed layout and its version: written into every record, checked when records are read."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dotcli import DotcliError
from dotcli.records import (
    SCHEMA_VERSION,
    Cost,
    Record,
    current_umask,
    load_records,
    read_record,
    write_json_atomic,
)

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
                  config={"seed": 0}, config_hash="0" * 16)
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
