"""``model=stylegan2_ada``: NVIDIA stylegan2-ada-pytorch network pickles, G and its own D, run by dotcli's networks.

The file is read by :mod:`dotcli.models.nvidia_pickle` (nothing from it runs); the networks are built from
each pickled module's ``_init_kwargs`` with :mod:`dotcli.models.stylegan2_layers` and loaded with the
file's tensors (every key and shape checked). Float32 reference arithmetic; the files' FP16 settings
(``num_fp16_res``, channels-last) only change speed and rounding in the official code, so they are ignored.

Sampler-facing conventions (docs/protocol.md, "StyleGAN2-ADA"):

* prior N(0, I) in z (512-d); conditional files take integer labels (one-hot inside); images in [-1, 1].
* ``noise_mode``: ``const`` uses the stored noise buffers; ``random`` draws unit noise per sample from the
  sample stream when the latents are drawn (:meth:`StyleGAN2Pair.sample_z`) and holds it fixed for that
  batch, so G is a deterministic function of the latents a sampler moves; ``none``: no noise.
* minibatch std: :class:`StyleGAN2Discriminator` lays a batch out as in training (groups i, i + n/G, ...);
  a batch that is not a multiple of the group size is completed cyclically with its own first samples,
  whose outputs are dropped. Samplers pass the same batch in the same order at every step, so a
  sample's group mates stay fixed during its refinement.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import sha256_of
from dotcli.models.loading import cfg_get, load_state_dict_checked
from dotcli.models.nvidia_pickle import PersistentObject, flat_state, read_network_pickle, sources
from dotcli.models.pair import ModelPair
from dotcli.models.stylegan2_layers import Discriminator, Generator, set_fused_modconv

# The _init_kwargs each class takes (nested dicts by key); IGNORED ones only set FP16 / training behaviour.
G_KEYS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
G_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
SYNTHESIS_KEYS = {"channel_base", "channel_max", "architecture", "resample_filter", "conv_clamp", "use_noise",
                  "activation", "kernel_size"}
D_KEYS = {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max", "conv_clamp",
          "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs"}
D_BLOCK_KEYS = {"activation", "resample_filter"}
D_EPILOGUE_KEYS = {"mbstd_group_size", "mbstd_num_channels", "activation"}
IGNORED = {"num_fp16_res", "fp16_channels_last", "channels_last", "freeze_layers", "class_name"}
NOISE_MODES = ("const", "random", "none")
GENERATORS = ("G_ema", "G")


def _kwargs(obj: PersistentObject, role: str) -> dict[str, Any]:
    state = obj.state
    if state.get("_init_args"):
        raise DotcliError(f"{role} in the file was built with positional arguments {state['_init_args']!r}; "
                          "expected keyword arguments only")
    kwargs = state.get("_init_kwargs")
    if not isinstance(kwargs, dict):
        raise DotcliError(f"{role} in the file has no _init_kwargs (its architecture)")
    return kwargs


def _checked(kwargs: Mapping[str, Any] | None, allowed: set[str], where: str) -> dict[str, Any]:
    kwargs = dict(kwargs or {})
    unknown = sorted(k for k in kwargs if k not in allowed and k not in IGNORED)
    if unknown:
        raise DotcliError(f"{where} has architecture keys dotcli does not implement: {', '.join(unknown)}")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items() if k in allowed}


def generator_from_kwargs(kwargs: Mapping[str, Any], where: str = "G") -> Generator:
    """dotcli's :class:`Generator` for a pickled Generator's ``_init_kwargs`` (unknown keys refused)."""
    top = _checked(kwargs, G_KEYS, f"{where}._init_kwargs")
    top["mapping_kwargs"] = _checked(top.get("mapping_kwargs"), G_MAPPING_KEYS, f"{where}.mapping_kwargs")
    top["synthesis_kwargs"] = _checked(top.get("synthesis_kwargs"), SYNTHESIS_KEYS, f"{where}.synthesis_kwargs")
    return Generator(**top)


def discriminator_from_kwargs(kwargs: Mapping[str, Any], where: str = "D") -> Discriminator:
    """dotcli's :class:`Discriminator` for a pickled Discriminator's ``_init_kwargs``."""
    top = _checked(kwargs, D_KEYS, f"{where}._init_kwargs")
    top["block_kwargs"] = _checked(top.get("block_kwargs"), D_BLOCK_KEYS, f"{where}.block_kwargs")
    top["mapping_kwargs"] = _checked(top.get("mapping_kwargs"), G_MAPPING_KEYS, f"{where}.mapping_kwargs")
    top["epilogue_kwargs"] = _checked(top.get("epilogue_kwargs"), D_EPILOGUE_KEYS, f"{where}.epilogue_kwargs")
    return Discriminator(**top)


def _network(obj: Any, role: str, expected_class: str, build: Any, source: str) -> nn.Module:
    if not isinstance(obj, PersistentObject) or obj.class_name != expected_class:
        found = obj.class_name if isinstance(obj, PersistentObject) else type(obj).__name__
        raise DotcliError(f"{source}[{role}] is a {found}, expected stylegan2-ada-pytorch's {expected_class} "
                          "(StyleGAN3 and other networks are not supported)")
    net = build(_kwargs(obj, role), role)
    state = {k: v for k, v in flat_state(obj).items()}
    load_state_dict_checked(net, state, f"{source}[{role}]")
    return net.float()


def read_networks(path: str | Path) -> dict[str, Any]:
    """``{G, D, G_ema}`` as dotcli networks plus ``notes`` (source hashes, kwargs), from a network pickle."""
    data = read_network_pickle(path)
    nets = {role: _network(data[role], role, "Generator", generator_from_kwargs, str(path))
            for role in ("G", "G_ema")}
    nets["D"] = _network(data["D"], "D", "Discriminator", discriminator_from_kwargs, str(path))
    srcs: dict[str, str] = {}
    for role in ("G", "D", "G_ema"):
        srcs.update(sources(data[role]))
    nets["module_src_sha256"] = sorted(set(srcs.values()))
    nets["training_set_kwargs"] = data.get("training_set_kwargs")
    return nets


def one_hot(y: torch.Tensor | None, c_dim: int) -> torch.Tensor | None:
    if c_dim == 0:
        return None
    if y is None:
        raise DotcliError(f"this network is conditional on {c_dim} classes: pass integer labels")
    return F.one_hot(y.long(), c_dim).float()


class StyleGAN2Generator(nn.Module):
    """``G(z[, y])`` for dotcli's pair: labels one-hot, truncation and noise handling fixed at build time."""

    def __init__(self, net: Generator, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                 noise_mode: str = "random") -> None:
        super().__init__()
        if noise_mode not in NOISE_MODES:
            raise DotcliError(f"model.noise_mode={noise_mode!r} is not valid; expected {' | '.join(NOISE_MODES)}")
        self.net, self.truncation_psi, self.truncation_cutoff = net, float(truncation_psi), truncation_cutoff
        self.noise_mode = noise_mode
        self._noise_seed: int | None = None
        self._noise_bank: tuple[tuple[int, int, str], list[torch.Tensor]] | None = None

    def hold_noise(self, seed: int) -> None:
        """Use the noise drawn from ``seed`` for every batch until the next call (``noise_mode=random``)."""
        self._noise_seed, self._noise_bank = int(seed), None

    def _noises(self, n: int, device: torch.device) -> list[torch.Tensor]:
        if self._noise_seed is None:
            raise DotcliError("noise_mode=random: draw the latents with the pair's sample_z first (it draws the "
                              "per-sample noise from the sample stream)")
        key = (self._noise_seed, n, str(device))
        if self._noise_bank is None or self._noise_bank[0] != key:
            gen = torch.Generator().manual_seed(self._noise_seed)  # CPU: the same numbers on any device
            bank = [torch.randn(n, 1, r, r, generator=gen).to(device) for r in self.net.synthesis.noise_shapes()]
            self._noise_bank = (key, bank)
        return self._noise_bank[1]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        mode, noises = self.noise_mode, None
        if mode == "random":
            mode, noises = "given", self._noises(z.shape[0], z.device)
        return self.net(z, one_hot(y, self.net.c_dim), truncation_psi=self.truncation_psi,
                        truncation_cutoff=self.truncation_cutoff, noise_mode=mode, noises=noises)


