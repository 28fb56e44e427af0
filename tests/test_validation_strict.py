"""No silent acceptance (issue 23, item 8): booleans are booleans, ``+key`` adds only keys something reads, keys
this run does not use are named, ``method.record_every`` is never negative, the seed's real limit is said."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_module

import dotcli.resolvers  # noqa: F401  (the configs use ${dotcli_*:})
from dotcli import DotcliError
from dotcli.validation import SEED_LIMIT, check_config, check_run
from tests.inprocess import dot_run_in_process


@pytest.fixture(scope="module")
def composed():
    """``compose(overrides) -> (cfg, overrides)`` with dot-run's packaged configs."""
    with initialize_config_module("dotcli.configs", version_base="1.3"):
        yield lambda *ov: (compose("run", overrides=list(ov)), list(ov))


def _error(composed, *overrides: str) -> str:
    cfg, ov = composed(*overrides)
    with pytest.raises(DotcliError) as err:
        check_config(cfg, ov)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("override,key", [
    ("save_samples=no", "save_samples='no'"), ("save_samples=1", "save_samples=1"),
    ("save_samples=yes", "save_samples='yes'"), ("metrics.kid=off", "metrics.kid='off'"),
    ("paths.allow_download=0", "paths.allow_download=0"),
    ("preflight.skip_unavailable=maybe", "preflight.skip_unavailable='maybe'"),
    ("method.clip_target=no", "method.clip_target='no'"),
])
def test_booleans_accept_only_booleans(composed, override, key):
    msg = _error(composed, override)
    assert msg.startswith(key) and msg.endswith("expected true or false")


@pytest.mark.parametrize("override", ["save_samples=true", "save_samples=false", "metrics.kid=true",
                                      "paths.allow_download=false"])
def test_real_booleans_pass(composed, override):
    cfg, ov = composed(override)
    check_config(cfg, ov)


@pytest.mark.parametrize("override,expected", [
    ("metrics.is_splits=2.5", "metrics.is_splits=2.5 is not valid; expected an integer"),
    ("metrics.fid_eps=abc", "metrics.fid_eps='abc' is not valid; expected a finite number"),
    ("metrics.feature_batch_size=abc", "metrics.feature_batch_size='abc' is not valid; expected an integer"),
])
def test_metric_keys_have_their_defaults_types(composed, override, expected):
    assert _error(composed, override) == expected


@pytest.mark.parametrize("override,expected", [
    ("+unknown_key=3", "unknown_key is not a key of dot-run's config (a typo?); the keys are: batch_size"),
    ("+seeed=1", "seeed is not a key of dot-run's config (a typo?); did you mean seed?"),
    ("+metrics.kidd=true", "metrics.kidd is not a key of dot-run's config (a typo?); did you mean metrics.kid?"),
    ("+paths.checkpoint=/x", "paths.checkpoint is not a key of dot-run's config (a typo?); did you mean "
                             "paths.checkpoints?"),
    ("+model.fo=1", "+model.fo=1: model.fo is not a key dotcli reads (model has no 'fo'"),
    ("+model.G.z_dim=3", "+model.G.z_dim=3: model.G.z_dim is not a key dotcli reads (model has no 'G'"),
    ("+dataset.protocl.trials=2", "+dataset.protocl.trials=2: dataset.protocl.trials is not a key dotcli reads "
                                  "(dataset has no 'protocl'; did you mean dataset.protocol?"),
    ("++seeed=3", "seeed is not a key of dot-run's config"),
])
def test_added_keys_nothing_reads_are_errors(composed, override, expected):
    assert _error(composed, override).startswith(expected)


@pytest.mark.parametrize("overrides", [("model=custom", "+model.G.z_dim=3"), ("+dataset.data.noise=0.1",),
                                       ("++seed=3",)])
def test_added_keys_under_a_target_are_left_to_its_constructor(composed, overrides):
    cfg, ov = composed(*overrides)
    check_config(cfg, ov)  # model.G / dataset.data are built from _target_: their constructors name bad keys


