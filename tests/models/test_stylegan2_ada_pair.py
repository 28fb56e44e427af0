"""The StyleGAN2-ADA model pair: options, the held noise of noise_mode=random, the minibatch-std batch rule,
checks on the file, all through the loader dot-run uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dotcli import DotcliError
from dotcli.models.stylegan2_ada import load_stylegan2_ada_pair
from tests.models.nvidia_pickle_writer import fixture_pickle
from tests.models.test_stylegan2_ada import fixture_inputs, load_fixture, rel

TOL = 1e-4


@pytest.fixture(scope="module")
def cond_file(tmp_path_factory) -> Path:
    return fixture_pickle(tmp_path_factory.mktemp("sg2") / "cond.pkl", load_fixture("cifar_cond_small"))


def pair_of(path: Path, dataset: str = "cifar10", **options):
    cfg = {"name": "stylegan2_ada", "checkpoint": str(path), "resolutions": {"cifar10": 32, "stl10": 48}, **options}
    return load_stylegan2_ada_pair(cfg, dataset, {"cache": str(path.parent / "cache")})


def test_pair_facts_and_notes(cond_file):
    pair = pair_of(cond_file)
    assert (pair.z_dim, pair.n_classes, pair.prior, pair.d_output) == (32, 10, "normal", "logit")
    assert pair.sample_range == (-1.0, 1.0)
    notes = pair.notes
    assert notes["generator"] == "G_ema" and notes["noise_mode"] == "random" and notes["mbstd_group_size"] == 32
    assert len(notes["checkpoint_sha256"]) == 64 and "group" in notes["mbstd_rule"]


def test_integer_labels_give_the_official_outputs(cond_file):
    fx = load_fixture("cifar_cond_small")
    z, _, x, _ = fixture_inputs(fx)
    pair = pair_of(cond_file, noise_mode="const")
    with torch.no_grad():
        assert rel(pair.generate(z, fx["inputs"]["y_g"]), fx["outputs"]["G_ema"]) <= TOL
        # a batch that is a multiple of the group size (64 = 2 x 32): the official D on that same batch
        assert rel(pair.discriminate(x, fx["inputs"]["y_d"]), fx["outputs"]["D"].reshape(-1)) <= TOL
    g_pair = pair_of(cond_file, noise_mode="const", generator="G", truncation_psi=1.0)
    with torch.no_grad():
        assert rel(g_pair.generate(z, fx["inputs"]["y_g"]), fx["outputs"]["G"]) <= TOL
    t_pair = pair_of(cond_file, noise_mode="const", truncation_psi=0.7)
    with torch.no_grad():
        assert rel(t_pair.generate(z, fx["inputs"]["y_g"]), fx["outputs"]["G_ema_trunc07"]) <= TOL


def test_truncation_cutoff_truncates_only_the_first_ws(cond_file):
    pair_all = pair_of(cond_file, noise_mode="const", truncation_psi=0.5)
    pair_none = pair_of(cond_file, noise_mode="const", truncation_psi=0.5, truncation_cutoff=0)
    plain = pair_of(cond_file, noise_mode="const")
    z, y = torch.randn(3, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2])
    with torch.no_grad():
        assert torch.allclose(pair_none.generate(z, y), plain.generate(z, y))
        assert not torch.allclose(pair_all.generate(z, y), plain.generate(z, y))


def test_random_noise_is_drawn_with_the_latents_and_held(cond_file):
    def run():
        pair = pair_of(cond_file)  # noise_mode random (the default)
        gen = torch.Generator().manual_seed(5)
        z = pair.sample_z(4, gen)
        y = torch.zeros(4, dtype=torch.long)
        with torch.no_grad():
            a, b = pair.generate(z, y), pair.generate(z.clone(), y)
            same_z = pair.generate(z[:1].repeat(4, 1), y)
            pair.sample_z(4, gen)  # the next batch draws new noise
            c = pair.generate(z, y)
        return a, b, same_z, c

    a, b, same_z, c = run()
    assert torch.equal(a, b)  # held fixed: G is a function of z alone while the batch is refined
    assert not torch.allclose(same_z[0], same_z[1])  # per-sample noise: the same z differs by row
    assert not torch.allclose(a, c)
    a2, *_ = run()
    assert torch.equal(a, a2)  # same seed, same numbers


def test_random_noise_without_sample_z_is_one_line(cond_file):
    pair = pair_of(cond_file)
    with pytest.raises(DotcliError, match="sample_z"):
        pair.generate(torch.zeros(2, 32), torch.zeros(2, dtype=torch.long))


def test_minibatch_std_rule_for_a_batch_off_the_group_size(cond_file):
    pair = pair_of(cond_file)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 3, 32, 32, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    net = pair.D.net
    idx = torch.arange(64) % 40  # completed cyclically to 64 = 2 groups of 32
    with torch.no_grad():
        got = pair.discriminate(x, y)
        want = net(x[idx], torch.nn.functional.one_hot(y[idx], 10).float())[:40].reshape(-1)
        assert torch.equal(got, want)
        assert torch.equal(pair.discriminate(x, y), got)  # the same batch: the same outputs
        other = x.clone()
        other[1:] = torch.randn(39, 3, 32, 32, generator=gen)
        assert not torch.allclose(pair.discriminate(other, y)[0], got[0])  # a sample's output depends on its mates
        small = pair.discriminate(x[:8], y[:8])  # fewer than a group: one group of all (as the official D)
        assert torch.allclose(small, net(x[:8], torch.nn.functional.one_hot(y[:8], 10).float()).reshape(-1))


def test_resolution_must_match_the_dataset(cond_file):
    with pytest.raises(DotcliError, match=r"32x32 networks but dataset 'stl10' has 48x48"):
        pair_of(cond_file, dataset="stl10")


@pytest.mark.parametrize("key,value,match", [("generator", "Gs", "model.generator"),
                                              ("noise_mode", "fresh", "model.noise_mode"),
                                              ("truncation_cutoff", 99, "model.truncation_cutoff")])
def test_bad_options_are_one_line(cond_file, key, value, match):
    with pytest.raises(DotcliError, match=match) as exc:
        pair_of(cond_file, **{key: value})
    assert "\n" not in str(exc.value)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(DotcliError, match="does not exist"):
        pair_of(tmp_path / "nope.pkl")


def test_dataset_file_is_used_when_no_checkpoint_is_given(cond_file, tmp_path):
    from omegaconf import OmegaConf

    model = OmegaConf.load(Path(__file__).resolve().parents[2] / "dotcli" / "configs" / "model" / "stylegan2_ada.yaml")
    spec = model.files.cifar10
    assert spec.name == "cifar10.pkl" and spec.url.startswith("https://nvlabs-fi-cdn.nvidia.com/")
    assert spec.sha256 is None and spec.hash_published is False
    cache = tmp_path / "cache" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "cifar10.pkl").write_bytes(cond_file.read_bytes())  # as if downloaded before
    paths = {"cache": str(tmp_path / "cache"), "allow_download": False}
    pair = load_stylegan2_ada_pair(model, "cifar10", paths)
    assert pair.n_classes == 10 and pair.notes["file"] == "cifar10.pkl"
    (cache / "cifar10.pkl.sha256").write_text("0" * 64 + "  cifar10.pkl\n")  # its first download had another hash
    with pytest.raises(DotcliError, match="first download had"):
        load_stylegan2_ada_pair(model, "cifar10", paths)
    with pytest.raises(DotcliError, match="no public file for dataset 'stl10'"):
        load_stylegan2_ada_pair(model, "stl10", paths)


def test_fused_modconv_option_follows_the_official_eval_path(cond_file):
    fx = load_fixture("cifar_cond_small")
    z = fx["inputs"]["z"]
    pair = pair_of(cond_file, noise_mode="const", fused_modconv=True)
    with torch.no_grad():
        # bit-identical where the fixtures were made; 1e-6 leaves room for another CPU's round-off
        assert rel(pair.generate(z, fx["inputs"]["y_g"]), fx["outputs"]["G_ema"]) <= 1e-6
    assert pair.notes["fused_modconv"] is True
    with pytest.raises(DotcliError, match="model.fused_modconv"):
        pair_of(cond_file, fused_modconv="yes")
