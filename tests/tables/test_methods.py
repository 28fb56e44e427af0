"""How a record's method is shown: its MethodInfo from the record, from its config's class, or by name."""

from __future__ import annotations

from dotcli.samplers.base import MethodInfo
from dotcli.samplers.dot import DOTSampler
from dotcli.samplers.drs import RejectionSampler
from dotcli.tables.methods import column_label, info_for_name, info_for_record, params_of
from tests.tables.records import record


def test_the_records_method_info_wins():
    rec = record(method="dot")
    rec["method_info"] = {"label": "DOT-x", "params": ["eps"], "cost": ["restarts"], "source": "dotcli",
                          "ours": True, "order": 35, "a_field_of_a_newer_dotcli": 1}
    info = info_for_record(rec)
    assert info == MethodInfo(label="DOT-x", params=("eps",), cost=("restarts",), source="dotcli", ours=True,
                              order=35)
    assert column_label(info) == "DOT-x †" and params_of(info, {"eps": 0.1, "steps": 3}) == {"eps": 0.1}


def test_an_older_record_reads_the_class_of_its_config():
    rec = record(method="drs")
    rec["config"]["method"]["_target_"] = "dotcli.samplers.drs.RejectionSampler"
    assert "method_info" not in rec and info_for_record(rec) == RejectionSampler.info


def test_a_method_known_only_by_name_reads_its_method_config():
    assert info_for_name("dot") == DOTSampler.info  # configs/method/dot.yaml's _target_
    assert info_for_record(record(method="dot")) == DOTSampler.info  # no method_info, no _target_
    unknown = info_for_name("no_such_method")
    assert unknown.label == "no_such_method" and unknown.order > DOTSampler.info.order and not unknown.ours
