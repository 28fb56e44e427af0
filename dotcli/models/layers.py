"""Layers shared by the image models, with Chainer's semantics where the weights come from Chainer.

Spectral normalisation here is *frozen*: sigma (the largest singular value of the weight reshaped
to ``(W.shape[0], -1)``) is computed after every ``load_state_dict`` (or at the first forward of a
freshly initialised layer) and kept in a non-persistent buffer; forward uses ``W / sigma``. The samplers
never train, so a power iteration per call (Chainer's and torch's training behaviour) would only
add noise: exact sigma is the value the original power iteration converges to.

Two key layouts:
- Chainer layers (``SNLinear``, ``SNConv2d``, ``SNConvTranspose2d``, ``SNEmbedding``) keep torch's
  ``weight``/``bias`` names, which ``read_chainer_npz`` produces from ``W``/``b``; Chainer's ``u``
  is skipped by the reader unless asked for (``keep_u``): ``use_stored_u`` then makes sigma one power
  iteration from the stored ``u`` (``sigma_source: stored``, what pfnet's links compute at test time)
  instead of the exact value.
- ``torch.nn.utils.spectral_norm`` layers (``TorchSNLinear``, ``TorchSNConv2d``) keep its keys
  ``weight_orig``, ``weight_u``, ``weight_v`` and can use either the exact sigma or the stored
  vectors (``sigma = u . W v``, what torch computes in eval mode).

Chainer facts used (chainer/links, chainer/functions): leaky ReLU slope 0.2, BatchNormalization
eps 2e-5 and no ``num_batches_tracked``, ``unpooling_2d(x, 2)`` = nearest 2x upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.2         # chainer.functions.leaky_relu default slope
CHAINER_EPS = 2e-5  # chainer.links.BatchNormalization default eps


def exact_sigma(weight: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Largest singular value of ``weight`` with axis ``dim`` as rows (computed in float64).

    sqrt of the top eigenvalue of the smaller Gram matrix: as exact as an SVD for the top value
    (relative error ~1e-16 in float64) and an order of magnitude faster than an SVD on the
    1024 x 9216 conv weights of the ImageNet discriminator.
    """
    mat = weight.detach().movedim(dim, 0).reshape(weight.shape[dim], -1).double()
    gram = mat @ mat.T if mat.shape[0] <= mat.shape[1] else mat.T @ mat
    return torch.linalg.eigvalsh(gram)[-1].clamp_min(0).sqrt().to(weight.dtype)


def chainer_power_sigma(weight: torch.Tensor, u: torch.Tensor, dim: int = 0, iterations: int = 1) -> torch.Tensor:
    """sigma from Chainer's power iteration started at a stored ``u`` (sngan_projection ``max_sv.py``, Ip=1).

    ``v = l2n(u W)``, ``u = l2n(v W^T)`` ``iterations`` times, ``sigma = u W v``, with
    ``l2n(x) = x / (||x|| + 1e-12)``, in float32 as Chainer; W is reshaped to ``(W.shape[dim], -1)``.
    """
    mat = weight.detach().movedim(dim, 0).reshape(weight.shape[dim], -1).float()
    left = u.detach().reshape(1, -1).float().to(mat.device)
    right = left
    for _ in range(iterations):
        right = left @ mat
        right = right / (right.norm() + 1e-12)
        left = right @ mat.T
        left = left / (left.norm() + 1e-12)
    return (left @ mat @ right.T).reshape(()).to(weight.dtype)


