"""``inception-chainer-compat``: the FID Inception as the DOT paper's Chainer evaluation ran it.

The paper's IS/FID came from a Chainer port of the TF-2015 Inception (DOT ``metric/inception_score.py``,
cloned from mattya/chainer-inception-score, and ``evaluation.py``; docs/protocol.md#chainer-inception).
It differs from torch-fidelity's ``inception-v3-compat`` (the default, comparable with today's literature)
in its input and in two details of the network; this extractor runs torch-fidelity's network modules over
*the same weights file* with the Chainer conventions:

* input: float images ``clip(x * 127.5 + 127.5, 0, 255)`` never rounded to uint8 (``execute_dot*.py``
  ``calc_scores``); the evaluation passes such floats to this extractor (``takes_float``), uint8 reference
  images are converted exactly;
* resize: ``F.resize_images(x, (299, 299))``, bilinear with align_corners=True (torch-fidelity resizes
  like TF1, align_corners=False); then ``x -= 128; x *= 0.0078125``;
* BatchNorm eps 2e-5: Chainer's ``L.BatchNormalization`` default. The converter (``download.py``) set
  ``layer.eps`` to TF's 0.001, but eps is not a persistent value, so ``load_hdf5`` into a fresh
  ``Inception()`` runs with 2e-5;
* the 3x3 average pools inside the mixed blocks count the zero padding (``F.average_pooling_2d`` pads with
  0; TF and torch-fidelity exclude the padding);
* IS: ``softmax(W pool + b)`` *with* the bias (torch-fidelity's ``logits_unbiased`` drop it), splits in
  sample order without a shuffle.

``chainer_network=False`` keeps torch-fidelity's BN eps and pooling (only the input conventions change),
which the tests use to check this forward against torch-fidelity's own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics.extractors import (
    FeatureExtractor,
    Features,
    _load_state_dict,
    _version,
    register_feature_extractor,
    resolve_inception_weights,
)

NAME = "inception-chainer-compat"
SIZE = 299
CHAINER_BN_EPS = 2e-5  # chainer.links.BatchNormalization default (eps is not saved by serializers)


class ChainerCompatInception(nn.Module):
    """torch-fidelity's ``FeatureExtractorInceptionV3`` modules with the Chainer port's conventions.

    ``forward`` takes float images ``(n, 3, H, W)`` in [0, 255] and returns ``(pool (n, 2048), logits or None)``.
    """

    def __init__(self, net: nn.Module, has_logits: bool, chainer_network: bool = True) -> None:
        super().__init__()
        self.net, self.has_logits, self.chainer_network = net, has_logits, chainer_network
        if chainer_network:
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eps = CHAINER_BN_EPS
        self.requires_grad_(False)
        self.eval()

    def _avg3(self, x: torch.Tensor) -> torch.Tensor:
        # Chainer: average_pooling_2d(x, 3, 1, 1) divides by 9 everywhere; TF / torch-fidelity exclude the padding
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=self.chainer_network)

    def _block_a(self, b: nn.Module, x: torch.Tensor) -> torch.Tensor:  # Mixed_5b/5c/5d
        branch5 = b.branch5x5_2(b.branch5x5_1(x))
        dbl = b.branch3x3dbl_3(b.branch3x3dbl_2(b.branch3x3dbl_1(x)))
        return torch.cat([b.branch1x1(x), branch5, dbl, b.branch_pool(self._avg3(x))], 1)

    def _block_c(self, b: nn.Module, x: torch.Tensor) -> torch.Tensor:  # Mixed_6b..6e
        b7 = b.branch7x7_3(b.branch7x7_2(b.branch7x7_1(x)))
        dbl = x
        for unit in (b.branch7x7dbl_1, b.branch7x7dbl_2, b.branch7x7dbl_3, b.branch7x7dbl_4, b.branch7x7dbl_5):
            dbl = unit(dbl)
        return torch.cat([b.branch1x1(x), b7, dbl, b.branch_pool(self._avg3(x))], 1)

    def _block_e(self, b: nn.Module, x: torch.Tensor, max_pool: bool) -> torch.Tensor:  # Mixed_7b / 7c
        h = b.branch3x3_1(x)
        b3 = torch.cat([b.branch3x3_2a(h), b.branch3x3_2b(h)], 1)
        h = b.branch3x3dbl_2(b.branch3x3dbl_1(x))
        dbl = torch.cat([b.branch3x3dbl_3a(h), b.branch3x3dbl_3b(h)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if max_pool else self._avg3(x)
        return torch.cat([b.branch1x1(x), b3, dbl, b.branch_pool(pooled)], 1)

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 255] -> the network input: Chainer resize, then the graph's centring."""
        x = x.float()
        if x.shape[-2:] != (SIZE, SIZE):  # evaluation.py / inception_score.py: F.resize_images, bilinear
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=True)
        return (x - 128.0) * 0.0078125  # inception_score.py Inception.__call__: x -= 128.0; x *= 0.0078125

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = self.net
        x = self.preprocess(x)
        x = n.MaxPool_1(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))))
        x = n.MaxPool_2(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)))
        for block in (n.Mixed_5b, n.Mixed_5c, n.Mixed_5d):
            x = self._block_a(block, x)
        x = n.Mixed_6a(x)  # no average pool inside: torch-fidelity's forward as it is
        for block in (n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e):
            x = self._block_c(block, x)
        x = n.Mixed_7a(x)
        x = self._block_e(n.Mixed_7b, x, max_pool=False)
        x = self._block_e(n.Mixed_7c, x, max_pool=True)  # the TF graph's last pool is a max pool
        pool = x.mean(dim=(2, 3))  # average_pooling_2d(h, 8, 1) over the 8x8 map
        logits = F.linear(pool, n.fc.weight, n.fc.bias) if self.has_logits else None  # W pool + b
        return pool, logits


