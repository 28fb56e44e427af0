"""dot-table on hand-made records: pooling, the wide layout, published numbers, skips vs failures, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dotcli.paper.published import PAPER_ROWS, PUBLISHED, paper_rows, published_for
from dotcli.records import write_json_atomic
from dotcli.tables import build_rows, main, tabulate, variant_key, write_tables


def record(dataset="gaussians25", model="dotcli_wgangp", method="dot", seed=0, metrics=None, params=None,
           kind="toy", n=1000, created="2026-01-01T00:00:00", cost=None, by_step=None, evaluation=None):
    """A result record as dotcli.run writes it, with per-trial metric lists."""
    metrics = metrics or {"hq": [0.5, 0.7], "modes": [25.0, 25.0], "emd": [0.2, 0.1]}
    params = params if params is not None else ({"space": "target", "eps": 0.01, "steps": 100}
                                                if method in ("dot", "naive") else {})
    agg = {}
    for m, vals in metrics.items():
        agg.update({m: float(np.mean(vals)), f"{m}_std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                    f"{m}_trials": list(vals)})
    trials = len(next(iter(metrics.values())))
    config = {"dataset": {"name": dataset, "kind": kind}, "model": {"name": model},
              "method": {"name": method, **params}, "seed": seed, "n_samples": n, "trials": trials}
    return {"dataset": dataset, "model": model, "method": method, "params": {**params, "setup": [{}] * trials},
            "metrics": agg, "metrics_by_step": by_step or {},
            "cost": cost or {"wall_s": 2.0, "g_evals_per_sample": 1.0, "d_evals_per_sample": 100.0},
            "evaluation": evaluation or {"reference": "fresh data", "name": dataset}, "seed": seed, "trials": trials,
            "n_samples": n, "device": "cpu", "device_name": "test cpu", "versions": {"dotcli": "0.1.0"},
            "created": created, "config": config}


def skip(model="tanaka_wgangp", method="dot", dataset="gaussians25", reason="checkpoint X not found", kind="toy"):
    rec = record(dataset=dataset, model=model, method=method, kind=kind)
    return {"dataset": dataset, "model": model, "method": method, "skipped": ["checkpoint missing"],
            "reason": reason, "config": rec["config"], "created": "2026-01-01T00:00:00"}


def failure(model="dotcli_wgangp", method="naive", error="method.eps=-1 is not valid"):
    rec = record(model=model, method=method)
    return {"dataset": "gaussians25", "model": model, "method": method, "error": error, "config": rec["config"],
            "created": "2026-01-01T00:00:00"}


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


def test_a_record_supersedes_a_skip_of_the_same_cell(tmp_path):
    df = build_rows([record(model="tanaka_wgangp")], skips=[skip(model="tanaka_wgangp")])
    assert list(df.status) == ["ok"]


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


def test_index_keeps_tables_written_earlier(tmp_path):
    write_tables([record()], tmp_path)
    write_tables([record(dataset="cifar10", kind="image", metrics={"fid": [3.0]}, params={})], tmp_path)
    index = json.loads((tmp_path / "index.json").read_text())
    assert [t["family"] for t in index["tables"]] == ["toy", "cifar10"]
    assert "(toy.md)" in (tmp_path / "README.md").read_text()


def test_figures_from_metrics_by_step_and_an_eps_sweep(tmp_path):
    by_step = {str(s): {"hq": 0.3 + s / 1000, "hq_std": 0.0, "hq_trials": [0.3 + s / 1000]} for s in (0, 50, 100)}
    recs = [record(params={"space": "target", "eps": eps, "steps": 100}, metrics={"hq": [0.5 + eps]},
                   by_step=by_step) for eps in (0.003, 0.01, 0.03)]
    written = {p.name for p in write_tables(recs, tmp_path)}
    assert {"toy_by_step.png", "toy_sweep_eps.png"} <= written and "toy_sweep_steps.png" not in written
    assert (tmp_path / "toy_sweep_eps.png").stat().st_size > 10_000
    md = (tmp_path / "toy.md").read_text()  # one column per eps: the sweep's parameter names the columns
    assert "| model | DOT (eps=0.003) | DOT (eps=0.01) | DOT (eps=0.03) |" in md


def test_published_numbers_have_sources():
    for entry in PUBLISHED.values():
        assert all(p.source for p in entry.values())
    assert all(r.source and r.cells for r in PAPER_ROWS)
    assert published_for("gaussians25", "tanaka_wgangp", "dot")["hq"].value == 0.698
    assert {r.label for r in paper_rows("stl10")} == {"paper, model not named", "paper, best DOT entry, row unknown"}


def test_dot_table_cli_without_records(tmp_path, capsys):
    from dotcli import DotcliError

    with pytest.raises(DotcliError, match="no result.json"):
        main([str(tmp_path), "--out", str(tmp_path / "out")])
    write_json_atomic(tmp_path / "result.json", record())
    main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert Path(capsys.readouterr().out.splitlines()[-1]).name == "README.md"
