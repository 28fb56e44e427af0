"""Feature extractors for IS/FID/KID: the TF-2015 Inception through torch-fidelity or pytorch-fid, and a hook.

Every extractor takes uint8 images ``(n, 3, H, W)`` and returns :class:`Features` (pool features for
FID/KID, logits for IS or ``None``). ``identity()`` says what determines the features (name, backend,
sha256 of the weights file...); it is part of the reference-statistics cache key.

Backends of ``inception-v3-compat`` (docs/protocol.md#image-metrics):

* ``torch-fidelity``: ``FeatureExtractorInceptionV3`` with features ``2048`` and ``logits_unbiased``; its
  TF1-compatible bilinear resize to 299 on the uint8 values and ``(x - 128) / 128``.
* ``pytorch-fid``: pytorch-fid's ``InceptionV3`` (its FID blocks and its ``forward``: ``F.interpolate``
  bilinear resize of ``x / 255`` and ``2 x - 1``), loaded from *the same* weights file. torch-fidelity's
  file has exactly the key layout of pytorch-fid's torchvision-based network (566 tensors, same names and
  shapes: both are ports of the same TF graph), so the mapping is the identity; ``pytorch_fid_state_dict``
  checks that instead of assuming it. IS under this backend uses the same network's ``fc`` weight on
  its pool features (``logits_unbiased`` as torch-fidelity defines it), i.e. pytorch-fid preprocessing.
  pytorch-fid's own file (``pt_inception-2015-12-05-6726825d.pth``) is never downloaded.

The two backends run the same network; their features differ only by the resize and by 128 vs 127.5
as the centre (so FID values differ slightly; published numbers mostly come from TF, which torch-fidelity
reproduces).

Other feature spaces, each in its own module, imported when named: ``dinov2-vit-l-14``
(:mod:`dotcli.metrics.dinov2`) and ``clip-vit-b-32`` (:mod:`dotcli.metrics.clip`), both registered with
torch-fidelity and run through its preprocessing, their weights from ``metrics.feature_extractor_weights``
(``extractor_weights`` here) or the torch.hub cache (:func:`resolve_hub_weights`); ``fmnist-classifier``
and ``inception-chainer-compat``. Every extractor says how it resizes (``resize``: recorded with the metrics).

The hook: ``register_feature_extractor(name, factory)`` (dotcli's own registry, used by tests with a
tiny extractor). torch-fidelity's ``register_feature_extractor`` is process-global and refuses a second
registration of a name, and its extractors must subclass ``FeatureExtractorBase``; any extractor
registered there is still usable as ``metrics.feature_extractor=torch-fidelity:<name>`` (the same
adapter as the Inception), so both routes are open.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.metrics.inception_net import fid_inception_v3_unloaded as _fid_inception_v3_unloaded
from dotcli.metrics.inception_net import fidelity_inception

INCEPTION = "inception-v3-compat"
BACKENDS = ("torch-fidelity", "pytorch-fid")
# torch-fidelity 0.4.0 feature_extractor_inceptionv3.URL_INCEPTION_V3 (not imported: keeps import light)
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]
TORCH_FIDELITY_PREFIX = "torch-fidelity:"
# torch-fidelity's extractors resize with interpolate_bilinear_2d_like_tensorflow1x to their input size
FIDELITY_RESIZE = "torch-fidelity TF1-compatible bilinear to the network's input size"
INCEPTION_RESIZE = "torch-fidelity TF1-compatible bilinear to 299"
IMPORT_PREFIX = "py:"  # py:package.module:factory -> an extractor factory importable by the run's process


@dataclass
class Features:
    """Features of one image batch: ``pool`` ``(n, d)`` for FID/KID, ``logits`` ``(n, classes)`` for IS."""

    pool: torch.Tensor
    logits: torch.Tensor | None = None


class FeatureExtractor(ABC):
    """uint8 images ``(n, 3, H, W)`` in (floats in [0, 255] where ``takes_float``), :class:`Features` out."""

    name: str = "extractor"
    #: whether ``logits`` are produced (IS is reported only then)
    has_logits: bool = False
    #: the evaluation passes generated images as floats in [0, 255], never quantised (instead of uint8);
    #: reference images stay uint8 (inception-chainer-compat, docs/protocol.md#chainer-inception)
    takes_float: bool = False
    #: IS shuffles the rows before splitting (torch-fidelity); False: splits in sample order (Chainer)
    is_shuffle: bool = True
    #: how images reach the network's input size (recorded: e.g. torch-fidelity's bilinear vs dgm-eval's bicubic)
    resize: str | None = None

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that determines the features (goes into the reference-statistics cache key)."""

    @abstractmethod
    def __call__(self, images: torch.Tensor) -> Features: ...


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise DotcliError(f"feature extractors take uint8 images (n, 3, H, W), got {images.dtype} "
                          f"{tuple(images.shape)}")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


