"""The public Python API (dotcli.api, re-exported by dotcli): what it exports, that it gives dot-run's numbers
for dot-run's settings, and that bad input is dot-run's one-line error as a DotcliError."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import dotcli
import dotcli.api
from dotcli import DotcliError, ModelPair, SampleBatch
from tests.inprocess import dot_run_in_process

FAST = ["trials=1", "n_samples=200", "method.steps=5", "method.k_eff_repeats=2"]


def test_all_lists_exactly_the_public_names():
    assert sorted(dotcli.__all__) == sorted(["ModelPair", "load_pair", "refine", "evaluate", "run", "SampleBatch",
                                             "DotcliError", "__version__"])
    for name in dotcli.__all__:
        assert getattr(dotcli, name) is not None
    assert dotcli.ModelPair is dotcli.models.pair.ModelPair
    with pytest.raises(AttributeError):
        dotcli.no_such_name  # noqa: B018


def test_import_dotcli_stays_light():
    code = "import sys, dotcli; print('torch' in sys.modules, 'hydra' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_refine_and_evaluate_give_dot_runs_numbers(tmp_path):
    proc = dot_run_in_process(*FAST, "hydra.run.dir=a", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "a" / "result.json").read_text())
    pair = dotcli.load_pair("dataset=gaussians25", "device=cpu")
    batch = dotcli.refine(pair, "dot", n=200, seed=0, device="cpu", steps=5, k_eff_repeats=2)
    assert isinstance(batch, SampleBatch) and batch.x.shape == (200, 2) and batch.x_init.shape == (200, 2)
    scores = dotcli.evaluate(batch.x, "dataset=gaussians25", "device=cpu")
    assert scores == {k: record["metrics"][k] for k in scores}  # same samples, same reference: equal numbers
    again = dotcli.refine(pair, "dot", n=200, seed=0, device="cpu", steps=5, k_eff_repeats=2)
    assert torch.equal(again.x, batch.x)
    other = dotcli.refine(pair, "dot", n=200, seed=1, device="cpu", steps=5, k_eff_repeats=2)
    assert not torch.equal(other.x, batch.x)


def test_run_returns_the_record_dot_run_writes(tmp_path):
    proc = dot_run_in_process(*FAST, "method=naive", "hydra.run.dir=cli", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    by_cli = json.loads((tmp_path / "cli" / "result.json").read_text())
    record = dotcli.run(*FAST, "method=naive", out_dir=tmp_path / "api")
    assert record == json.loads((tmp_path / "api" / "result.json").read_text())
    assert record["config_hash"] == by_cli["config_hash"]
    assert record["metrics"] == by_cli["metrics"]


def test_run_defaults_to_dot_runs_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = dotcli.run("method=none", "trials=1", "n_samples=50")
    written = list((tmp_path / "runs").glob("*/*_gaussians25_dotcli_wgangp_none_*/result.json"))
    assert len(written) == 1 and json.loads(written[0].read_text()) == record
    assert "hydra" not in record["config"]


def test_evaluate_takes_arrays_and_batches():
    points = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    whole = dotcli.evaluate(points, "dataset=gaussians25", "device=cpu")
    assert dotcli.evaluate(points.numpy(), "dataset=gaussians25", "device=cpu") == whole
    assert dotcli.evaluate(iter([points[:100], points[100:]]), "dataset=gaussians25", "device=cpu") == whole


def test_images_are_read_in_any_layout_and_type():
    u = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    nchw = dotcli.api._image_floats(u.permute(0, 3, 1, 2))
    assert torch.equal(dotcli.api._image_floats(u), nchw)
    assert nchw.shape == (4, 3, 8, 8) and nchw.min() >= -1 and nchw.max() <= 1
    from dotcli.data.images import to_uint8

    assert torch.equal(to_uint8(nchw), u.permute(0, 3, 1, 2))  # the evaluation sees the same bytes
    assert dotcli.api._image_floats(torch.zeros(2, 5, 5)).shape == (2, 1, 5, 5)  # grey (n, H, W)
    with pytest.raises(DotcliError, match="expected uint8"):
        dotcli.api._image_floats(torch.zeros(2, 1, 4, 4, dtype=torch.int32))


class TinyG(nn.Module):
    def __init__(self, z_dim: int = 2, n_classes: int = 0) -> None:
        super().__init__()
        self.net = nn.Linear(z_dim, 2)
        self.embed = nn.Embedding(max(n_classes, 1), 2)

    def forward(self, z, y=None):
        return self.net(z) + (0 if y is None else self.embed(y))


class TinyD(nn.Module):
    def __init__(self, width: int = 1) -> None:
        super().__init__()
        self.net = nn.Linear(2, width)

    def forward(self, x, y=None):
        return self.net(x)


def test_a_pair_of_any_torch_modules_refines():
    torch.manual_seed(0)
    pair = ModelPair(G=TinyG(), D=TinyD(), z_dim=2, prior="normal", d_output="critic")
    out = dotcli.refine(pair, "dot", n=50, device="cpu", steps=3)
    assert out.x.shape == (50, 2) and not torch.equal(out.x, out.x_init)
    drs = dotcli.refine(pair, "drs", n=20, device="cpu", burn_in=100, real_data=torch.randn(2000, 2))
    assert drs.x.shape == (20, 2) and drs.x_init is None


def test_given_labels_are_kept():
    torch.manual_seed(0)
    pair = ModelPair(G=TinyG(n_classes=3), D=TinyD(), z_dim=2, prior="normal", n_classes=3)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    out = dotcli.refine(pair, "dot", n=6, device="cpu", steps=2, k_eff=1.0, y=y)
    assert torch.equal(out.y, y)
    assert "sample_y" not in vars(pair)  # the pair draws its own labels again
    with pytest.raises(DotcliError, match="y must hold 6 labels in \\[0, 3\\)"):
        dotcli.refine(pair, "dot", n=6, device="cpu", steps=2, k_eff=1.0, y=torch.tensor([0, 5]))


@pytest.mark.parametrize(("call", "message"), [
    (lambda p: dotcli.refine(p, "nosuch"),
     r"^method=nosuch is not an option of method; the options are: ddls, dgflow, dot, "),
    (lambda p: dotcli.refine(p, "dot", epz=0.1), r"^method\.epz is not a parameter of DOTSampler; it takes: space, "),
    (lambda p: dotcli.refine(p, "dot", eps=-1.0), r"^method\.eps=-1\.0 is not valid; expected a step size >= 0$"),
    (lambda p: dotcli.refine(p, "dot", eps="abc"), r"^method\.eps='abc' is not a number$"),
    (lambda p: dotcli.refine(p, "drs", n=10), r"^method=drs needs held-out real samples here: pass real_data="),
    (lambda p: dotcli.refine(p, "dot", n=0), r"^n=0 is not valid"),
    (lambda p: dotcli.load_pair("model=nosuch"), r"^model=nosuch is not an option of model; the options are: "),
    (lambda p: dotcli.load_pair("model.nokey=1"), r"^model\.nokey=1: model\.nokey is not a key of the config "),
    (lambda p: dotcli.load_pair("methd=dot"), r"did you mean method\? the top-level keys are: "),
    (lambda p: dotcli.evaluate(torch.zeros(10, 3), "dataset=gaussians25"), r"expects \(n, 2\)$"),
    (lambda p: dotcli.run("method=dot", "method.eps=0.1,0.2"), r"is not one run"),
])
def test_bad_input_is_one_line_dotcli_error(call, message):
    pair = ModelPair(G=nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2))), D=nn.Sequential(
        nn.Flatten(), nn.Linear(4, 1)), z_dim=2, prior="normal")
    with pytest.raises(DotcliError, match=message) as info:
        call(pair)
    assert "\n" not in str(info.value)


def test_the_cli_prints_the_same_line_for_a_bad_key(tmp_path):
    pair = dotcli.load_pair("device=cpu")
    with pytest.raises(DotcliError) as info:
        dotcli.refine(pair, "dot", epz=0.1)
    proc = dot_run_in_process("+method.epz=0.1", "hydra.run.dir=a", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"dot-run: error: {info.value}" in proc.stderr


def test_run_stays_the_function_after_the_runner_is_imported():
    import dotcli.runner  # noqa: F401  (a submodule import sets the package's attribute of that name)

    assert dotcli.run is dotcli.api.run and callable(dotcli.run)


def test_a_discriminator_of_the_wrong_shape_is_named():
    pair = ModelPair(G=TinyG(), D=TinyD(width=3), z_dim=2, prior="normal")
    with pytest.raises(DotcliError, match=r"^the discriminator returned shape \(100, 3\) for 100 samples; "
                                          r"expected one raw score per sample"):
        dotcli.refine(pair, "dot", n=10, device="cpu")


def test_a_bad_pair_is_refused_when_made():
    with pytest.raises(DotcliError, match="^prior='gauss' is not valid; expected uniform or normal$"):
        ModelPair(G=TinyG(), D=TinyD(), z_dim=2, prior="gauss")
    with pytest.raises(DotcliError, match="^d_output='prob' is not valid"):
        ModelPair(G=TinyG(), D=TinyD(), z_dim=2, prior="normal", d_output="prob")


def test_the_docstring_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for module in (dotcli.api,):
        result = doctest.testmod(module, extraglobs={"dotcli": dotcli}, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 6 and result.failed == 0


def test_a_model_family_loads_through_load_pair_and_refines_as_dot_run(tmp_path):
    """StyleGAN2-ADA (its own loader and ModelPair subclass) through the API, unchanged: dot-run's numbers."""
    from tests.data.fake import write_fake_cifar10
    from tests.models.nvidia_pickle_writer import fixture_pickle
    from tests.models.test_stylegan2_ada import load_fixture

    fixture_pickle(tmp_path / "cond.pkl", load_fixture("cifar_cond_small"))
    write_fake_cifar10(tmp_path / "data", per_file=8)
    common = ["dataset=cifar10", "model=stylegan2_ada", f"model.checkpoint={tmp_path / 'cond.pkl'}", "device=cpu",
              "metrics.feature_extractor=py:tests.metrics.tiny:make_tiny_extractor", "metrics.is_splits=2",
              f"paths.data={tmp_path / 'data'}", f"paths.cache={tmp_path / 'cache'}", "paths.allow_download=false"]
    dot = ["method.steps=2", "method.k_eff_pairs=10"]
    proc = dot_run_in_process(*common, "method=dot", *dot, "n_samples=24", "batch_size=24", "hydra.run.dir=out",
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "out" / "result.json").read_text())
    pair = dotcli.load_pair(*common)
    assert type(pair).__name__ == "StyleGAN2Pair" and pair.n_classes == 10
    batch = dotcli.refine(pair, "dot", n=24, seed=0, dataset="cifar10", batch_size=24, device="cpu", steps=2,
                          k_eff_pairs=10)
    scores = dotcli.evaluate(batch.x, *common)
    assert scores and scores == {k: record["metrics"][k] for k in scores}
