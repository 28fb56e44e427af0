"""The headline command, ``dot-run method=dot dataset=cifar10``: each dataset picks its model (an explicit
``model=`` wins), a machine without the files gets the whole recipe in one message, and with author-format
files in $DOTCLI_CHECKPOINTS the command runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hydra import compose

import dotcli.resolvers  # noqa: F401  (registers the resolvers the configs use)
from tests.inprocess import dot_run_in_process
from tests.models import chainer_specs as specs
from tests.test_cli import dot_run, last_line

DRIVE = "https://drive.google.com/drive/folders/1UpWndW2xz0X8XaQZNyfSOjyiTbMfWEVs"  # the DOT README's link
G_FILE, D_FILE = "DCGAN_G_CIFAR_SNGAN_NonSaturating_150001.npz", "DCGAN_D_CIFAR_SNGAN_NonSaturating_150001.npz"
# dataset -> (its model, its metrics' feature extractor) when the command line names neither
DEFAULTS = {"cifar10": ("tanaka_sngan_ns", "inception-v3-compat"), "stl10": ("tanaka_sngan_ns", "inception-v3-compat"),
            "imagenet": ("pfn_sngan_projection", "inception-v3-compat"),
            "fashion_mnist": ("dotcli_sndcgan", "fmnist-classifier"),
            "gaussians25": ("dotcli_wgangp", "inception-v3-compat"),
            "swissroll": ("dotcli_wgangp", "inception-v3-compat")}


@pytest.mark.parametrize("dataset", sorted(DEFAULTS))
def test_each_dataset_picks_its_model_and_the_command_line_wins(hydra_configs, dataset):
    model, extractor = DEFAULTS[dataset]
    cfg = compose("run", overrides=["method=dot", f"dataset={dataset}"])
    assert (cfg.model.name, cfg.metrics.feature_extractor, cfg.method.name) == (model, extractor, "dot")
    for other in ("random_dcgan32", "tanaka_wgangp"):
        assert compose("run", overrides=[f"dataset={dataset}", f"model={other}"]).model.name == other
    chosen = compose("run", overrides=[f"dataset={dataset}", "metrics=default", "model=custom"])
    assert (chosen.model.name, chosen.metrics.feature_extractor) == ("custom", "inception-v3-compat")


def test_the_headline_command_resolves_to_the_papers_model(tmp_path):
    proc = dot_run("method=dot", "dataset=cifar10", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job = yaml.safe_load(proc.stdout)
    names = (job["model"]["name"], job["dataset"]["name"], job["method"]["name"])
    assert names == ("tanaka_sngan_ns", "cifar10", "dot")


def test_missing_files_give_the_whole_recipe_in_one_message(tmp_path):
    proc = dot_run("method=dot", "dataset=cifar10", "paths.allow_download=false", f"paths.data={tmp_path / 'data'}",
                   "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 2
    message = proc.stderr[proc.stderr.index("dot-run: error: "):]
    for part in (G_FILE, D_FILE, DRIVE, "$DOTCLI_CHECKPOINTS", "paths.checkpoints",
                 "model=collections_sngan model.checkpoint=", "model=random_dcgan32",
                 "cifar-10-batches-py", "Inception weights"):
        assert part in message, part
    assert len(message.strip().splitlines()) <= 8  # a few lines: checkpoints, what runs without, data, weights
    failed = json.loads((tmp_path / "out" / "failed.json").read_text())
    assert G_FILE in failed["error"] and not (tmp_path / "out" / "result.json").exists()


def test_the_headline_command_runs_with_author_format_files(tmp_path):
    """Full-width (ch=512) random weights in the author's Chainer layout, under the original names (dot-run's
    Hydra app in this process: tests/inprocess.py)."""
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    specs.write_npz(ckpt / G_FILE, specs.random_arrays(specs.dcgan_generator(4), seed=0, scale=0.02))
    specs.write_npz(ckpt / D_FILE, specs.random_arrays(specs.sndcgan_discriminator(4), seed=1, scale=0.02))
    proc = dot_run_in_process("method=dot", "dataset=cifar10", "metrics=none", "n_samples=4", "batch_size=4",
                              "method.steps=2", "method.k_eff_pairs=4", "hydra.run.dir=out", cwd=tmp_path,
                              env={"DOTCLI_CHECKPOINTS": str(ckpt)})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(Path(tmp_path / last_line(proc.stdout)).read_text())
    assert (record["dataset"], record["model"], record["method"]) == ("cifar10", "tanaka_sngan_ns", "dot")
    assert record["params"]["space"] == "latent" and record["params"]["setup"][0]["k_eff"] > 0
    assert record["schema_version"] == 1
    log = (tmp_path / "out" / "dot-run.log").read_text()
    assert "model=tanaka_sngan_ns" in log and "k_eff" in log and "record: " in log