class ChainerCompatExtractor(FeatureExtractor):
    """Features of :class:`ChainerCompatInception`; takes float images in [0, 255] (or uint8)."""

    name = NAME
    takes_float = True
    resize = "Chainer F.resize_images: bilinear to 299, align_corners=True"
    is_shuffle = False  # inception_score.py splits the predictions in sample order

    def __init__(self, net: nn.Module, has_logits: bool, identity: dict[str, Any], device: torch.device,
                 chainer_network: bool = True) -> None:
        self.model = ChainerCompatInception(net, has_logits, chainer_network).to(device)
        self.has_logits = has_logits
        self.device = device
        self._identity = identity

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> Features:
        if images.ndim != 4 or images.shape[1] != 3 or not (images.dtype == torch.uint8 or images.is_floating_point()):
            raise DotcliError(f"{NAME} takes float images in [0, 255] or uint8 images (n, 3, H, W), got "
                              f"{images.dtype} {tuple(images.shape)}")
        pool, logits = self.model(images.to(self.device))
        return Features(pool=pool.float(), logits=None if logits is None else logits.float())


def make_chainer_compat(*, device: torch.device, weights: Any = None, allow_download: bool = True,
                        chainer_network: bool = True, **_: Any) -> FeatureExtractor:
    """``metrics.feature_extractor=inception-chainer-compat`` over ``metrics.inception_weights``."""
    from dotcli.weights import fidelity_inception

    path = resolve_inception_weights(weights, allow_download)
    state = _load_state_dict(path)
    has_logits = "fc.weight" in state and "fc.bias" in state
    try:
        net = fidelity_inception(state)  # a pool3-only file gets a placeholder fc, never used (no logits)
    except Exception as exc:
        raise DotcliError(f"cannot load the Inception weights {path} into torch-fidelity's network ({exc})") from exc
    identity = {"name": NAME, "network": "torch-fidelity inception-v3-compat modules",
                "torch_fidelity": _version("torch-fidelity"), "weights_file": path.name,
                "weights_sha256": sha256_of(path), "pool": "2048",
                "input": "float in [0, 255], not quantised; bilinear resize to 299 with align_corners=True; "
                         "(x - 128) * 0.0078125",
                "network_conventions": ("Chainer port: BN eps 2e-5, 3x3 average pools count the padding"
                                        if chainer_network else "torch-fidelity's (TF) BN eps and pooling"),
                "logits": "W pool + b (with the bias); IS splits unshuffled" if has_logits else None}
    return ChainerCompatExtractor(net, has_logits, identity, device, chainer_network)


register_feature_extractor(NAME, make_chainer_compat, replace=True)
