"""A small Fashion-MNIST classifier as a feature extractor: classifier FID/KID and classifier IS on a CPU.

``metrics.feature_extractor=fmnist-classifier``. The network (:class:`FmnistNet`, trained by
``scripts/train_classifier.py``, shipped as ``dotcli/assets/fmnist/fmnist_classifier.pt`` with its recipe
and test accuracy) sees 32x32 grey images: the evaluation's uint8 RGB images ``(n, 3, 32, 32)`` are averaged
over the channels (exact for grey-repeated images) and mapped to [-1, 1] like ``from_uint8``.

* FID/KID features (``pool``): the 128-d output of ``fc1`` *before* its ReLU. After the ReLU several units
  are zero for most images, which makes the feature covariance singular and FID's matrix square root
  unstable; the pre-activation carries the same information with a full-rank covariance.
* IS (``logits``): the 10 class logits (IS is then at most 10, the number of classes).

These numbers measure distances in this classifier's feature space: they are comparable between runs that
use the same file (its sha256 is part of every record and of the reference-statistics cache key), not with
Inception FIDs or with other papers' "FMNIST FIDs".
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics.extractors import FeatureExtractor, Features, _check_images, register_feature_extractor

NAME = "fmnist-classifier"
PACKAGE_FILE = "assets/fmnist/fmnist_classifier.pt"
FEATURES = 128
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


class FmnistNet(nn.Module):
    """conv(1->w)-BN-ReLU-maxpool x3 (w = width, 2 width, 4 width) at 32/16/8 px, fc1 (-> 128), ReLU, fc2 (-> 10)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        chans = (1, width, 2 * width, 4 * width)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False)
                                   for a, b in zip(chans, chans[1:], strict=False))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in chans[1:])
        self.fc1 = nn.Linear(4 * width * 4 * 4, FEATURES)
        self.fc2 = nn.Linear(FEATURES, len(CLASSES))
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation ``fc1`` output ``(n, 128)`` of grey images ``(n, 1, 32, 32)`` in [-1, 1]."""
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2)
        return self.fc1(x.flatten(1))

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        """Class logits from :meth:`features`."""
        return self.fc2(self.dropout(F.relu(feats)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def uint8_to_grey(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(n, 3, h, w)`` -> float ``(n, 1, h, w)`` in [-1, 1]: channel mean, then ``u / 127.5 - 1``."""
    return images.float().mean(dim=1, keepdim=True) / 127.5 - 1.0


def packaged_weights() -> Path:
    path = Path(str(resources.files("dotcli").joinpath(PACKAGE_FILE)))
    if not path.is_file():
        raise DotcliError(f"the Fashion-MNIST classifier {PACKAGE_FILE} is missing from the dotcli install "
                          f"({path}); reinstall dotcli or train it with scripts/train_classifier.py")
    return path


def load_classifier(path: str | Path | None = None) -> tuple[FmnistNet, dict[str, Any]]:
    """The network (eval mode) and its recipe from ``path`` (default: the shipped file)."""
    path = Path(path) if path else packaged_weights()
    from dotcli.models.loading import load_torch_weights

    blob = load_torch_weights(path, "the Fashion-MNIST classifier")
    try:
        net = FmnistNet(width=int(blob["recipe"]["width"]))
        net.load_state_dict(blob["state"])
    except Exception as exc:
        raise DotcliError(f"cannot load the Fashion-MNIST classifier {path} ({exc})") from exc
    return net.eval().requires_grad_(False), dict(blob["recipe"])


class ClassifierExtractor(FeatureExtractor):
    """:class:`FmnistNet` as a dotcli feature extractor (pre-ReLU fc1 features, class logits)."""

    name = NAME
    has_logits = True
    resize = "none (32x32 input)"

    def __init__(self, path: str | Path | None = None, device: torch.device | str = "cpu") -> None:
        path = Path(path) if path else packaged_weights()
        self.net, self.recipe = load_classifier(path)
        self.device = torch.device(device)
        self.net.to(self.device)
        self._identity = {"name": NAME, "weights_file": path.name, "weights_sha256": sha256_of(path),
                          "pool": f"fc1 pre-activation ({FEATURES})", "logits": f"fc2 ({len(CLASSES)} classes)",
                          "input": "channel mean of uint8 RGB, u / 127.5 - 1",
                          "test_accuracy": self.recipe.get("test_accuracy")}

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> Features:
        _check_images(images)
        feats = self.net.features(uint8_to_grey(images.to(self.device)))
        return Features(pool=feats.float(), logits=self.net.head(feats).float())


def _factory(*, device: torch.device, **_: Any) -> FeatureExtractor:
    # metrics.inception_weights names the Inception's file, never this one: always the shipped classifier
    return ClassifierExtractor(device=device)


register_feature_extractor(NAME, _factory, replace=True)
