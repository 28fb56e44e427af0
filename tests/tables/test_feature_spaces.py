"""Tables say which resize a feature space used, and show intra-class FID (with its reference split) when
records have it."""

from __future__ import annotations

from dotcli.tables import write_tables
from tests.tables.records import record


def test_resize_and_intra_fid_reach_the_table(tmp_path):
    ev = {"feature_extractor": {"name": "dinov2-vit-l-14", "weights_file": "dinov2_vitl14_pretrain.pth",
                                "weights_sha256": "ab" * 32},
          "resize": "torch-fidelity TF1-compatible bilinear to 224 (not dgm-eval's PIL bicubic)",
          "reference_set": "train", "reference_stats": {"n": 50000}, "dataset": {"name": "cifar10"},
          "intra_fid": {"reference_split": "train", "reference_stats": {"classes": 10},
                        "trials": [{"samples_per_class": [480, 520, 500]}]}}
    recs = [record(dataset="cifar10", kind="image", model="tanaka_sngan_ns", method=m, n=5000, params={},
                   metrics={"fid": [f], "intra_fid": [i]}, evaluation=ev)
            for m, f, i in (("none", 300.0, 900.0), ("dot", 290.0, 880.0))]
    write_tables(recs, tmp_path)
    md = (tmp_path / "cifar10.md").read_text()
    assert "resize: torch-fidelity TF1-compatible bilinear to 224 (not dgm-eval's PIL bicubic)" in md
    assert "intra-FID: reference split train by class (10 classes), 480-520 samples per class" in md
    assert "intra-FID ↓" in md and "**880.00**" in md


def test_no_intra_fid_panel_without_intra_fid(tmp_path):
    ev = {"feature_extractor": {"name": "inception-v3-compat"}, "reference_set": "train",
          "dataset": {"name": "cifar10"}}
    write_tables([record(dataset="cifar10", kind="image", model="tanaka_sngan_ns", method="none", n=50,
                         params={}, metrics={"fid": [30.0]}, evaluation=ev)], tmp_path)
    md = (tmp_path / "cifar10.md").read_text()
    assert "intra-FID" not in md and "resize:" not in md