class _FrozenSN:
    """Mixin: a ``sigma`` buffer computed after every state-dict load (or at first use if never loaded).

    Subclasses set ``_sn_weight`` (the parameter's name) and ``_sn_dim`` (the axis that becomes
    the rows: 0 for Chainer, including Deconvolution2D whose axis 0 is the *input* channels).
    """

    _sn_weight = "weight"
    _sn_dim = 0

    def _init_sn(self) -> None:
        self.register_buffer("sigma", torch.ones((), dtype=torch.float32), persistent=False)
        self.register_load_state_dict_post_hook(_refresh_after_load)
        # computed on first use rather than here: a loader replaces the initial weights at once
        self._sigma_stale = True

    def _sigma_now(self) -> torch.Tensor:
        stored = getattr(self, "stored_u", None)
        if stored is not None:  # sigma_source=stored: what the Chainer link computes in test mode
            return chainer_power_sigma(getattr(self, self._sn_weight), stored, self._sn_dim)
        return exact_sigma(getattr(self, self._sn_weight), self._sn_dim)

    def use_stored_u(self, u: torch.Tensor) -> None:
        """Use a Chainer link's saved power-iteration vector ``u`` (shape ``(1, rows)``): sigma is one power
        iteration from it, frozen (sngan_projection's SN links at test time; docs/protocol.md#spectral-norm)."""
        rows = getattr(self, self._sn_weight).shape[self._sn_dim]
        if u.numel() != rows:
            raise ValueError(f"stored u has {u.numel()} entries, the weight has {rows} rows")
        self.register_buffer("stored_u", u.detach().reshape(-1).float().clone().to(self.sigma.device),
                             persistent=False)
        self.refresh_sigma()

    @torch.no_grad()
    def refresh_sigma(self) -> None:
        """Recompute sigma from the current weight (call after editing the weight in place)."""
        weight = getattr(self, self._sn_weight)
        if weight.device.type == "meta":  # shape-only construction: nothing to compute
            return
        self.sigma = self._sigma_now().to(self.sigma.device, self.sigma.dtype).reshape(())
        self._sigma_stale = False

    def normalized_weight(self) -> torch.Tensor:
        if self._sigma_stale:
            self.refresh_sigma()
        return getattr(self, self._sn_weight) / self.sigma


def _refresh_after_load(module: _FrozenSN, _incompatible_keys: object) -> None:
    module.refresh_sigma()  # a module-level function, not a lambda: modules stay picklable


def refresh_spectral_norms(module: nn.Module) -> None:
    """Recompute sigma in every frozen spectral-norm layer of ``module``."""
    for m in module.modules():
        if isinstance(m, _FrozenSN):
            m.refresh_sigma()


# --- Chainer-named SN layers (chainer-gan-lib common/sn, sngan_projection source/links) ---

