"""Precision/recall/density/coverage in every family's tables, the truncation sweep's columns, and the
quality/diversity planes (<family>_precision_recall.png, <family>_density_coverage.png) drawn from records."""

from __future__ import annotations

import pandas as pd

from dotcli.tables import build_rows, write_tables
from dotcli.tables.figures import planes
from dotcli.tables.layout import add_labels
from tests.tables.records import record

PRDC = ("precision", "recall", "density", "coverage")


def cell(method: str, values: tuple[float, float, float, float], truncation: float | None = None,
         params: dict | None = None) -> dict:
    rec = record(dataset="fashion_mnist", model="dotcli_sndcgan", method=method, kind="image", n=10000,
                 params=params if params is not None else {},
                 metrics={"fid": [100.0], **{k: [v] for k, v in zip(PRDC, values, strict=True)}},
                 evaluation={"feature_extractor": {"name": "fmnist-classifier"}, "dataset": {"name": "fashion_mnist"},
                             "prdc": {"k_pr": 3, "k_dc": 5, "samples": 10000, "reference": 10000,
                                      "reference_subset": "fixed random subset (RandomState(2020))"}})
    rec["config"]["model"]["truncation"] = truncation
    return rec


RECORDS = [cell("none", (0.70, 0.60, 0.80, 0.70)), cell("none", (0.80, 0.30, 0.90, 0.40), truncation=0.5),
           cell("none", (0.75, 0.45, 0.85, 0.55), truncation=0.8),
           cell("dot", (0.74, 0.58, 0.82, 0.69), params={"space": "latent", "eps": 0.003, "steps": 40}),
           cell("drs", (0.78, 0.50, 0.95, 0.65))]


def test_the_four_metrics_are_columns_of_every_table_and_truncations_get_their_own(tmp_path):
    write_tables(RECORDS, tmp_path)
    md = (tmp_path / "fashion_mnist.md").read_text()
    assert "## precision ↑ / recall ↑ / density ↑ / coverage ↑" in md
    assert ("precision/recall: k=3 (<=), density/coverage k=5 (<); 10000 samples against 10000 reference points "
            "(fixed random subset (RandomState(2020)))") in md.splitlines()[2]
    assert "| model | none | none (truncation=0.5) | none (truncation=0.8) | DRS | DOT |" in md
    tex = (tmp_path / "fashion_mnist.tex").read_text()
    assert "precision" in tex and "coverage" in tex and "truncation=0.5" in tex
    csv = pd.read_csv(tmp_path / "fashion_mnist.csv")
    assert set(PRDC) <= set(csv.columns) and "truncation" in csv.columns
    assert sorted(csv[csv.method == "none"].params.fillna("")) == ["", "model.truncation=0.5", "model.truncation=0.8"]
    wide = pd.read_csv(tmp_path / "fashion_mnist_wide.csv")
    prdc_row = wide[wide.table == "precision ↑ / recall ↑ / density ↑ / coverage ↑"]
    assert list(prdc_row["none (truncation=0.5)"]) == ["0.800 / 0.300 / 0.900 / 0.400"]
    assert {"fashion_mnist_precision_recall.png", "fashion_mnist_density_coverage.png"} <= {
        p.name for p in tmp_path.iterdir()}


def test_planes_point_per_method_arrow_from_the_baseline_and_the_truncation_line():
    (plane,) = planes(add_labels(build_rows(RECORDS)), "precision", "recall")
    assert plane.title == "dotcli_sndcgan"
    assert {label for label, _, _ in plane.points} == {"none", "DOT", "DRS"}  # truncated cells are the line
    assert plane.base == (0.70, 0.60)  # the first method of the table: the bare generator
    assert sorted(plane.line) == [(0.5, 0.80, 0.30), (0.8, 0.75, 0.45), (float("inf"), 0.70, 0.60)]
    (dc,) = planes(add_labels(build_rows(RECORDS)), "density", "coverage")
    assert dc.base == (0.80, 0.70) and (0.95, 0.65) in [(x, y) for _, x, y in dc.points]


def test_no_plane_without_the_metrics(tmp_path):
    old = [record()]  # a toy record from before precision/recall existed
    assert planes(add_labels(build_rows(old)), "precision", "recall") == []
    written = {p.name for p in write_tables(old, tmp_path)}
    assert "toy_precision_recall.png" not in written and "precision" not in (tmp_path / "toy.md").read_text()


def test_stylegans_w_space_psi_is_a_truncation_and_psi_1_is_the_plain_generator():
    def psi_cell(values, psi):
        rec = cell("none", values)
        rec["config"]["model"].pop("truncation")
        rec["config"]["model"]["truncation_psi"] = psi
        return rec

    recs = [psi_cell((0.70, 0.60, 0.80, 0.70), 1.0), psi_cell((0.80, 0.30, 0.90, 0.40), 0.5)]
    df = add_labels(build_rows(recs))
    assert sorted(df.params.fillna("")) == ["", "model.truncation_psi=0.5"]
    (plane,) = planes(df, "precision", "recall")
    assert plane.base == (0.70, 0.60) and sorted(plane.line) == [(0.5, 0.80, 0.30), (float("inf"), 0.70, 0.60)]