class StyleGAN2Discriminator(nn.Module):
    """``D(x[, y])`` with the minibatch-std batch rule of the module docstring."""

    def __init__(self, net: Discriminator) -> None:
        super().__init__()
        self.net = net
        mbstd = net.b4.mbstd
        self.group_size = mbstd.group_size if mbstd is not None else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        n = x.shape[0]
        c = one_hot(y, self.net.c_dim)
        extra = (-n) % self.group_size if self.group_size is not None and n > self.group_size else 0
        if extra:  # complete the last group cyclically with the batch's own first samples
            idx = torch.arange(n + extra, device=x.device) % n
            x, c = x[idx], (c[idx] if c is not None else None)
        return self.net(x, c)[:n]


class StyleGAN2Pair(ModelPair):
    """A :class:`ModelPair` whose ``sample_z`` also draws the held noise of ``noise_mode=random``."""

    def sample_z(self, n: int, gen: torch.Generator) -> torch.Tensor:
        z = super().sample_z(n, gen)
        if isinstance(self.G, StyleGAN2Generator) and self.G.noise_mode == "random":
            self.G.hold_noise(int(torch.randint(0, 2 ** 62, (1,), generator=gen)))
        return z


def load_stylegan2_ada_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """The pair of a stylegan2-ada-pytorch network pickle (``model.checkpoint`` or the dataset's public file).

    Config keys: ``checkpoint``, ``generator`` (G_ema | G), ``truncation_psi``, ``truncation_cutoff``,
    ``noise_mode`` (const | random | none), ``fused_modconv`` (false: activations scaled around one shared
    convolution, memory independent of the batch; true: per-sample weights, bit-identical to the official
    float32 evaluation path), ``files`` (dataset -> file spec), ``resolutions`` (dataset -> image size).
    """
    from dotcli.checkpoints import is_url, resolve_checkpoint, url_spec

    name = str(cfg_get(model_cfg, "name", "stylegan2_ada"))
    generator = str(cfg_get(model_cfg, "generator", "G_ema"))
    if generator not in GENERATORS:
        raise DotcliError(f"model.generator={generator!r} is not valid; expected G_ema or G")
    noise_mode = str(cfg_get(model_cfg, "noise_mode", "random"))
    if noise_mode not in NOISE_MODES:
        raise DotcliError(f"model.noise_mode={noise_mode!r} is not valid; expected {' | '.join(NOISE_MODES)}")
    fused = cfg_get(model_cfg, "fused_modconv", False)
    if not isinstance(fused, bool):
        raise DotcliError(f"model.fused_modconv={fused!r} is not valid; expected true or false")
    psi = float(cfg_get(model_cfg, "truncation_psi", 1.0))
    cutoff = cfg_get(model_cfg, "truncation_cutoff")
    cutoff = None if cutoff is None else int(cutoff)
    resolutions = cfg_get(model_cfg, "resolutions", {}) or {}
    expected_px = int(resolutions[dataset]) if dataset in resolutions else None

    ckpt = cfg_get(model_cfg, "checkpoint")
    file_notes: dict[str, Any] = {}
    if ckpt and is_url(str(ckpt)):
        path = resolve_checkpoint(url_spec(str(ckpt)), paths)
        file_notes = {"file": path.name, "url": str(ckpt)}
    elif ckpt:
        path = Path(str(ckpt)).expanduser()
        if not path.is_file():
            raise DotcliError(f"checkpoint {path} (model.checkpoint) does not exist")
    else:
        files = cfg_get(model_cfg, "files", {}) or {}
        if dataset not in files:
            raise DotcliError(f"model {name!r} has no public file for dataset {dataset!r} (it has: "
                              f"{', '.join(files) or 'none'}); pass model.checkpoint=/path/to/network.pkl")
        spec = files[dataset]
        path = resolve_checkpoint(spec, paths)
        file_notes = {"file": str(cfg_get(spec, "name", path.name)), "url": cfg_get(spec, "url")}

    nets = read_networks(path)
    g_net: Generator = set_fused_modconv(nets[generator], fused)
    d_net: Discriminator = nets["D"]
    if expected_px is not None and g_net.img_resolution != expected_px:
        raise DotcliError(f"{path} holds {g_net.img_resolution}x{g_net.img_resolution} networks but dataset "
                          f"{dataset!r} has {expected_px}x{expected_px} images; use a file trained on that dataset")
    if d_net.img_resolution != g_net.img_resolution or d_net.c_dim != g_net.c_dim:
        raise DotcliError(f"{path}: G ({g_net.img_resolution} px, {g_net.c_dim} classes) and D "
                          f"({d_net.img_resolution} px, {d_net.c_dim} classes) do not fit each other")
    if cutoff is not None and not 0 <= cutoff <= g_net.num_ws:
        raise DotcliError(f"model.truncation_cutoff={cutoff} is not valid; expected 0..{g_net.num_ws} (num_ws)")
    notes = {"format": "stylegan2-ada-pytorch network pickle, read without running its code",
             "checkpoint_sha256": sha256_of(path), **file_notes, "module_src_sha256": nets["module_src_sha256"],
             "generator": generator, "fused_modconv": fused}
    return make_pair(g_net, d_net, name=name, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode=noise_mode,
                     notes=notes)