@pytest.mark.parametrize("overrides,expected", [
    (("metrics.inception_weights=/x.pth",), "metrics.inception_weights is not used with dataset=gaussians25"),
    (("metrics=fmnist",), "metrics=fmnist is not used with dataset=gaussians25"),
    (("metrics.kid=true",), "metrics.kid is not used with dataset=gaussians25"),
    (("metrics=none",), "metrics=none is not used with dataset=gaussians25: the 2-D toys are always scored"),
    (("dataset=fashion_mnist", "metrics.inception_weights=/x.pth"),
     "metrics.inception_weights is not used: metrics.feature_extractor=fmnist-classifier does not read"),
    (("dataset=cifar10", "metrics=fmnist", "metrics.inception_weights=/x.pth"),
     "metrics.inception_weights is not used: metrics.feature_extractor=fmnist-classifier"),
    (("dataset=cifar10", "metrics.kid_subsets=5"), "metrics.kid_subsets is not used without metrics.kid=true"),
    (("dataset=cifar10", "metrics=none", "metrics.kid=true", "save_samples=true"),
     "metrics.kid is not used: metrics=none"),
])
def test_keys_this_run_does_not_use_are_warned_about(composed, overrides, expected):
    cfg, ov = composed(*overrides)
    warnings = check_config(cfg, ov)
    assert len(warnings) == 1 and warnings[0].startswith(expected), warnings


@pytest.mark.parametrize("overrides", [("dataset=cifar10", "metrics.inception_weights=/x.pth"),
                                       ("dataset=cifar10", "metrics.kid=true", "metrics.kid_subsets=5"),
                                       ("save_samples=true",), ("experiment=fashion_mnist_inception",)])
def test_keys_that_are_used_give_no_warning(composed, overrides):
    cfg, ov = composed(*overrides)
    assert check_config(cfg, ov) == []


@pytest.mark.parametrize("method", ["dot", "naive", "ddls", "dgflow"])
@pytest.mark.parametrize("value", [-1, -10])
def test_negative_record_every_is_an_error(composed, method, value):
    cfg, _ = composed(f"method={method}", f"method.record_every={value}")
    with pytest.raises(DotcliError, match=rf"method.record_every={value} is not valid; expected an integer >= 0"):
        check_run(cfg)


@pytest.mark.parametrize("seed,ok", [(0, True), (SEED_LIMIT, True), (SEED_LIMIT + 1, False), (2**64, False),
                                     (-1, False)])
def test_the_seed_limit_is_the_real_one(composed, seed, ok):
    cfg, ov = composed(f"seed={seed}")
    if ok:
        check_config(cfg, ov)
    else:
        assert _error(composed, f"seed={seed}") == (
            f"seed={seed} is not valid; expected an integer from 0 to {SEED_LIMIT} (2**63 - 1, the largest a "
            "record's 64-bit seed column holds)")


def test_the_largest_seed_runs_and_is_recorded(tmp_path):
    import json

    out = dot_run_in_process(f"seed={SEED_LIMIT}", "method=none", "trials=1", "n_samples=20",
                             "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "result.json").read_text())["seed"] == SEED_LIMIT


@pytest.mark.parametrize("args,line", [
    (("save_samples=no",), "dot-run: error: save_samples='no' is not valid; expected true or false"),
    (("+unknown_key=3",), "dot-run: error: unknown_key is not a key of dot-run's config (a typo?)"),
])
def test_through_the_cli_one_line_exit_2_nothing_run(tmp_path, args, line):
    out = dot_run_in_process(*args, "hydra.run.dir=run", cwd=tmp_path)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith(line), out.stderr
    assert not (tmp_path / "run" / "result.json").exists()


def test_save_samples_on_a_toy_writes_the_points(tmp_path):
    out = dot_run_in_process("save_samples=true", "method=none", "trials=2", "n_samples=30", "hydra.run.dir=run",
                             cwd=tmp_path)
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    with np.load(tmp_path / "run" / "samples.npz") as z:
        assert z["x"].shape == (60, 2) and z["x"].dtype == np.float32
        assert (np.bincount(z["trial"]) == [30, 30]).all()
    import json

    rec = json.loads((tmp_path / "run" / "result.json").read_text())
    assert rec["evaluation"]["samples_file"] == "samples.npz"
