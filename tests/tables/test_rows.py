"""Records -> rows: pooling across seeds and sweep directories, notes, the method's display from its record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dotcli.records import write_json_atomic
from dotcli.tables import build_rows, tabulate, variant_key
from tests.tables.records import record, skip


def test_seeds_pool_into_one_cell_and_the_newest_duplicate_wins():
    recs = [record(seed=0, metrics={"hq": [0.5, 0.6]}), record(seed=1, metrics={"hq": [0.7, 0.8]}),
            record(seed=1, metrics={"hq": [0.0, 0.0]}, created="2025-01-01T00:00:00"),  # older rerun of seed 1
            record(method="none", metrics={"hq": [0.3, 0.3]})]
    df = build_rows(recs)
    dot = df[df.method == "dot"].iloc[0]
    assert len(df) == 2 and dot.trials == 4 and dot.seeds == "0,1"
    assert dot.hq == pytest.approx(0.65) and dot.hq_std == pytest.approx(np.std([0.5, 0.6, 0.7, 0.8], ddof=1))
    assert variant_key(recs[0]) == variant_key(recs[1]) != variant_key(recs[3])

def test_sweep_directories_are_pooled_by_variant(tmp_path):
    for sweep, seed in (("sweep_a", 0), ("sweep_b", 1)):  # two multiruns, one seed each
        for i, method in enumerate(("none", "dot")):
            d = tmp_path / sweep / f"{i}_{method}"
            d.mkdir(parents=True)
            write_json_atomic(d / "result.json", record(method=method, seed=seed,
                                                        metrics={"hq": [0.4 + seed / 10 + i / 10]}))
    tabulate([tmp_path / "sweep_a", tmp_path / "sweep_b"], tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "toy.csv")
    assert list(csv.method) == ["none", "dot"] and list(csv.trials) == [2, 2] and list(csv.seeds) == ["0,1", "0,1"]
    assert csv.hq.tolist() == pytest.approx([0.45, 0.55])

def test_a_record_supersedes_a_skip_of_the_same_cell(tmp_path):
    df = build_rows([record(model="tanaka_wgangp")], skips=[skip(model="tanaka_wgangp")])
    assert list(df.status) == ["ok"]