class SNLinear(_FrozenSN, nn.Linear):
    """Linear layer with frozen exact spectral norm (Chainer ``SNLinear``: keys ``W``, ``b``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self._init_sn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(_FrozenSN, nn.Conv2d):
    """Conv2d with frozen exact spectral norm (Chainer ``SNConvolution2D``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self._init_sn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNConvTranspose2d(_FrozenSN, nn.ConvTranspose2d):
    """ConvTranspose2d with frozen exact spectral norm (DOT ``snd/sn_deconvolution_2d.py``).

    Chainer reshapes the deconvolution weight ``(in, out, kh, kw)`` to ``(in, -1)``, so the rows
    are the input channels (torch's own ``spectral_norm`` would use ``dim=1``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self._init_sn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return F.conv_transpose2d(x, self.normalized_weight(), self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class SNEmbedding(_FrozenSN, nn.Embedding):
    """Embedding with frozen exact spectral norm (sngan_projection ``SNEmbedID``, W: (n_classes, dim))."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__(num_embeddings, embedding_dim)
        self._init_sn()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.embedding(y, self.normalized_weight())


# --- torch.nn.utils.spectral_norm key layout (weight_orig, weight_u, weight_v) ---

SIGMA_SOURCES = ("stored", "exact")


class _TorchSN(_FrozenSN):
    """Mixin for torch-``spectral_norm``-named layers; ``sigma_source`` is ``stored`` or ``exact``.

    ``stored`` reproduces torch's eval-mode forward exactly: ``sigma = u . (W_mat v)`` with the
    saved ``weight_u``/``weight_v`` (no power iteration). ``exact`` uses the SVD.
    """

    _sn_weight = "weight_orig"

    def _convert_to_torch_sn(self, sigma_source: str) -> None:
        if sigma_source not in SIGMA_SOURCES:
            raise ValueError(f"sigma_source must be one of {SIGMA_SOURCES}, got {sigma_source!r}")
        self.sigma_source = sigma_source
        weight = self.weight
        del self.weight  # same re-registration as torch's spectral_norm: weight -> weight_orig
        self.weight_orig = nn.Parameter(weight.detach())
        rows = weight.shape[0]
        cols = weight.numel() // rows if rows else 0
        meta = weight.device.type == "meta"
        u = torch.randn(rows, device=weight.device)
        v = torch.randn(cols, device=weight.device)
        self.register_buffer("weight_u", u if meta else F.normalize(u, dim=0, eps=1e-12))
        self.register_buffer("weight_v", v if meta else F.normalize(v, dim=0, eps=1e-12))
        self._init_sn()

    def _sigma_now(self) -> torch.Tensor:
        if self.sigma_source == "exact":
            return exact_sigma(self.weight_orig, 0)
        mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        return torch.dot(self.weight_u, torch.mv(mat, self.weight_v))


class TorchSNLinear(_TorchSN, nn.Linear):
    """``spectral_norm(nn.Linear(...))`` in eval mode, with frozen sigma."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 sigma_source: str = "stored") -> None:
        super().__init__(in_features, out_features, bias=bias)
        self._convert_to_torch_sn(sigma_source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class TorchSNConv2d(_TorchSN, nn.Conv2d):
    """``spectral_norm(nn.Conv2d(...))`` in eval mode, with frozen sigma."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, sigma_source: str = "stored") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self._convert_to_torch_sn(sigma_source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class TorchSNEmbedding(_TorchSN, nn.Embedding):
    """``spectral_norm(nn.Embedding(...))`` in eval mode, with frozen sigma (rows: the classes, torch's dim 0)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, sigma_source: str = "stored") -> None:
        super().__init__(num_embeddings, embedding_dim)
        self._convert_to_torch_sn(sigma_source)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.embedding(y, self.normalized_weight())


# --- normalisation ---

class ChainerBatchNorm(nn.Module):
    """Chainer ``L.BatchNormalization``: keys gamma/beta/avg_mean/avg_var -> weight/bias/running_*.

    Works on ``(n, C)`` and ``(n, C, H, W)``. eps 2e-5; no ``num_batches_tracked`` (Chainer's ``N``
    is dropped by the reader). In eval mode it uses the stored statistics, like Chainer with
    ``train=False``.
    """

    def __init__(self, num_features: int, eps: float = CHAINER_EPS, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)


class CategoricalConditionalBatchNorm(nn.Module):
    """Per-class gamma/beta BatchNorm (sngan_projection ``CategoricalConditionalBatchNormalization``).

    ``out = gammas[y] * (x - avg_mean) / sqrt(avg_var + eps) + betas[y]`` in eval mode. Keys:
    ``gammas.weight`` / ``betas.weight`` (Chainer ``gammas/W``, ``betas/W``: (n_classes, C)),
    ``running_mean`` / ``running_var`` (``avg_mean`` / ``avg_var``).
    """

    def __init__(self, num_features: int, n_classes: int, eps: float = CHAINER_EPS,
                 momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.gammas = nn.Embedding(n_classes, num_features)
        self.betas = nn.Embedding(n_classes, num_features)
        nn.init.ones_(self.gammas.weight)
        nn.init.zeros_(self.betas.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.batch_norm(x, self.running_mean, self.running_var, None, None,
                         self.training, self.momentum, self.eps)
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return self.gammas(y).view(shape) * h + self.betas(y).view(shape)


# --- attention ---

class SelfAttention(nn.Module):
    """SAGAN self-attention as in the DOT author's Chainer port (DOT ``sa/attention.py``, commit 50a004e).

    query/key: 1x1 SN convs C -> C//8, value: 1x1 SN conv C -> C, all with bias;
    ``out = gamma * (value @ softmax(query^T key)^T) + x``; ``gamma`` has shape (1,).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query_conv = SNConv2d(channels, channels // 8, 1)
        self.key_conv = SNConv2d(channels, channels // 8, 1)
        self.value_conv = SNConv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        query = self.query_conv(x).reshape(n, -1, h * w).transpose(1, 2)  # (n, N, C//8)
        key = self.key_conv(x).reshape(n, -1, h * w)                      # (n, C//8, N)
        attention = torch.softmax(torch.bmm(query, key), dim=2)           # (n, N, N)
        value = self.value_conv(x).reshape(n, -1, h * w)                  # (n, C, N)
        out = torch.bmm(value, attention.transpose(1, 2)).reshape(n, c, h, w)
        return self.gamma * out + x


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling (Chainer ``unpooling_2d(x, 2)``, torch ``nn.Upsample(2)``)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")