class TorchFidelityExtractor(FeatureExtractor):
    """Adapter around any torch-fidelity ``FeatureExtractorBase`` (the Inception included)."""

    def __init__(self, module: nn.Module, pool_layer: str, logits_layer: str | None, identity: dict[str, Any],
                 device: torch.device, resize: str | None = FIDELITY_RESIZE) -> None:
        self.module = module.to(device).eval()
        self.pool_layer, self.logits_layer = pool_layer, logits_layer
        self.device = device
        self.name = identity["name"]
        self.has_logits = logits_layer is not None
        self.resize = resize
        self._identity = identity

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> Features:
        _check_images(images)
        out = self.module.convert_features_tuple_to_dict(self.module(images.to(self.device)))
        logits = out[self.logits_layer].float() if self.logits_layer else None
        return Features(pool=out[self.pool_layer].float(), logits=logits)


def resolve_inception_weights(path: str | os.PathLike | None, allow_download: bool) -> Path:
    """The Inception weights file: ``path`` when given, else torch-fidelity's own download location.

    torch-fidelity loads its weights with ``torch.hub.load_state_dict_from_url``, i.e. into
    ``<torch.hub.get_dir()>/checkpoints/`` ($TORCH_HOME); we look there and download there with the same
    torch.hub function (temporary file, then rename), so a file torch-fidelity already fetched is reused.
    """
    return resolve_hub_weights(path, name="Inception", filename=INCEPTION_FILE, url=INCEPTION_URL,
                               allow_download=allow_download, key="metrics.inception_weights")


def resolve_hub_weights(path: str | os.PathLike | None, *, name: str, filename: str, url: str,
                        allow_download: bool, sha256: str | None = None,
                        key: str = "metrics.feature_extractor_weights") -> Path:
    """The weights file of extractor ``name``: ``path`` (the config ``key``) when given, else
    ``<torch.hub.get_dir()>/checkpoints/<filename>`` (where torch.hub / torch-fidelity cache it), downloaded
    there from ``url`` when ``allow_download`` (checked against ``sha256`` when the publisher gives one).

    Called when the extractor is built, i.e. before any sampling: a missing file is one DotcliError naming
    the file and the URL to get it from.
    """
    if path is not None:
        p = Path(str(path)).expanduser()
        if not p.is_file():
            raise DotcliError(f"{key}={path} is not a file; {name} needs {filename} (from {url}), or set it to "
                              "null to use the torch.hub cache")
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if p.is_file():
        return p
    if not allow_download:
        raise DotcliError(f"{name} weights {filename} not found at {p} and downloads are off "
                          f"(paths.allow_download=false); download {url} and pass "
                          f"{key}=PATH (or put it at that location)")
    p.parent.mkdir(parents=True, exist_ok=True)
    try:  # temporary file, then rename; hash_prefix: the whole sha256 where known
        checked = {"hash_prefix": sha256} if sha256 else {}
        torch.hub.download_url_to_file(url, str(p), progress=True, **checked)
    except Exception as exc:
        raise DotcliError(f"could not download the {name} weights from {url} ({exc}); download it by hand "
                          f"and pass {key}=PATH") from exc
    return p


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from dotcli.models.loading import load_torch_weights

    state = load_torch_weights(path, "the Inception weights file")
    if not isinstance(state, dict):
        raise DotcliError(f"{path} holds a {type(state).__name__}, not a state dict of Inception weights")
    return state


