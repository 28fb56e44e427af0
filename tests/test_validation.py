"""Config checks before anything is loaded (dotcli/validation.py): the bad-input table, through the real CLI."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.validation import _init_annotations, check_method, check_value
from tests.inprocess import dot_run_in_process

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
TINY = ["trials=1", "n_samples=50"]
# model=custom on the toy data: the user's own G/D classes and weights file (the file rows below)
CUSTOM = ["model=custom", "model.G._target_=dotcli.models.toy.ToyGenerator",
          "model.D._target_=dotcli.models.toy.ToyDiscriminator", "model.z_dim=2", "model.prior=uniform"]


def dot_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dot-run"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def error_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("dot-run: error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0].removeprefix("dot-run: error: ")


# ---------------------------------------------------------------- units


@pytest.mark.parametrize("annotation, value, message", [
    ("float", "abc", "k='abc' is not a number"),
    ("float", float("inf"), "k=inf is not valid; expected a finite number"),
    ("float", float("nan"), "k=nan is not valid; expected a finite number"),
    ("int", 2.5, "k=2.5 is not valid; expected an integer"),
    ("int", "3", "k='3' is not a number"),
    ("bool", 3, "k=3 is not valid; expected true or false"),
    ("str", 3, "k=3 is not valid; expected a string"),
])
def test_check_value_refuses(annotation, value, message):
    with pytest.raises(DotcliError) as err:
        check_value("k", annotation, value)
    assert str(err.value) == message


@pytest.mark.parametrize("annotation, value", [("float", 0), ("float", 1e6), ("float | str", "auto"),
                                               ("int", 3), ("bool", True), ("int | None", None)])
def test_check_value_accepts(annotation, value):
    check_value("k", annotation, value)


def test_method_types_come_from_the_constructor_without_importing_it():
    from dotcli.samplers.dot import DOTSampler

    hints = _init_annotations("dotcli.samplers.naive", "NaiveSampler")  # inherited from DOTSampler
    assert list(hints) == list(DOTSampler.__init__.__annotations__)[:len(hints)]
    assert hints["eps"] == "float" and hints["steps"] == "int" and hints["k_eff"] == "float | str"
    assert _init_annotations("dotcli.samplers.none", "BareSampler") == {}
    with pytest.raises(DotcliError, match="method.gamma is not a parameter of BareSampler"):
        check_method({"_target_": "dotcli.samplers.none.BareSampler", "gamma": 1})


def test_config_checks_import_no_torch(tmp_path):
    code = ("import sys; from hydra import compose, initialize_config_module; import dotcli.resolvers\n"
            "from dotcli.validation import check_config\n"
            "with initialize_config_module(config_module='dotcli.configs', version_base='1.3'):\n"
            "    cfg = compose('run', overrides=['method.eps=abc'])\n"
            "try:\n    check_config(cfg)\nexcept Exception as e:\n    print(e)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.stdout.split("\n")[:2] == ["method.eps='abc' is not a number", "False"], out.stderr


# ---------------------------------------------------------------- the CLI: config-only rows


@pytest.mark.parametrize("override, message", [
    ("seed=abc", "seed='abc' is not valid; expected an integer from 0 to 9223372036854775807"),
    ("seed=-1", "seed=-1 is not valid; expected an integer from 0 to 9223372036854775807"),
    ("method.eps=abc", "method.eps='abc' is not a number"),
    ("method.eps=inf", "method.eps=inf is not valid; expected a finite number"),
    ("method.steps=2.5", "method.steps=2.5 is not valid; expected an integer"),
    ("hydra.run.dir=/proc/x", "output directory /proc/x cannot be created"),
    ("hydra.run.dir=/sys/x", "output directory /sys/x cannot be created"),
    ("model=custom model.prior=gaussian", "model.prior='gaussian' is not valid; expected uniform or normal"),
    ("model=collections_sngan dataset=cifar10 model.sigma_source=svd",
     "model.sigma_source='svd' is not valid; expected stored or exact"),
    ("metrics.prdc_k_pr=0", "metrics.prdc_k_pr=0 is not valid; expected an integer >= 1"),
    ("metrics.prdc=maybe", "metrics.prdc='maybe' is not valid; expected true or false"),
    ("metrics.prdc_samples=4", "precision/recall/density/coverage compare 4 samples per trial with as many reference "
                               "points, but metrics.prdc_k_pr=3 and metrics.prdc_k_dc=5 need at least 6"),
    ("model.truncation=1.5", "model.truncation=1.5 is not valid for a uniform prior; expected psi in (0, 1]"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, override, message):
    proc = dot_run(*TINY, *override.split(), cwd=tmp_path)
    assert proc.returncode == 2
    assert error_line(proc).startswith(message)
    assert not list(tmp_path.rglob("result.json"))


def test_missing_inputs_are_named_in_one_message(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = dot_run("dataset=cifar10", "model=random_dcgan32", "model.ch=8", "n_samples=8", "trials=1",
                   f"paths.data={tmp_path / 'empty'}", "paths.allow_download=false", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "dataset missing: cifar10: missing data_batch_1" in proc.stderr
    assert "Inception weights missing: Inception weights weights-inception-2015-12-05-6726825d.pth not found" \
        in proc.stderr


# ---------------------------------------------------------------- rows that run, with a warning


def test_huge_eps_runs_and_says_how_many_samples_ended_on_the_clip_boundary(tmp_path):
    proc = dot_run(*TINY, "method.eps=1e6", "method.steps=3", "method.k_eff_repeats=1", "hydra.run.dir=out",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cost = json.loads((tmp_path / "out" / "result.json").read_text())["cost"]
    assert cost["clip_boundary_fraction"] == cost["clip_coordinate_fraction"] == 1.0
    assert "dot-run: warning: 100.0% of the samples ended on the clip boundary" in proc.stderr
    normal = dot_run_in_process(*TINY, "method.steps=3", "method.k_eff_repeats=1", "hydra.run.dir=ok", cwd=tmp_path)
    assert normal.returncode == 0, normal.stderr
    assert json.loads((tmp_path / "ok" / "result.json").read_text())["cost"]["clip_coordinate_fraction"] < 0.25
    assert "warning" not in normal.stderr


def test_metrics_none_without_save_samples_says_the_samples_are_not_kept(tmp_path):
    proc = dot_run("dataset=cifar10", "model=random_dcgan32", "n_samples=4", "batch_size=4", "method=none",
                   "metrics=none", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dot-run: warning: metrics=none without save_samples=true: nothing is scored and the samples are " \
           "not kept" in proc.stderr


def test_metrics_none_on_a_toy_says_the_toys_are_scored_anyway(tmp_path):
    """The toy evaluation has no off switch: it scores (seconds), and says metrics=none is ignored."""
    proc = dot_run(*TINY, "method=none", "metrics=none", "hydra.run.dir=out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dot-run: warning: metrics=none is not used with dataset=gaussians25: the 2-D toys are always scored" \
        in proc.stderr and "nothing is scored" not in proc.stderr


# ---------------------------------------------------------------- rows of bad weight files


class RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_files(d: Path) -> dict[str, Path]:
    np.savez(d / "good.npz", **{"l0/W": np.ones((256, 2), np.float32)})
    blob = bytearray((d / "good.npz").read_bytes())
    blob[blob.index(b"\x00\x00\x80?") + 2] ^= 0xFF
    (d / "badcrc.npz").write_bytes(bytes(blob))
    np.savez(d / "obj.npz", **{"l0/W": np.array([RunsCode(d / "MARKER")], dtype=object)})
    (d / "rand.pt").write_bytes(b"this is not a checkpoint\n" * 40)
    torch.save({"G": RunsCode(d / "MARKER"), "D": {}}, d / "evil.pt")
    (d / "evil2.pt").write_bytes(pickle.dumps({"G": RunsCode(d / "MARKER")}, protocol=2))
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize("name, message", [  # bad CRC and random bytes: tests/models/test_loading.py
    ("obj.npz", "{path} holds pickled Python objects (array 'l0/W') and is refused"),
    ("evil.pt", "cannot read torch checkpoint {path}: dotcli refuses to unpickle posix.system"),
])
def test_bad_weight_file_is_one_line_with_the_real_cause(tmp_path, name, message):
    path = _bad_files(tmp_path)[name]
    proc = dot_run(*TINY, *CUSTOM, f"model.checkpoint={path}", "hydra.run.dir=out", cwd=tmp_path)
    line = error_line(proc)
    assert proc.returncode == 2 and line.startswith(message.format(path=path)), line
    assert "weights_only" not in line and not (tmp_path / "MARKER").exists()


# ---------------------------------------------------------------- help


def test_help_is_dotcli_own_and_cfg_resolve_prints_values(tmp_path):
    out = dot_run("--help", cwd=tmp_path).stdout
    assert out.startswith("dot-run: improve the samples of a trained GAN") and "powered by Hydra" not in out
    assert "\n  method          ddls, dgflow, dot, " in out and "\n  model           " in out  # each group's options
    assert out.count("\n  dot-run ") == 5 and "run only configs you trust" in out
    cfg = dot_run("method=naive", "--cfg", "job", "--resolve", cwd=tmp_path).stdout
    assert "eps: 0.01" in cfg and "${" not in cfg
