"""CLIP ViT-B/32 image features as a feature extractor (FD on CLIP, Kynkaanniemi et al., ICLR 2023).

``metrics.feature_extractor=clip-vit-b-32`` with ``metrics.feature_extractor_weights=PATH``. The network and the
preprocessing are torch-fidelity's (``feature_extractor_clip.py``: OpenAI's visual tower built by its
``build_model`` from the state dict, TF1-compatible bilinear resize of the uint8 values to 224, CLIP's mean/std,
the 512-d image embedding); only the loading is dotcli's, because torch-fidelity reads a local file with
``torch.jit.load``, which runs TorchScript code stored in the file (``__setstate__``) and so trusts it:

* OpenAI's published ``ViT-B-32.pt`` (a TorchScript archive) is recognised by its sha256 (the one in its URL,
  torch-fidelity's ``MODEL_METADATA``) and only then opened with ``torch.jit.load``;
* any other file must be a plain state dict (``torch.load(weights_only=True)``, no code runs), e.g. one
  written by ``torch.save(torch.jit.load("ViT-B-32.pt").state_dict(), "clip-vit-b-32.pth")`` on a machine
  that trusts the original.

Registered with torch-fidelity as :data:`FIDELITY_NAME`; IS is never computed from it (an embedding is not
class logits). Weights: :data:`URL`.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_clip import MODEL_METADATA, MODEL_URLS, FeatureExtractorCLIP, build_model

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics.extractors import (
    FeatureExtractor,
    TorchFidelityExtractor,
    _version,
    register_feature_extractor,
    resolve_hub_weights,
)

NAME = "clip-vit-b-32"
FIDELITY_NAME = "dotcli-clip-vit-b-32"
URL = MODEL_URLS[NAME]
OFFICIAL_SHA256 = MODEL_METADATA[NAME]["hash"]
FILE = f"{NAME}-{OFFICIAL_SHA256}.pt"  # torch-fidelity's cache name for it (reused when present)
#: what the file must hold (OpenAI ViT-B/32: width 768, 12 blocks, patch 32 at 224 px, 512-d embedding)
ARCHITECTURE = {"width": 768, "layers": 12, "patch": 32, "resolution": 224, "embed_dim": 512}
RESIZE = "torch-fidelity TF1-compatible bilinear to 224 (not dgm-eval's PIL bicubic)"


def architecture_of(state: dict[str, Any]) -> dict[str, int]:
    """The visual tower's size read from a CLIP ViT state dict (as torch-fidelity's ``build_model`` reads it)."""
    try:
        conv = state["visual.conv1.weight"]
        grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        embed = int(state["visual.proj"].shape[1])
    except (KeyError, AttributeError, IndexError, TypeError) as exc:
        raise DotcliError(f"not a CLIP ViT state dict (no {exc}); expected OpenAI's key layout "
                          "(visual.conv1.weight, visual.positional_embedding, visual.proj, ...)") from None
    layers = len([k for k in state if k.startswith("visual.") and k.endswith(".attn.in_proj_weight")])
    return {"width": int(conv.shape[0]), "layers": layers, "patch": int(conv.shape[-1]),
            "resolution": int(conv.shape[-1]) * grid, "embed_dim": embed}


def _is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript zip archive (it holds ``<name>/constants.pkl`` or ``<name>/code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: OpenAI's TorchScript file (recognised by its sha256) or a plain state dict."""
    from dotcli.models.loading import load_torch_weights

    path = Path(path)
    if sha256_of(path) == OFFICIAL_SHA256:
        # the published file itself, so its TorchScript is OpenAI's (what torch-fidelity and clip.load run)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    plain = ("a CLIP file other than OpenAI's ViT-B-32.pt (sha256 " + OFFICIAL_SHA256[:12] + "...) must be a "
             "plain state dict: torch.save(torch.jit.load(F).state_dict(), OUT) where F is trusted")
    if _is_torchscript(path):  # refused before torch.load, which would hand it to torch.jit.load
        raise DotcliError(f"{path} is a TorchScript archive (it can run code when loaded); {plain}")
    try:
        state = load_torch_weights(path, f"the {NAME} weights file")
    except DotcliError as exc:
        raise DotcliError(f"{exc}; {plain}") from None
    if not isinstance(state, dict):
        raise DotcliError(f"{path} holds a {type(state).__name__}, not a CLIP state dict")
    return state


def load_clip_visual(path: str | Path) -> torch.nn.Module:
    """torch-fidelity's ``CLIPVisual`` over the checked state dict in ``path``."""
    state = read_state_dict(path)
    arch = architecture_of(state)
    if arch != ARCHITECTURE:
        raise DotcliError(f"{path} holds a CLIP with {arch}, but {NAME} is {ARCHITECTURE}; pass OpenAI's "
                          f"ViT-B-32.pt (from {URL})")
    if "text_projection" not in state:  # build_model reads the embedding size from it (same as visual.proj's)
        state["text_projection"] = torch.empty(0, arch["embed_dim"])
    try:
        return build_model(dict(state), torch.float32)
    except Exception as exc:
        raise DotcliError(f"cannot load {path} into torch-fidelity's CLIP ViT-B/32 ({exc})") from exc


class LocalCLIP(FeatureExtractorCLIP):
    """torch-fidelity's CLIP extractor (its ``forward``) over a file read by :func:`read_state_dict`."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs: Any) -> None:
        FeatureExtractorBase.__init__(self, name, features_list)  # not CLIP's __init__: it jit-loads any file
        if feature_extractor_weights_path is None:
            raise DotcliError(f"{name} needs feature_extractor_weights_path (from {URL})")
        self.feature_extractor_internal_dtype = torch.float32
        self.model = load_clip_visual(feature_extractor_weights_path)
        self.resolution = self.model.visual.input_resolution
        self.requires_grad_(False)
        self.eval()


def register_with_torch_fidelity() -> None:
    """Make :data:`FIDELITY_NAME` known to torch-fidelity (its registry is process-global: once)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if FIDELITY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(FIDELITY_NAME, LocalCLIP)


def resolve_weights(path: Any, allow_download: bool) -> Path:
    """The weights file (``metrics.feature_extractor_weights`` or torch-fidelity's cache name; a download is
    checked against OpenAI's sha256)."""
    return resolve_hub_weights(path, name=NAME, filename=FILE, url=URL, allow_download=allow_download,
                               sha256=OFFICIAL_SHA256)


def make_clip(*, device: torch.device, extractor_weights: Any = None, allow_download: bool = True,
              **_: Any) -> FeatureExtractor:
    """``metrics.feature_extractor=clip-vit-b-32`` over ``metrics.feature_extractor_weights`` (or the cache)."""
    from torch_fidelity.utils import create_feature_extractor

    path = resolve_weights(extractor_weights, allow_download)
    register_with_torch_fidelity()
    module = create_feature_extractor(FIDELITY_NAME, ["clip"], cuda=False, verbose=False,
                                      feature_extractor_weights_path=str(path))
    digest = sha256_of(path)
    identity = {"name": NAME, "torch_fidelity": _version("torch-fidelity"), "weights_file": path.name,
                "weights_sha256": digest, "official_file": digest == OFFICIAL_SHA256,
                "pool": f"image embedding ({ARCHITECTURE['embed_dim']})", "logits": None, "resize": RESIZE,
                "normalise": "CLIP mean/std"}
    return TorchFidelityExtractor(module, "clip", None, identity, device, resize=RESIZE)


register_feature_extractor(NAME, make_clip, replace=True)
