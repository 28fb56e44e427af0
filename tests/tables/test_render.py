"""The text of a family: wide tables (Markdown, LaTeX, CSV), best cells, published numbers, skips vs failures,
the protocol line."""

from __future__ import annotations

import pandas as pd

from dotcli.tables import write_tables
from tests.tables.records import failure, record, skip


def test_wide_table_best_bold_paper_numbers_and_skips(tmp_path):
    recs = [record(model="tanaka_wgangp", method="none", metrics={"hq": [0.38, 0.40], "emd": [0.15, 0.16]}),
            record(model="tanaka_wgangp", method="dot", metrics={"hq": [0.70, 0.72], "emd": [0.11, 0.12]}),
            record(model="dotcli_wgangp", method="none", metrics={"hq": [0.30, 0.32], "emd": [0.16, 0.17]}),
            record(dataset="swissroll", method="dot", metrics={"emd": [0.20, 0.22]})]
    write_tables(recs, tmp_path, failures=[failure()], skips=[skip(model="dotcli_wgangp", method="dot")])
    md = (tmp_path / "toy.md").read_text()
    # rows = dataset / model, columns = method; the best cell of a row is bold; the paper's HQ beside its cell
    assert "| model | none | naive | DOT |" in md
    assert "| gaussians25 / tanaka_wgangp | 0.390 ± 0.014 | – | **0.710 ± 0.014** (paper 0.698 [1]) |" in md
    assert "[1] Tanaka 2019 (DOT), 2-D toy table" in md
    # a skip and a failure are written differently, the reason in the notes below the table
    assert "| gaussians25 / dotcli_wgangp | 0.310 ± 0.014 | *failed* | *skipped: checkpoint missing* |" in md
    assert "- **skipped** (gaussians25 / dotcli_wgangp: dot): checkpoint X not found" in md
    assert "- **failed** (gaussians25 / dotcli_wgangp: naive): method.eps=-1 is not valid" in md
    # swissroll has no HQ: it is only in the EMD table; no published number for it, and the table says so
    hq_table = md.split("## HQ")[1].split("## ")[0]
    assert "swissroll" not in hq_table and "| swissroll / dotcli_wgangp | – | – | 0.210 ± 0.014 |" in md
    assert "No published number is known here for swissroll" in md
    # the long table keeps every cell and the cost columns
    assert "| gaussians25 | tanaka_wgangp | dot | space=target, eps=0.01, steps=100 | 0 | 2 |" in md
    assert "wall s | G evals/sample | D evals/sample" in md
    tex = (tmp_path / "toy.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{0.710 $\pm$ 0.014}" in tex
    assert r"gaussians25 / tanaka\_wgangp" in tex and r"\textit{skipped: checkpoint missing}" in tex
    wide = pd.read_csv(tmp_path / "toy_wide.csv")
    assert set(wide.table) == {"HQ ↑", "EMD ↓"} and list(wide.columns[:3]) == ["table", "model", "none"]
    long = pd.read_csv(tmp_path / "toy.csv")
    assert set(long.status) == {"ok", "skipped", "failed"} and len(long) == 6

def test_image_table_protocol_line_and_unattributed_paper_rows(tmp_path):
    ev = {"feature_extractor": {"name": "inception-v3-compat", "weights_file": "weights-inception.pth",
                                "weights_sha256": "6726825d" + "0" * 56},
          "reference_set": "train+test", "reference_stats": {"n": 60000}, "fid_backend": "torch-fidelity",
          "is_splits": 10, "quantisation": "uint8 = round", "dataset": {"name": "cifar10"}}
    img = {"is_mean": [8.4], "is_std": [0.1], "fid": [20.5]}
    recs = [record(dataset="cifar10", kind="image", model="tanaka_sngan_ns", method=m, metrics=img, n=50000,
                   params={}, evaluation=ev) for m in ("none",)]
    recs.append(record(dataset="cifar10", kind="image", model="tanaka_sngan_ns", method="dot", n=50000,
                       metrics={"is_mean": [8.6], "is_std": [0.12], "fid": [19.0]}, params={"steps": 100},
                       evaluation=ev))
    write_tables(recs, tmp_path, skips=[skip(dataset="cifar10", model="tanaka_wgangp", method="dot",
                                             reason="needs a GPU", kind="image")])
    md = (tmp_path / "cifar10.md").read_text()
    assert "50000 samples per trial" in md and "reference: cifar10 train+test (60000 images)" in md
    assert "inception-v3-compat (weights-inception.pth sha256 6726825d0000)" in md
    assert "IS over 10 splits" in md and "quantisation: uint8 = round" in md and "dotcli 0.1.0" in md
    # IS mean ± its split std, then FID; bold per metric
    assert "| tanaka_wgangp | – | *skipped: checkpoint missing* |" in md
    assert "| tanaka_sngan_ns | 8.40 ± 0.10 / 20.50 | **8.60 ± 0.12** / **19.00** |" in md
    assert "| paper, model not named [1] | 7.85 / 21.53 | 8.50 / 19.71 |" in md
    assert "seed slides" in md and "row unknown" in md
    readme = (tmp_path / "README.md").read_text()
    assert "[CIFAR-10 (32px)](cifar10.md) | 2 | 1 | 0 |" in readme and "[tex](cifar10.tex)" in readme


def test_a_method_shows_as_its_record_declares_no_table_edit(tmp_path):
    """A sampler the tables never heard of: its label, order, parameter and cost columns come from the record;
    a method of this project is marked with a dagger and a legend line."""
    new = record(method="tempered", params={"temperature": 0.5, "ignored": 1},
                 cost={"wall_s": 1.0, "g_evals_per_sample": 2.0, "d_evals_per_sample": 2.0, "restarts": 0.25})
    new["method_info"] = {"label": "Tempered", "params": ["temperature"], "cost": ["restarts"], "ours": True,
                          "order": 5, "source": "dotcli"}
    write_tables([record(method="none"), record(method="dot"), new], tmp_path)
    md = (tmp_path / "toy.md").read_text()
    assert "| model | none | Tempered † | DOT |" in md  # order 5: between none (0) and DOT (30)
    assert "†: a method (or variant) of this project" in md
    assert "| gaussians25 | dotcli_wgangp | tempered | temperature=0.5 |" in md and "| restarts |" in md
    assert "0.250 | ok |" in md
    assert r"Tempered $\dagger$" in (tmp_path / "toy.tex").read_text()
    no_ours = tmp_path / "plain"
    write_tables([record(method="none"), record(method="dot")], no_ours)
    assert "†" not in (no_ours / "toy.md").read_text()
