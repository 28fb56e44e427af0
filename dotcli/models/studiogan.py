"""PyTorch-StudioGAN checkpoints (POSTECH-CVLab, MIT): ``model=studiogan``, ``model.config=<DATA>/<CFG>``.

A StudioGAN run directory holds ``model=G-<when>-weights-step=<N>.pth`` (``{state_dict, optimizer}``),
``model=G_ema-...`` (``{state_dict}``) and ``model=D-...`` (``{state_dict, optimizer, seed, run_name, step,
..., best_fid}``), ``<when>`` being ``best`` or ``current``. The files carry no architecture: it follows from
the run's config YAML, StudioGAN's defaults (``src/config.py``) and the values fixed in
``src/models/model.py::load_generator_discriminator``. :data:`CONFIGS` writes those down per config, read
from StudioGAN @ 947b35e; nothing of StudioGAN runs or is read at run time.

Whether a run trained with mixed precision is not recorded in its files. dotcli evaluates in float32 either
way; StudioGAN itself evaluates G with ``eval=True`` (autocast off), so for G this matches what StudioGAN
computes; for D a mixed-precision run's training-time outputs were fp16-rounded (docs/models/studiogan.md;
deviations: docs/protocol.md#studiogan).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import resolve_checkpoint
from dotcli.models.biggan import BigGANDiscriminator, BigGANGenerator
from dotcli.models.layers import SIGMA_SOURCES
from dotcli.models.loading import cfg_get, load_state_dict_checked, load_torch_weights
from dotcli.models.pair import ModelPair
from dotcli.models.stylegan2_ada import (
    NOISE_MODES,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN2Pair,
    discriminator_from_kwargs,
    generator_from_kwargs,
)

ROLES = ("G", "G_ema", "D")
FILE_RE = re.compile(r"^model=(G|G_ema|D)-(best|current)-weights-step=(\d+)\.pth$")
DATASETS = {"CIFAR10": "cifar10", "ImageNet": "imagenet"}  # StudioGAN DATA.name -> dotcli dataset

# The extra globals a D file needs: its best_fid is a numpy float64 (numpy 2 names the module numpy._core,
# files written under numpy 1 name it numpy.core; numpy 2 also checks the float64 dtype's class).
# Nothing else beyond torch's own weights-only set.
_NUMPY_SCALAR = getattr(np, "_core", np).multiarray.scalar
D_FILE_GLOBALS = [np.dtype, type(np.dtype(np.float64)), (_NUMPY_SCALAR, "numpy._core.multiarray.scalar"),
                  (_NUMPY_SCALAR, "numpy.core.multiarray.scalar")]


def _biggan(data: str, img_size: int, n_classes: int, z_dim: int, attn_g: tuple[int, ...], loss: str = "hinge",
            conditional: bool = True) -> dict[str, Any]:
    """A ``big_resnet`` config: G/D widths 96, shared embedding 128, SN in G and D, attention, PD, G_ema."""
    return {"backbone": "big_resnet", "data": data, "img_size": img_size, "n_classes": n_classes,
            "z_dim": z_dim, "g_shared_dim": 128, "g_conv_dim": 96, "d_conv_dim": 96, "attn_g_loc": attn_g,
            "attn_d_loc": (1,), "conditional": conditional, "loss": loss}


#: StudioGAN config -> architecture (src/configs/<DATA>/<CFG>.yaml + src/config.py defaults @ 947b35e).
#: ``loss``: ``hinge`` (D is a critic) or ``logistic`` (StudioGAN's d_logistic: D outputs a logit).
CONFIGS: dict[str, dict[str, Any]] = {
    **{f"CIFAR10/{cfg}": _biggan("CIFAR10", 32, 10, 80, (2,))
       for cfg in ("BigGAN", "BigGAN-CR", "BigGAN-ICR", "BigGAN-DiffAug", "BigGAN-LeCam", "BigGAN-DiffAug-LeCam")},
    **{f"CIFAR10/{cfg}": _biggan("CIFAR10", 32, 10, 80, (2,), loss="logistic") for cfg in ("BigGAN-ADA", "BigGAN-APA")},
    "CIFAR10/BigGAN-Uncond": _biggan("CIFAR10", 32, 10, 80, (2,), conditional=False),
    # ImageNet "-256" / "-2048" name the batch size; the images are 128 px
    **{f"ImageNet/{cfg}": _biggan("ImageNet", 128, 1000, 120, (4,))
       for cfg in ("BigGAN-256", "BigGAN-256-TTUR", "BigGAN-2048")},
}


def _stylegan2(conditional: bool = True) -> dict[str, Any]:
    """StudioGAN's ``stylegan2`` backbone on CIFAR-10: NVIDIA's networks with the arguments fixed in
    load_generator_discriminator (channel_base 32768, channel_max 512 for CIFAR; conv_clamp 256 only with
    mixed precision), D ``orig`` with minibatch-std group 32, mapping 2 layers (G; D's SPD mapping: 8, the
    default), SPD conditioning with integer labels one-hot inside; logistic loss (D outputs a logit)."""
    return {"backbone": "stylegan2", "data": "CIFAR10", "img_size": 32, "n_classes": 10, "z_dim": 512,
            "w_dim": 512, "mapping_layers": 2, "channel_base": 32768, "channel_max": 512, "d_architecture": "orig",
            "mbstd_group_size": 32, "conditional": conditional, "loss": "logistic"}


CONFIGS.update({f"CIFAR10/{cfg}": _stylegan2() for cfg in (
    "StyleGAN2", "StyleGAN2-ADA", "StyleGAN2-APA", "StyleGAN2-ADA-APA", "StyleGAN2-DiffAug", "StyleGAN2-LeCam",
    "StyleGAN2-DiffAug-LeCam", "StyleGAN2-DiffAug-Rev")})
CONFIGS["CIFAR10/StyleGAN2-Uncond"] = _stylegan2(conditional=False)
ARCH_KEYS = ("img_size", "n_classes", "z_dim", "g_shared_dim", "g_conv_dim", "d_conv_dim", "attn_g_loc",
             "attn_d_loc", "conditional", "loss", "w_dim", "mapping_layers", "channel_base", "channel_max",
             "d_architecture", "mbstd_group_size")


def known_configs() -> str:
    return ", ".join(CONFIGS)


def _arch(model_cfg: Any) -> tuple[str, dict[str, Any]]:
    name = cfg_get(model_cfg, "config")
    if not name:
        raise DotcliError(f"model=studiogan needs model.config=<DATA>/<CFG>; known: {known_configs()}")
    if str(name) not in CONFIGS:
        raise DotcliError(f"model.config={name} is not a known StudioGAN config; known: {known_configs()}")
    arch = dict(CONFIGS[str(name)])
    overrides = cfg_get(model_cfg, "arch_overrides", {}) or {}
    if OmegaConf.is_config(overrides):
        overrides = OmegaConf.to_container(overrides, resolve=True)
    unknown = [k for k in overrides if k not in ARCH_KEYS]
    if unknown:
        raise DotcliError(f"model.arch_overrides.{unknown[0]} is not an architecture value; "
                          f"allowed: {', '.join(ARCH_KEYS)}")
    arch.update(overrides)
    return str(name), arch


def find_run_files(run_dir: Path) -> dict[str, Path]:
    """The G, G_ema and D files of one StudioGAN run directory, all from one save: the ``best`` set when all
    three are there, else the ``current`` set (StudioGAN saves the three together, at one step); within a set,
    the highest step when a role has several."""
    if not run_dir.is_dir():
        raise DotcliError(f"model.checkpoint_dir={run_dir} is not a directory (expected a StudioGAN run's "
                          "checkpoint directory or its Hugging Face URL prefix)")
    found: dict[str, dict[str, tuple[int, Path]]] = {"best": {}, "current": {}}
    for path in run_dir.iterdir():
        match = FILE_RE.match(path.name)
        if not match or not path.is_file():
            continue
        role, when, step = match.group(1), match.group(2), int(match.group(3))
        if role not in found[when] or step > found[when][role][0]:
            found[when][role] = (step, path)
    for when in ("best", "current"):
        if all(role in found[when] for role in ROLES):
            return {role: found[when][role][1] for role in ROLES}
    when = "best" if found["best"] else "current"
    missing = next(role for role in ROLES if role not in found[when])
    raise DotcliError(f"{run_dir} has no model={missing}-{when}-weights-step=N.pth (a StudioGAN run needs G, G_ema "
                      "and D saved together: all three best, or all three current)")


def _download_run(prefix: str, roles: tuple[str, ...], model_cfg: Any, paths: Any) -> dict[str, Path]:
    """The files of ``roles`` of a published run (a ``model.runs`` entry with this URL prefix): each fetched
    once into the cache (or found in paths.checkpoints / the cache under ``studiogan/<run>/``), sha256-checked."""
    runs = cfg_get(model_cfg, "runs", {}) or {}
    base = prefix.rstrip("/")
    for run_name, run in runs.items():
        if str(cfg_get(run, "url", "")).rstrip("/") != base:
            continue
        run_config = cfg_get(run, "config")
        if run_config and str(run_config) != str(cfg_get(model_cfg, "config")):
            raise DotcliError(f"model.runs.{run_name} was trained with config {run_config}, but "
                              f"model.config={cfg_get(model_cfg, 'config')}; use model.config={run_config}")
        files = {}
        for role in roles:
            spec = cfg_get(cfg_get(run, "files", {}), role)
            if spec is None:
                raise DotcliError(f"model.runs.{run_name} lists no {role} file")
            name = str(cfg_get(spec, "name"))
            local = {"name": f"studiogan/{run_name}/{name}", "url": f"{base}/{name.replace('=', '%3D')}",
                     "sha256": cfg_get(spec, "sha256")}
            files[role] = resolve_checkpoint(local, paths)
        return files
    known = ", ".join(str(cfg_get(r, "url")) for r in runs.values()) or "none"
    raise DotcliError(f"model.checkpoint_dir={prefix} is not a run listed in model.runs (only listed runs have "
                      f"the sha256 dotcli checks downloads against; listed: {known}); download the three files "
                      "yourself and pass their directory")


def _read(path: Path, role: str) -> dict[str, Any]:
    with torch.serialization.safe_globals(D_FILE_GLOBALS if role == "D" else []):
        blob = load_torch_weights(path, f"StudioGAN {role} file")
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
        keys = ": " + ", ".join(map(str, blob))[:80] if isinstance(blob, dict) else ""
        raise DotcliError(f"StudioGAN {role} file {path} has no 'state_dict' dict (found {type(blob).__name__}{keys})")
    return blob


def _check_size(state: dict[str, torch.Tensor], key: str, axis: int, expected: int, what: str, source: str,
                config: str) -> None:
    tensor = state.get(key)
    if tensor is not None and tensor.dim() > axis and tensor.shape[axis] != expected:
        raise DotcliError(f"{source} does not fit model.config={config}: {key} has shape {tuple(tensor.shape)}, "
                          f"the config implies {what} {expected}")


def load_studiogan_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """The pair of one StudioGAN run.

    Keys: ``config``; ``checkpoint_dir`` (a run directory, or the URL prefix of a run in ``runs``; when null,
    the file specs ``files.<dataset>.{G_ema|G, D}``); ``generator`` (G_ema | G); BigGAN: ``truncation``
    (null | t > 0), ``sigma_source`` (stored | exact); StyleGAN2: ``truncation_psi``, ``truncation_cutoff``,
    ``noise_mode``, ``mixed_precision``; ``d_output`` (null: from the config's loss); ``arch_overrides``.
    """
    config, arch = _arch(model_cfg)
    expected_dataset = DATASETS[arch.get("data", config.split("/")[0])]
    if dataset != expected_dataset:
        raise DotcliError(f"model.config={config} was trained on {expected_dataset}, but dataset={dataset}; "
                          f"use dataset={expected_dataset}")
    generator = str(cfg_get(model_cfg, "generator", "G_ema"))
    if generator not in ("G_ema", "G"):
        raise DotcliError(f"model.generator={generator} is not valid; expected G_ema or G")
    sigma_source = str(cfg_get(model_cfg, "sigma_source", "stored"))
    if sigma_source not in SIGMA_SOURCES:
        raise DotcliError(f"model.sigma_source={sigma_source} is not valid; expected stored or exact")
    truncation = cfg_get(model_cfg, "truncation")
    if truncation is not None and (isinstance(truncation, bool) or not isinstance(truncation, (int, float))
                                   or not truncation > 0):
        raise DotcliError(f"model.truncation={truncation} is not valid; expected null (N(0, I)) or a threshold > 0")
    loss = str(arch["loss"])
    d_output = str(cfg_get(model_cfg, "d_output", "critic" if loss == "hinge" else "logit"))
    if d_output not in ("critic", "logit"):
        raise DotcliError(f"model.d_output={d_output} is not valid; expected critic or logit")
    source = cfg_get(model_cfg, "checkpoint_dir")
    entry = (cfg_get(model_cfg, "files", {}) or {}).get(dataset)
    if source:
        source = str(source)
        if source.startswith(("http://", "https://", "file://")):
            files = _download_run(source, (generator, "D"), model_cfg, paths)  # only the files the pair uses
        else:
            files = find_run_files(Path(source).expanduser())
    elif entry is not None:  # a named run's file specs (model.files.<dataset>.<role>): found or fetched, checked
        missing = [role for role in (generator, "D") if cfg_get(entry, role) is None]
        if missing:
            raise DotcliError(f"model.files.{dataset} has no {missing[0]} file; pass model.checkpoint_dir=DIR")
        files = {role: resolve_checkpoint(cfg_get(entry, role), paths) for role in (generator, "D")}
    else:
        raise DotcliError("model=studiogan needs model.checkpoint_dir=DIR (a StudioGAN run's directory with its "
                          "model=G-, model=G_ema- and model=D-...pth files) or a run's Hugging Face URL prefix")

    build = _build_stylegan2 if arch["backbone"] == "stylegan2" else _build_biggan
    g_blob, d_blob = _read(files[generator], generator), _read(files["D"], "D")
    states = {"G": (dict(g_blob["state_dict"]), str(files[generator])),
              "D": (dict(d_blob["state_dict"]), str(files["D"]))}
    G, D, extra_notes, pair_class = build(arch, model_cfg, states, sigma_source, truncation, config)
    notes: dict[str, Any] = {
        "studiogan_config": config, "generator": generator, "files": {r: files[r].name for r in (generator, "D")},
        **extra_notes,
        "precision": "float32 (whether the run trained with mixed precision is not recorded in its files)",
    }
    for key in ("run_name", "best_fid", "best_step", "step"):
        value = d_blob.get(key)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (str, int, float, np.floating, np.integer)) and not isinstance(value, bool):
            notes[key] = value.item() if isinstance(value, np.generic) else value
    pair = pair_class(G=G, D=D, z_dim=int(arch["z_dim"]), prior="normal",
                      n_classes=int(arch["n_classes"]) if arch["conditional"] else 0, d_output=d_output,
                      sample_range=(-1.0, 1.0), name=str(cfg_get(model_cfg, "name", "studiogan")), notes=notes)
    if truncation is not None:  # BigGAN's truncated normal: the pair's z-space truncation (ModelPair.sample_z)
        notes["prior"] = f"truncated normal on [-{truncation}, {truncation}] (model.truncation)"
        pair.set_truncation(float(truncation))
    return pair


def biggan_networks(arch: dict[str, Any], sigma_source: str = "stored") -> tuple[BigGANGenerator, BigGANDiscriminator]:
    """dotcli's BigGAN G and D for a ``big_resnet`` entry of :data:`CONFIGS` (random weights)."""
    n_classes, size, conditional = int(arch["n_classes"]), int(arch["img_size"]), bool(arch["conditional"])
    G = BigGANGenerator(img_size=size, z_dim=int(arch["z_dim"]), shared_dim=int(arch["g_shared_dim"]),
                        conv_dim=int(arch["g_conv_dim"]), n_classes=n_classes, attn_loc=tuple(arch["attn_g_loc"]),
                        conditional=conditional, sigma_source=sigma_source)
    D = BigGANDiscriminator(img_size=size, conv_dim=int(arch["d_conv_dim"]), n_classes=n_classes,
                            attn_loc=tuple(arch["attn_d_loc"]), conditional=conditional, sigma_source=sigma_source)
    return G, D


def stylegan2_networks(arch: dict[str, Any], conv_clamp: float | None = None, where: str = "studiogan"
                       ) -> tuple[nn.Module, nn.Module]:
    """The StyleGAN2 G and D (dotcli's, from :mod:`dotcli.models.stylegan2_layers`) for a ``stylegan2`` entry of
    :data:`CONFIGS`, built with the arguments StudioGAN's load_generator_discriminator passes (random weights)."""
    c_dim = int(arch["n_classes"]) if arch["conditional"] else 0
    common = {"img_resolution": int(arch["img_size"]), "img_channels": 3}
    g_net = generator_from_kwargs({
        "z_dim": int(arch["z_dim"]), "c_dim": c_dim, "w_dim": int(arch["w_dim"]), **common,
        "mapping_kwargs": {"num_layers": int(arch["mapping_layers"])},
        "synthesis_kwargs": {"channel_base": int(arch["channel_base"]), "channel_max": int(arch["channel_max"]),
                             "conv_clamp": conv_clamp}}, where=where)
    d_net = discriminator_from_kwargs({
        "c_dim": c_dim, **common, "architecture": str(arch["d_architecture"]),
        "channel_base": int(arch["channel_base"]), "channel_max": int(arch["channel_max"]), "conv_clamp": conv_clamp,
        "cmap_dim": None, "block_kwargs": {}, "mapping_kwargs": {},
        "epilogue_kwargs": {"mbstd_group_size": int(arch["mbstd_group_size"])}}, where=where)
    return g_net, d_net


def stylegan2_d_keys(state: dict[str, Any]) -> dict[str, Any]:
    """StudioGAN's StyleGAN2 D keeps NVIDIA's epilogue output layer ``b4.out`` at the top level, as ``linear1``."""
    return {(f"b4.out.{k[len('linear1.'):]}" if k.startswith("linear1.") else k): v for k, v in state.items()}


def _build_biggan(arch: dict[str, Any], model_cfg: Any, states: dict[str, tuple[dict, str]], sigma_source: str,
                  truncation: float | None, config: str) -> tuple[nn.Module, nn.Module, dict[str, Any], type]:
    for key, default in (("truncation_psi", 1.0), ("truncation_cutoff", None), ("noise_mode", "random"),
                         ("mixed_precision", False)):
        if cfg_get(model_cfg, key, default) != default:
            raise DotcliError(f"model.{key} applies to StudioGAN's StyleGAN2 configs; {config} is a BigGAN "
                              "(its truncation is model.truncation; it has no noise inputs, and its mixed "
                              "precision changes no architecture value)")
    n_classes, conditional = int(arch["n_classes"]), bool(arch["conditional"])
    G, D = biggan_networks(arch, sigma_source)
    (g_state, g_src), (d_state, d_src) = states["G"], states["D"]
    if conditional:
        _check_size(g_state, "shared.weight", 0, n_classes, "classes", g_src, config)
        _check_size(d_state, "embedding.weight_orig", 0, n_classes, "classes", d_src, config)
    _check_size(g_state, "linear0.weight_orig", 1, G.chunk, "a z chunk of", g_src, config)
    load_state_dict_checked(G, g_state, f"{g_src} (model.config={config})")
    load_state_dict_checked(D, d_state, f"{d_src} (model.config={config})")
    notes = {"spectral_norm": ("sigma = u^T W v from the stored weight_u/weight_v (torch eval mode)"
                               if sigma_source == "stored" else "exact largest singular value (sigma_source=exact)")}
    return G, D, notes, ModelPair


def _build_stylegan2(arch: dict[str, Any], model_cfg: Any, states: dict[str, tuple[dict, str]], sigma_source: str,
                     truncation: float | None, config: str) -> tuple[nn.Module, nn.Module, dict[str, Any], type]:
    if truncation is not None:
        raise DotcliError(f"model.truncation applies to StudioGAN's BigGAN configs; {config} is a StyleGAN2 "
                          "(its truncation is model.truncation_psi, in W)")
    if sigma_source != "stored":
        raise DotcliError(f"model.sigma_source applies to StudioGAN's BigGAN configs; {config} is a StyleGAN2 "
                          "(no spectral norm)")
    noise_mode = str(cfg_get(model_cfg, "noise_mode", "random"))
    if noise_mode not in NOISE_MODES:
        raise DotcliError(f"model.noise_mode={noise_mode} is not valid; expected {' | '.join(NOISE_MODES)}")
    psi = cfg_get(model_cfg, "truncation_psi", 1.0)
    if isinstance(psi, bool) or not isinstance(psi, (int, float)):
        raise DotcliError(f"model.truncation_psi={psi} is not valid; expected a number (1: no truncation)")
    cutoff = cfg_get(model_cfg, "truncation_cutoff")
    mixed = cfg_get(model_cfg, "mixed_precision", False)
    if not isinstance(mixed, bool):
        raise DotcliError(f"model.mixed_precision={mixed} is not valid; expected true or false")
    conv_clamp = 256 if mixed else None  # load_generator_discriminator: conv_clamp 256 only with RUN.mixed_precision
    c_dim = int(arch["n_classes"]) if arch["conditional"] else 0
    g_net, d_net = stylegan2_networks(arch, conv_clamp, where=config)
    if cutoff is not None and not (isinstance(cutoff, int) and 0 <= cutoff <= g_net.num_ws):
        raise DotcliError(f"model.truncation_cutoff={cutoff} is not valid; expected null or 0..{g_net.num_ws}")
    (g_state, g_src), (d_state, d_src) = states["G"], states["D"]
    d_state = stylegan2_d_keys(d_state)
    if c_dim:
        _check_size(g_state, "mapping.embed.weight", 1, c_dim, "classes", g_src, config)
        _check_size(d_state, "mapping.embed.weight", 1, c_dim, "classes", d_src, config)
    _check_size(g_state, "mapping.fc0.weight", 1, int(arch["z_dim"]) + (int(arch["w_dim"]) if c_dim else 0),
                "a mapping input of", g_src, config)
    load_state_dict_checked(g_net, g_state, f"{g_src} (model.config={config})")
    load_state_dict_checked(d_net, d_state, f"{d_src} (model.config={config}; linear1 read as b4.out)")
    G = StyleGAN2Generator(g_net.float(), truncation_psi=float(psi), truncation_cutoff=cutoff, noise_mode=noise_mode)
    D = StyleGAN2Discriminator(d_net.float())
    group = D.group_size
    notes = {"truncation_psi": float(psi), "truncation_cutoff": cutoff, "noise_mode": noise_mode,
             "conv_clamp": conv_clamp, "mbstd_group_size": group,
             "mbstd_rule": (f"D sees each batch laid out as in training (groups of min({group}, n)); a batch that "
                            "is not a multiple of the group is completed cyclically with its own first samples, "
                            "whose outputs are dropped") if group else "no mbstd"}
    return G, D, notes, StyleGAN2Pair