def pytorch_fid_state_dict(fidelity_state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Map torch-fidelity's Inception state dict onto pytorch-fid's network.

    The layouts coincide (``Conv2d_1a_3x3.conv.weight`` ... ``Mixed_7c.branch_pool.bn.running_var``,
    ``fc.weight``, ``fc.bias``; torch-fidelity's extra modules MaxPool_1/2 and AvgPool have no tensors), so
    the map is the identity; this checks names and shapes and names what differs if a version changes it.
    """
    target = net.state_dict()
    if "fc.weight" in target and "fc.weight" not in fidelity_state and "fc.bias" not in fidelity_state:
        # a pool3-only file (dot-weights inception): keep the network's own fc, which FID never uses
        fidelity_state = {**fidelity_state, "fc.weight": target["fc.weight"], "fc.bias": target["fc.bias"]}
    missing = sorted(set(target) - set(fidelity_state))
    extra = sorted(set(fidelity_state) - set(target))
    shapes = [k for k in target if k in fidelity_state and fidelity_state[k].shape != target[k].shape]
    if missing or extra or shapes:
        raise DotcliError("the Inception weights do not fit pytorch-fid's network "
                          f"(missing {missing[:3]}, unexpected {extra[:3]}, shape mismatch {shapes[:3]}); "
                          "use metrics.fid_backend=torch-fidelity")
    return {k: fidelity_state[k] for k in target}


def _pytorch_fid_network(state: dict[str, torch.Tensor]) -> nn.Module:
    from pytorch_fid.inception import InceptionV3

    class PytorchFidInception(InceptionV3):
        """pytorch-fid's ``InceptionV3`` (pool3 block, resize and normalise on) over given weights.

        Its ``__init__`` always downloads pytorch-fid's file, so the attributes its ``forward`` reads
        (``resize_input``, ``normalize_input``, ``output_blocks``, ``last_needed_block``, ``blocks``) are
        set here exactly as ``InceptionV3(output_blocks=[3])`` sets them.
        """

        def __init__(self, weights: dict[str, torch.Tensor]) -> None:
            nn.Module.__init__(self)
            self.resize_input, self.normalize_input = True, True
            self.output_blocks, self.last_needed_block = [3], 3
            net = _fid_inception_v3_unloaded()
            net.load_state_dict(pytorch_fid_state_dict(weights, net))
            self.blocks = nn.ModuleList([
                nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3,
                              nn.MaxPool2d(kernel_size=3, stride=2)),
                nn.Sequential(net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)),
                nn.Sequential(net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b,
                              net.Mixed_6c, net.Mixed_6d, net.Mixed_6e),
                nn.Sequential(net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1))),
            ])
            self.fc = net.fc
            self.requires_grad_(False)

    return PytorchFidInception(state)


class PytorchFidExtractor(FeatureExtractor):
    """The ``pytorch-fid`` backend: pool3 features as ``pytorch_fid.fid_score`` computes them from PNGs."""

    has_logits = True
    resize = "pytorch-fid F.interpolate bilinear to 299"

    def __init__(self, weights_path: Path, weights_sha256: str, device: torch.device) -> None:
        state = _load_state_dict(weights_path)
        # a pool3-only file (dot-weights inception) has no fc: FID/KID only, IS unavailable
        self.has_logits = "fc.weight" in state
        self.net = _pytorch_fid_network(state).to(device).eval()
        self.device = device
        self.name = INCEPTION
        self._identity = {"name": INCEPTION, "backend": "pytorch-fid", "pytorch_fid": _version("pytorch-fid"),
                          "weights_file": weights_path.name, "weights_sha256": weights_sha256,
                          "pool": "2048",
                          "logits": "fc weight on pool (logits_unbiased)" if self.has_logits else None}

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> Features:
        _check_images(images)
        x = images.to(self.device, torch.float32) / 255.0  # pytorch-fid reads PNGs with ToTensor(): x / 255
        pool = self.net(x)[0].flatten(1)
        logits = pool @ self.net.fc.weight.T if self.has_logits else None  # torch-fidelity's logits_unbiased
        return Features(pool=pool, logits=logits)


def has_classifier(path: Path) -> bool:
    """Whether an Inception weights file holds the 1008-way ``fc`` layer (needed for IS)."""
    return "fc.weight" in _load_state_dict(path)


def _make_inception(*, device: torch.device, fid_backend: str = "torch-fidelity", weights: Any = None,
                    allow_download: bool = True, **_: Any) -> FeatureExtractor:
    if fid_backend not in BACKENDS:
        raise DotcliError(f"metrics.fid_backend={fid_backend!r} is not one of {', '.join(BACKENDS)}")
    path = resolve_inception_weights(weights, allow_download)
    digest = sha256_of(path)
    if fid_backend == "pytorch-fid":
        return PytorchFidExtractor(path, digest, device)
    from torch_fidelity.utils import create_feature_extractor

    if not has_classifier(path):  # pool3-only file (dot-weights inception): FID/KID, no IS
        identity = {"name": INCEPTION, "backend": "torch-fidelity", "torch_fidelity": _version("torch-fidelity"),
                    "weights_file": path.name, "weights_sha256": digest, "pool": "2048", "logits": None}
        try:
            module = fidelity_inception(_load_state_dict(path))
        except Exception as exc:
            raise DotcliError(f"cannot load the Inception weights {path} into torch-fidelity ({exc})") from exc
        return TorchFidelityExtractor(module, "2048", None, identity, device, resize=INCEPTION_RESIZE)
    layers = ["2048", "logits_unbiased"]
    try:
        # cuda=False always: the module is moved to `device` below (cuda=True would pick the default GPU)
        module = create_feature_extractor(INCEPTION, layers, cuda=False, verbose=False,
                                          feature_extractor_weights_path=str(path))
    except Exception as exc:
        raise DotcliError(f"cannot load the Inception weights {path} into torch-fidelity ({exc})") from exc
    identity = {"name": INCEPTION, "backend": "torch-fidelity", "torch_fidelity": _version("torch-fidelity"),
                "weights_file": path.name, "weights_sha256": digest, "pool": "2048", "logits": "logits_unbiased"}
    return TorchFidelityExtractor(module, "2048", "logits_unbiased", identity, device, resize=INCEPTION_RESIZE)


def _make_torch_fidelity(name: str, *, device: torch.device, weights: Any = None, **_: Any) -> FeatureExtractor:
    """Any extractor registered with torch-fidelity, with its default FID layer and (if any) IS layer."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    from torch_fidelity.utils import create_feature_extractor

    if name.startswith("dinov2-"):  # torch-fidelity's DINOv2 always goes to GitHub through torch.hub
        raise DotcliError(f"feature extractor {TORCH_FIDELITY_PREFIX}{name} loads its code and weights through "
                          "torch.hub (GitHub, no local file); use metrics.feature_extractor=dinov2-vit-l-14 with "
                          "metrics.feature_extractor_weights=PATH (dotcli's network, docs/metrics/feature-spaces.md)")
    cls = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if cls is None:
        raise DotcliError(f"feature extractor {name!r} is not registered with torch-fidelity "
                          f"(known: {', '.join(sorted(FEATURE_EXTRACTORS_REGISTRY))})")
    pool = cls.get_default_feature_layer_for_metric("fid")
    try:
        logits = cls.get_default_feature_layer_for_metric("isc")
    except (KeyError, NotImplementedError):
        logits = None
    layers = [pool] + ([logits] if logits and logits != pool else [])
    kwargs = {"feature_extractor_weights_path": str(Path(str(weights)).expanduser())} if weights else {}
    try:
        module = create_feature_extractor(name, layers, cuda=False, verbose=False, **kwargs)
    except DotcliError:
        raise
    except Exception as exc:  # torch-fidelity's own checks raise ValueError/RuntimeError/NotImplementedError
        raise DotcliError(f"torch-fidelity cannot build feature extractor {name!r} ({type(exc).__name__}: "
                          f"{exc})") from exc
    identity = {"name": TORCH_FIDELITY_PREFIX + name, "class": f"{cls.__module__}.{cls.__qualname__}",
                "torch_fidelity": _version("torch-fidelity"), "pool": pool, "logits": logits,
                "weights_sha256": sha256_of(kwargs["feature_extractor_weights_path"]) if weights else None}
    return TorchFidelityExtractor(module, pool, logits if logits != pool else None, identity, device)


#: factory(device=, fid_backend=, weights=, allow_download=, extractor_weights=) -> FeatureExtractor; extra
#: keywords ignored
ExtractorFactory = Callable[..., FeatureExtractor]
_FACTORIES: dict[str, ExtractorFactory] = {INCEPTION: _make_inception}
#: extractors shipped with dotcli in their own modules, which register themselves when imported (lazily:
#: a run that does not name them never imports them)
_BUILTIN_MODULES = {"fmnist-classifier": "dotcli.metrics.classifier",
                    "dinov2-vit-l-14": "dotcli.metrics.dinov2", "clip-vit-b-32": "dotcli.metrics.clip",
                    "inception-chainer-compat": "dotcli.metrics.chainer_inception"}


def register_feature_extractor(name: str, factory: ExtractorFactory, *, replace: bool = False) -> None:
    """Make ``metrics.feature_extractor=<name>`` build ``factory(device=, fid_backend=, weights=, allow_download=)``."""
    if name.startswith(TORCH_FIDELITY_PREFIX):
        raise DotcliError(f"names starting with {TORCH_FIDELITY_PREFIX!r} are reserved for torch-fidelity's registry")
    if name in _FACTORIES and not replace:
        raise DotcliError(f"feature extractor {name!r} is already registered (pass replace=True)")
    _FACTORIES[name] = factory


def _import_factory(spec: str) -> ExtractorFactory:
    """``package.module:factory`` -> the factory, so a user's extractor needs no change to dotcli."""
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DotcliError(f"metrics.feature_extractor={IMPORT_PREFIX}{spec} cannot be imported ({exc}); "
                          "expected py:package.module:factory") from exc


def resolve_extractor_weights(name: str, *, weights: Any = None, extractor_weights: Any = None,
                              allow_download: bool = True) -> Path | None:
    """The weights file ``metrics.feature_extractor=<name>`` would load, without building the network (pre-flight).

    The Inception's (``weights``), or that of a shipped extractor whose module has ``resolve_weights``
    (``extractor_weights``); ``None`` for extractors whose file dotcli does not resolve. Raises the same
    one-line error as building the extractor would.
    """
    if name == INCEPTION:
        return resolve_inception_weights(weights, allow_download)
    if name in _BUILTIN_MODULES:
        resolve = getattr(importlib.import_module(_BUILTIN_MODULES[name]), "resolve_weights", None)
        if resolve is not None:
            return resolve(extractor_weights, allow_download)
    return None


def make_feature_extractor(name: str, *, device: torch.device | str = "cpu", fid_backend: str = "torch-fidelity",
                           weights: Any = None, allow_download: bool = True,
                           extractor_weights: Any = None) -> FeatureExtractor:
    """Build the extractor named by ``metrics.feature_extractor``.

    ``weights`` is ``metrics.inception_weights`` (the Inception-based extractors), ``extractor_weights``
    ``metrics.feature_extractor_weights`` (the other spaces: DINOv2, CLIP, any torch-fidelity extractor).
    """
    device = torch.device(device)
    if name.startswith(TORCH_FIDELITY_PREFIX):
        return _make_torch_fidelity(name[len(TORCH_FIDELITY_PREFIX):], device=device,
                                    weights=extractor_weights if extractor_weights is not None else weights)
    if name in _BUILTIN_MODULES and name not in _FACTORIES:
        importlib.import_module(_BUILTIN_MODULES[name])
    factory = _import_factory(name[len(IMPORT_PREFIX):]) if name.startswith(IMPORT_PREFIX) else _FACTORIES.get(name)
    if factory is None:
        known = sorted(set(_FACTORIES) | set(_BUILTIN_MODULES))
        raise DotcliError(f"unknown feature extractor {name!r}; known: {', '.join(known)} "
                          f"or {TORCH_FIDELITY_PREFIX}<name registered with torch-fidelity> "
                          f"or {IMPORT_PREFIX}<package.module:factory>")
    return factory(device=device, fid_backend=fid_backend, weights=weights, allow_download=allow_download,
                   extractor_weights=extractor_weights)
