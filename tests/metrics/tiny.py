"""Tiny feature extractors for tests (the real Inception needs a 96 MB download).

``TinyExtractor``: dotcli's own protocol; pool features = tanh of a fixed random projection of the
4x4-average-pooled image (8-d), logits = a fixed linear map of those (10 classes). ``TinyFidelity``: the
same maths as a torch-fidelity ``FeatureExtractorBase``, registered with torch-fidelity once per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from dotcli.checkpoints import sha256_of
from dotcli.metrics.extractors import FeatureExtractor, Features, register_feature_extractor

TINY = "tiny-test"
TINY_NOLOGITS = "tiny-test-nologits"
TINY_FIDELITY = "dotcli-tiny-test"


def tiny_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"proj": torch.randn(48, 8, generator=g) / 3.0, "cls": torch.randn(8, 10, generator=g) * 3.0}


def tiny_forward(images: torch.Tensor, w: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = images.float() / 127.5 - 1.0
    x = F.adaptive_avg_pool2d(x, 4).flatten(1)  # (n, 48)
    pool = torch.tanh(x @ w["proj"] * 2.0)
    return pool, pool @ w["cls"]


class TinyExtractor(FeatureExtractor):
    """dotcli protocol; weights from a file (so the cache key follows the file's sha256) or a seed."""

    def __init__(self, weights: str | None = None, logits: bool = True) -> None:
        self.w = torch.load(weights) if weights else tiny_weights()
        self.name = TINY if logits else TINY_NOLOGITS
        self.has_logits = logits
        self.sha = sha256_of(weights) if weights else "seed0"

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "weights_sha256": self.sha}

    def __call__(self, images: torch.Tensor) -> Features:
        pool, logits = tiny_forward(images, self.w)
        return Features(pool=pool, logits=logits if self.has_logits else None)


class TinyFidelity(FeatureExtractorBase):
    """The same network inside torch-fidelity's machinery."""

    def __init__(self, name: str, features_list: list[str], **kwargs: Any) -> None:
        super().__init__(name, features_list)
        self.w = tiny_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pool, logits = tiny_forward(x, self.w)
        out = {"feat": pool, "logits": logits}
        return tuple(out[f] for f in self.features_list)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "feat", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": "logits", "fid": "feat", "kid": "feat", "prc": "feat"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 4, 4, dtype=torch.uint8)


def register_tiny() -> None:
    """Register the tiny extractors with dotcli (idempotent) and with torch-fidelity (once per process)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    from torch_fidelity.registry import register_feature_extractor as tf_register

    register_feature_extractor(TINY, lambda weights=None, **_: TinyExtractor(weights), replace=True)
    register_feature_extractor(TINY_NOLOGITS, lambda weights=None, **_: TinyExtractor(weights, logits=False),
                               replace=True)
    if TINY_FIDELITY not in FEATURE_EXTRACTORS_REGISTRY:
        tf_register(TINY_FIDELITY, TinyFidelity)


def save_tiny_weights(path: Path, seed: int) -> Path:
    torch.save(tiny_weights(seed), path)
    return path


def make_tiny_extractor(weights: str | None = None, **_: Any) -> TinyExtractor:
    """Factory for ``metrics.feature_extractor=py:tests.metrics.tiny:make_tiny_extractor`` (CLI tests)."""
    return TinyExtractor(weights)
