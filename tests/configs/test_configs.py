"""Every config composes, and what can be built offline is built from it (lightning-hydra-template style).

Each option of each config group is composed with Hydra's compose API (the others at their defaults, or at a
dataset it fits), every experiment too; then the samplers, datasets, evaluations (metrics=none) and the
models that need no download are instantiated through the runner's own ``build`` / ``load_pair``, so a key
in a YAML file that its class does not take fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose
from omegaconf import DictConfig, OmegaConf

import dotcli.resolvers  # noqa: F401  (registers the ${dotcli_*:} resolvers the configs use)
from dotcli import DotcliError
from dotcli.runner import RUNNER_METHOD_KEYS, build, load_pair

CONFIGS = Path(__file__).resolve().parents[2] / "dotcli" / "configs"
TOYS = ("gaussians25", "swissroll")


def options(group: str) -> list[str]:
    """The selectable options of a group (``_base/`` holds shared parts, not options)."""
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def composed(*overrides: str, hydra: bool = False) -> DictConfig:
    return compose("run", overrides=list(overrides), return_hydra_config=hydra)


def test_groups_have_the_expected_options():
    assert {"gaussians25", "swissroll", "cifar10", "stl10", "imagenet", "fashion_mnist"} <= set(options("dataset"))
    assert {"none", "naive", "drs", "dot"} <= set(options("method"))
    assert {"default", "none", "fmnist"} <= set(options("metrics"))
    assert {"toy_table", "cifar10_table", "stl10_table", "imagenet_table"} <= set(options("experiment"))


@pytest.mark.parametrize("group", ["dataset", "model", "method", "metrics", "paths"])
def test_every_option_composes_and_resolves(hydra_configs, group):
    for option in options(group):
        cfg = composed(f"{group}={option}")
        plain = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        assert plain[group] is not None, option
        if group in ("dataset", "model", "method"):
            assert plain[group]["name"] == option


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_with_a_grid_of_existing_options(hydra_configs, experiment):
    cfg = composed(f"experiment={experiment}", hydra=True)
    params = cfg.hydra.sweeper.params
    assert {"dataset", "model", "method"} <= set(params)
    for group, values in params.items():
        if "." in group:  # a swept key (method.eps=...), not a config group
            continue
        for value in str(values).split(","):
            assert value in options(group), f"{experiment}: {group}={value} is not an option"
    assert cfg.preflight.skip_unavailable is True
    assert "${dotcli_cell:}" in OmegaConf.to_yaml(cfg.hydra.sweep)  # fixed, resumable cell directories
    first = {g: str(v).split(",")[0] for g, v in params.items()}
    cell = composed(f"experiment={experiment}", *(f"{g}={v}" for g, v in first.items()))
    OmegaConf.to_container(cell, resolve=True)


def test_the_image_tables_share_one_grid(hydra_configs):
    grids = {}
    for experiment in ("cifar10_table", "stl10_table"):
        params = dict(composed(f"experiment={experiment}", hydra=True).hydra.sweeper.params)
        grids[experiment] = (params.pop("dataset"), params)
    assert grids["cifar10_table"][0] == "cifar10" and grids["stl10_table"][0] == "stl10"
    assert grids["cifar10_table"][1] == grids["stl10_table"][1]


@pytest.mark.parametrize("dataset", ["gaussians25", "cifar10"])
def test_every_method_builds_its_sampler(hydra_configs, dataset):
    for method in options("method"):
        cfg = composed(f"dataset={dataset}", f"method={method}")
        spec = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items()
                if k not in RUNNER_METHOD_KEYS}
        sampler = build(spec, "method", "method")
        assert sampler.name == method


def test_naive_has_the_keys_and_defaults_of_dot(hydra_configs):
    for dataset in ("gaussians25", "cifar10", "imagenet"):
        dot = OmegaConf.to_container(composed(f"dataset={dataset}", "method=dot").method, resolve=True)
        naive = OmegaConf.to_container(composed(f"dataset={dataset}", "method=naive").method, resolve=True)
        assert {k: v for k, v in naive.items() if k not in ("name", "_target_")} == \
            {k: v for k, v in dot.items() if k not in ("name", "_target_")}


@pytest.mark.parametrize("dataset", options("dataset"))
def test_every_dataset_builds_its_data_and_evaluation(hydra_configs, tmp_path, dataset):
    cfg = composed(f"dataset={dataset}", "metrics=none", f"paths.data={tmp_path}", "paths.allow_download=false")
    data = build(cfg.dataset.data, "dataset", "dataset.data")  # constructors read no file
    evaluation = build(cfg.dataset.evaluation, "evaluation", "dataset.evaluation", dataset=data,
                       metrics=cfg.metrics, device=torch.device("cpu"))
    assert cfg.dataset.kind in ("toy", "image") and evaluation is not None
    if cfg.dataset.kind == "toy":
        x = data.sample(50, torch.Generator().manual_seed(0))
        assert x.shape == (50, 2) and torch.isfinite(x).all()
        assert cfg.dataset.refine.space == "target"
    else:
        assert cfg.dataset.refine.space == "latent"


@pytest.mark.parametrize(("model", "dataset", "extra"), [
    ("dotcli_wgangp", "gaussians25", []), ("dotcli_wgangp", "swissroll", []),
    ("dotcli_sndcgan", "fashion_mnist", []), ("random_dcgan32", "cifar10", ["model.ch=16"]),
    ("random_dcgan32", "stl10", ["model.ch=16", "model.bottom_width=6"]),
])
def test_offline_models_load(hydra_configs, model, dataset, extra):
    cfg = composed(f"dataset={dataset}", f"model={model}", *extra)
    pair = load_pair(cfg)
    score = pair.discriminate(pair.generate(pair.sample_z(3, torch.Generator().manual_seed(0))))
    assert score.shape == (3,) and torch.isfinite(score).all()


@pytest.mark.parametrize(("where", "override", "allowed"), [
    ("method.epss", "+method.epss=0.1", "eps"),
    ("dataset.data.nois", "+dataset.data.nois=0.1", "noise"),
])
def test_a_mistyped_key_is_one_error_naming_it_and_the_allowed_keys(hydra_configs, where, override, allowed):
    cfg = composed("dataset=swissroll", "method=dot", override)
    node, what = (cfg.method, "method") if where.startswith("method") else (cfg.dataset.data, "dataset.data")
    spec = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k not in RUNNER_METHOD_KEYS}
    with pytest.raises(DotcliError) as err:
        build(spec, what, what)
    message = str(err.value)
    assert "\n" not in message and message.startswith(where) and "allowed keys: " in message
    assert allowed in message.split("allowed keys: ")[1].split(", ")


def test_a_mistyped_evaluation_key_is_an_error(hydra_configs):
    cfg = composed("dataset=cifar10", "metrics=none", "+dataset.evaluation.grid_sise=8")
    with pytest.raises(DotcliError, match=r"dataset\.evaluation\.grid_sise.*allowed keys: .*grid_size"):
        build(cfg.dataset.evaluation, "evaluation", "dataset.evaluation", dataset=None, metrics=cfg.metrics,
              device=torch.device("cpu"))
