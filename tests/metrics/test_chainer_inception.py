"""inception-chainer-compat: the Chainer evaluation's preprocessing on the real architecture (random weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dotcli import DotcliError
from dotcli.metrics.chainer_inception import NAME, ChainerCompatInception, make_chainer_compat
from dotcli.metrics.extractors import _fid_inception_v3_unloaded, make_feature_extractor


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A full-layout Inception state dict (fc included) with seeded random weights and a distinct fc bias."""
    gen = torch.Generator().manual_seed(0)
    state = _fid_inception_v3_unloaded().state_dict()
    for k, v in state.items():  # He-initialised convs, unit BN statistics: activations stay O(1) through 94 units
        if k.endswith("conv.weight"):
            state[k] = torch.randn(v.shape, generator=gen) * (2.0 / v[0].numel()) ** 0.5
        elif k.endswith("running_mean") or k.endswith("bn.bias"):
            state[k] = torch.zeros(v.shape)
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=gen) * 0.5 + 0.75
    state["fc.bias"] = torch.linspace(-3, 3, 1008)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(state, path)
    return path


def images(n, size, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 255


def test_resize_is_bilinear_with_aligned_corners_then_the_graphs_centring():
    x = images(2, 32)
    out = ChainerCompatInception.preprocess(x)
    ref = (F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=True) - 128) / 128
    torch.testing.assert_close(out, ref)
    # align_corners=True keeps the four corner pixels exactly; TF1 / align_corners=False does not
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        torch.testing.assert_close(out[..., i, j], (x[..., i, j] - 128) / 128)
    other = (F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 128) / 128
    assert (other - out).abs().max() > 0.05
    same = images(1, 299)
    torch.testing.assert_close(ChainerCompatInception.preprocess(same), (same - 128) * 0.0078125)


def test_float_input_is_not_quantised_and_is_has_the_bias(weights):
    ex = make_feature_extractor(NAME, weights=weights, allow_download=False)
    assert ex.takes_float and not ex.is_shuffle and ex.has_logits
    x = images(2, 32, seed=1).round()
    a, b = ex(x), ex(x + 0.3)  # less than half a grey level: uint8 rounding would erase it
    assert a.pool.abs().mean() > 1e-2 and (a.pool - b.pool).abs().max() > 1e-4 * a.pool.abs().max()
    torch.testing.assert_close(ex(x.to(torch.uint8)).pool, a.pool)  # uint8 reference images: the same numbers
    fc = torch.load(weights)
    torch.testing.assert_close(a.logits - a.pool @ fc["fc.weight"].T, fc["fc.bias"].expand(2, -1),
                               rtol=1e-4, atol=1e-4)
    assert ex.identity()["weights_sha256"] and "align_corners=True" in ex.identity()["input"]
    with pytest.raises(DotcliError, match="takes float images"):
        ex(torch.zeros(1, 1, 8, 8))


def test_forward_matches_torch_fidelity_when_only_the_input_conventions_differ(weights):
    # chainer_network=False: torch-fidelity's BN eps and pooling; at 299 px no resize happens in either, so
    # this forward (written out block by block) must give torch-fidelity's own features of uint8 images.
    tf = make_feature_extractor("inception-v3-compat", weights=weights, allow_download=False)
    plain = make_chainer_compat(device=torch.device("cpu"), weights=weights, allow_download=False,
                                chainer_network=False)
    u = images(2, 299, seed=2).to(torch.uint8)
    ours, theirs = plain(u), tf(u)
    torch.testing.assert_close(ours.pool, theirs.pool, rtol=1e-4, atol=1e-4)
    bias = torch.load(weights)["fc.bias"]
    torch.testing.assert_close(ours.logits, theirs.logits + bias, rtol=1e-4, atol=1e-4)  # theirs: unbiased
    chainer = make_chainer_compat(device=torch.device("cpu"), weights=weights, allow_download=False)
    assert (chainer(u).pool - ours.pool).abs().max() > 1e-4  # BN eps 2e-5 and padded average pools


def test_pool3_only_file_gives_fid_features_and_no_logits(weights, tmp_path):
    state = {k: v for k, v in torch.load(weights).items() if not k.startswith("fc.")}
    path = tmp_path / "pool3.pth"
    torch.save(state, path)
    ex = make_feature_extractor(NAME, weights=path, allow_download=False)
    out = ex(images(1, 32))
    assert not ex.has_logits and out.logits is None and out.pool.shape == (1, 2048)
