"""The two Inception networks the FID Inception weights load into, built without weights (a leaf module).

* :func:`fid_inception_v3_unloaded`: pytorch-fid's ``fid_inception_v3()`` blocks (its key layout is
  torch-fidelity's ``inception-v3-compat`` layout too, docs/protocol.md#image-metrics);
* :func:`fidelity_inception`: torch-fidelity's ``inception-v3-compat`` network (pool3 only) over a state dict.

Used by :mod:`dotcli.metrics.extractors` (the pytorch-fid backend, pool3-only files) and by
:mod:`dotcli.weights` (``dot-weights inception``); it imports neither.
"""

from __future__ import annotations

import io

import torch
from torch import nn


def fid_inception_v3_unloaded() -> nn.Module:
    """pytorch-fid's ``fid_inception_v3()`` without its hard-wired download (same blocks, no weights yet)."""
    from pytorch_fid import inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def fidelity_inception(state: dict[str, torch.Tensor]) -> nn.Module:
    """torch-fidelity's ``inception-v3-compat`` network (pool3 ``2048`` only) over ``state`` (no fc needed)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    full = dict(state)
    # torch-fidelity loads strictly; a placeholder fc is never evaluated since only "2048" is requested
    full.setdefault("fc.weight", torch.zeros(1008, 2048))
    full.setdefault("fc.bias", torch.zeros(1008))
    buf = io.BytesIO()
    torch.save(full, buf)
    buf.seek(0)
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=buf)
