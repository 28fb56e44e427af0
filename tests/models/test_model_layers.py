"""Shared layers: frozen exact spectral norm, Chainer BN, conditional BN, self-attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dotcli.models.layers import (
    CategoricalConditionalBatchNorm,
    ChainerBatchNorm,
    SelfAttention,
    SNConv2d,
    SNConvTranspose2d,
    SNEmbedding,
    SNLinear,
    TorchSNConv2d,
    TorchSNEmbedding,
    TorchSNLinear,
    upsample2x,
)


def chainer_power_iteration(w: np.ndarray, steps: int, seed: int = 0) -> float:
    """chainer-gan-lib ``max_singular_value`` (u: (1, rows)), iterated to convergence."""
    mat = w.reshape(w.shape[0], -1).astype(np.float64)
    u = np.random.default_rng(seed).normal(size=(1, mat.shape[0]))
    for _ in range(steps):
        v = u @ mat
        v /= np.sqrt((v ** 2).sum()) + 1e-12
        u = v @ mat.T
        u /= np.sqrt((u ** 2).sum()) + 1e-12
    return float((u @ mat @ v.T).item())


def test_exact_sigma_equals_converged_power_iteration():
    torch.manual_seed(0)
    conv = SNConv2d(5, 12, 3, padding=1)
    assert conv._sigma_stale  # computed on first use (or after loading), not at construction
    conv.refresh_sigma()
    expected = chainer_power_iteration(conv.weight.detach().numpy(), steps=3000)
    assert conv.sigma.item() == pytest.approx(expected, rel=1e-5)
    # one power-iteration step (Chainer's per-call update from a random u) is only a lower bound
    assert chainer_power_iteration(conv.weight.detach().numpy(), steps=1) <= conv.sigma.item() * (1 + 1e-6)


def test_deconvolution_sigma_uses_input_channel_rows():
    # Chainer reshapes the Deconvolution2D weight (in, out, k, k) to (in, -1)
    torch.manual_seed(1)
    deconv = SNConvTranspose2d(6, 4, 4, 2, 1)
    deconv.refresh_sigma()
    w = deconv.weight.detach().numpy()
    assert w.shape == (6, 4, 4, 4)
    assert deconv.sigma.item() == pytest.approx(chainer_power_iteration(w, steps=3000), rel=1e-5)
    x = torch.randn(2, 6, 5, 5)
    ref = F.conv_transpose2d(x, deconv.weight / deconv.sigma, deconv.bias, 2, 1)
    torch.testing.assert_close(deconv(x), ref)


def test_sn_layers_divide_by_sigma_and_refresh_after_loading():
    torch.manual_seed(2)
    lin = SNLinear(7, 3)
    x = torch.randn(4, 7)
    sigma = np.linalg.svd(lin.weight.detach().numpy(), compute_uv=False)[0]
    torch.testing.assert_close(lin(x), x @ (lin.weight / float(sigma)).T + lin.bias)
    new = {"weight": 3 * torch.randn(3, 7), "bias": torch.zeros(3)}
    lin.load_state_dict(new)  # the post-load hook recomputes sigma
    assert lin.sigma.item() == pytest.approx(np.linalg.svd(new["weight"].numpy(), compute_uv=False)[0], rel=1e-6)
    assert "sigma" not in lin.state_dict()  # not a checkpoint key
    emb = SNEmbedding(10, 6)
    s = np.linalg.svd(emb.weight.detach().numpy(), compute_uv=False)[0]
    torch.testing.assert_close(emb(torch.tensor([3])), emb.weight[3:4] / float(s))


def _trained_torch_sn(module: nn.Module) -> nn.Module:
    sn = nn.utils.spectral_norm(module)
    sn.train()
    x = torch.randn(2, *((3, 6, 6) if isinstance(module, nn.Conv2d) else (5,)))
    for _ in range(3):  # a few power-iteration updates of weight_u / weight_v
        sn(x)
    return sn.eval()


def test_torch_sn_layers_stored_sigma_match_torch_eval_and_exact_is_svd():
    torch.manual_seed(3)
    ref_conv = _trained_torch_sn(nn.Conv2d(3, 8, 3, 1, 1))
    ref_lin = _trained_torch_sn(nn.Linear(5, 1, bias=False))
    conv, lin = TorchSNConv2d(3, 8, 3, 1, 1), TorchSNLinear(5, 1, bias=False)
    assert set(conv.state_dict()) == set(ref_conv.state_dict()) == {"bias", "weight_orig", "weight_u", "weight_v"}
    assert set(lin.state_dict()) == set(ref_lin.state_dict())
    conv.load_state_dict(ref_conv.state_dict())
    lin.load_state_dict(ref_lin.state_dict())
    x, v = torch.randn(2, 3, 6, 6), torch.randn(4, 5)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), ref_conv(x), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(lin(v), ref_lin(v), rtol=1e-6, atol=1e-6)
    exact = TorchSNConv2d(3, 8, 3, 1, 1, sigma_source="exact")
    exact.load_state_dict(ref_conv.state_dict())
    w = ref_conv.weight_orig.detach().numpy().reshape(8, -1)
    assert exact.sigma.item() == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-6)
    with pytest.raises(ValueError, match="sigma_source"):
        TorchSNLinear(2, 2, sigma_source="power")


def test_torch_sn_embedding_matches_torch_eval():
    torch.manual_seed(4)
    ref = nn.utils.spectral_norm(nn.Embedding(7, 5))
    for _ in range(3):  # training-mode calls: power-iteration updates of weight_u / weight_v
        ref(torch.tensor([1, 2]))
    ref.eval()
    emb = TorchSNEmbedding(7, 5)
    assert set(emb.state_dict()) == set(ref.state_dict()) == {"weight_orig", "weight_u", "weight_v"}
    emb.load_state_dict(ref.state_dict())
    y = torch.tensor([0, 3, 6, 3])
    with torch.no_grad():
        torch.testing.assert_close(emb(y), ref(y), rtol=1e-6, atol=1e-6)


def test_chainer_batchnorm_eval_on_flat_vectors():
    bn = ChainerBatchNorm(6).eval()
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}  # no num_batches_tracked
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    x = torch.randn(3, 6)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + 2e-5) * bn.weight + bn.bias
    torch.testing.assert_close(bn(x), expected)


def test_categorical_conditional_batchnorm_matches_hand_computation():
    torch.manual_seed(4)
    bn = CategoricalConditionalBatchNorm(4, n_classes=3).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn.running_var.copy_(torch.tensor([1.0, 0.5, 2.0, 1e-3]))
        bn.gammas.weight.copy_(torch.randn(3, 4))
        bn.betas.weight.copy_(torch.randn(3, 4))
    x, y = torch.randn(2, 4, 3, 3), torch.tensor([2, 0])
    out = bn(x, y).detach().numpy()
    xs, mean, var = x.numpy(), bn.running_mean.numpy(), bn.running_var.numpy()
    g, b = bn.gammas.weight.detach().numpy(), bn.betas.weight.detach().numpy()
    for i, label in enumerate([2, 0]):
        for c in range(4):
            hand = g[label, c] * (xs[i, c] - mean[c]) / np.sqrt(var[c] + 2e-5) + b[label, c]
            np.testing.assert_allclose(out[i, c], hand, rtol=1e-5, atol=1e-5)


def test_self_attention_matches_hand_computation():
    torch.manual_seed(5)
    sa = SelfAttention(16)
    with torch.no_grad():
        sa.gamma.fill_(0.7)
    x = torch.randn(2, 16, 3, 4)
    out = sa(x).detach().numpy()
    q = sa.query_conv(x).detach().numpy().reshape(2, 2, 12)   # 16 // 8 = 2 channels, 12 positions
    k = sa.key_conv(x).detach().numpy().reshape(2, 2, 12)
    v = sa.value_conv(x).detach().numpy().reshape(2, 16, 12)
    for n in range(2):
        energy = q[n].T @ k[n]                                  # (positions, positions)
        att = np.exp(energy - energy.max(axis=1, keepdims=True))
        att /= att.sum(axis=1, keepdims=True)                   # softmax over the key positions
        hand = 0.7 * (v[n] @ att.T) + x[n].numpy().reshape(16, 12)
        np.testing.assert_allclose(out[n].reshape(16, 12), hand, rtol=1e-5, atol=1e-5)


def test_upsample_is_nearest():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    expected = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(upsample2x(x), expected)