def mbstd_rule(group: int | None) -> str:
    """The minibatch-std rule in words (written into every record's ``model_notes``)."""
    if group is None:
        return ("D's minibatch std takes the whole batch as one group: a sample's output depends on every sample "
                "of its batch; samplers keep each batch and its order for the whole refinement")
    return ("D sees each batch laid out as in training (group of sample i: i, i+n/G, ...; "
            f"G = min({group}, n)); a batch that is not a multiple of G is completed cyclically with its own first "
            "samples, whose outputs are dropped; samplers keep each batch and its order for the whole refinement, "
            "so a sample's group mates are fixed")


def make_pair(g_net: Generator, d_net: Discriminator, name: str = "stylegan2_ada", truncation_psi: float = 1.0,
              truncation_cutoff: int | None = None, noise_mode: str = "random",
              notes: dict[str, Any] | None = None) -> StyleGAN2Pair:
    """The :class:`ModelPair` of a StyleGAN2 G and D (N(0, I) prior, logit D, images in [-1, 1])."""
    G = StyleGAN2Generator(g_net, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                           noise_mode=noise_mode)
    D = StyleGAN2Discriminator(d_net)
    notes = {**(notes or {}), "truncation_psi": G.truncation_psi, "truncation_cutoff": truncation_cutoff,
             "noise_mode": noise_mode, "resolution": g_net.img_resolution, "c_dim": g_net.c_dim,
             "d_architecture": d_net.b4.architecture, "mbstd_group_size": D.group_size,
             "mbstd_rule": mbstd_rule(D.group_size) if d_net.b4.mbstd is not None else "no minibatch std",
             "precision": "float32 reference ops (the files' FP16 settings are ignored)"}
    return StyleGAN2Pair(G=G, D=D, z_dim=g_net.z_dim, prior="normal", n_classes=g_net.c_dim, d_output="logit",
                         sample_range=(-1.0, 1.0), name=name, notes=notes)


#: train.py's cfg ``cifar`` for class-conditional CIFAR-10 (the architecture of NVIDIA's cifar10.pkl)
CIFAR10_G_KWARGS = dict(z_dim=512, c_dim=10, w_dim=512, img_resolution=32, img_channels=3,
                        mapping_kwargs=dict(num_layers=2),
                        synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256))
CIFAR10_D_KWARGS = dict(c_dim=10, img_resolution=32, img_channels=3, architecture="orig", channel_base=32768,
                        channel_max=512, num_fp16_res=4, conv_clamp=256, block_kwargs={}, mapping_kwargs={},
                        epilogue_kwargs=dict(mbstd_group_size=32))


def random_cifar10_pair(seed: int = 0, noise_mode: str = "random") -> StyleGAN2Pair:
    """The full-width CIFAR-10 StyleGAN2-ADA architecture with random weights (benchmarks; samples meaningless)."""
    torch.manual_seed(seed)
    return make_pair(generator_from_kwargs(CIFAR10_G_KWARGS), discriminator_from_kwargs(CIFAR10_D_KWARGS),
                     name="stylegan2_ada_random", noise_mode=noise_mode, notes={"weights": f"random (seed {seed})"})
