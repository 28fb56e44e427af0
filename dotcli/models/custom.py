"""Any PyTorch (or Chainer-npz) G/D pair: networks built from ``_target_`` specs, weights from files.

Config (``model=custom``)::

    G: {_target_: mypkg.nets.Generator, z_dim: 128}   # any importable nn.Module factory
    D: {_target_: mypkg.nets.Discriminator}
    checkpoint: /path/both.pt          # one file holding both state dicts ...
    # checkpoint: {G: /path/g.pt, D: /path/d.pt}       # ... or one file each
    checkpoint_keys: {G: G, D: D}      # where the state dicts sit inside a file (null: the file is one)
    z_dim: 128, prior: normal, n_classes: 0, d_output: critic, sample_range: [-1, 1]

Files ending in ``.npz`` are read as Chainer snapshots (``l0/W`` -> ``l0.weight``); spectral-norm
layers built from :mod:`dotcli.models.layers` recompute their frozen sigma after loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn

from dotcli import DotcliError
from dotcli.models.loading import cfg_get, expected_cap, load_state_dict_checked, read_chainer_npz
from dotcli.models.pair import ModelPair
from dotcli.models.toy import load_torch_checkpoint


def _build(spec: Any, role: str) -> nn.Module:
    if spec is None or cfg_get(spec, "_target_") is None:
        raise DotcliError(f"model.{role} needs a `_target_` naming the network class, e.g. "
                          f"model.{role}._target_=mypkg.nets.{'Generator' if role == 'G' else 'Discriminator'}")
    try:
        net = instantiate(spec, _convert_="all")
    except InstantiationException as exc:
        raise DotcliError(f"cannot build model.{role} from its config: {exc.__cause__ or exc}") from exc
    if not isinstance(net, nn.Module):
        raise DotcliError(f"model.{role} built a {type(net).__name__}, expected a torch nn.Module")
    return net


def _state_from(path: Path, key: str | None, role: str, max_bytes: int) -> dict[str, torch.Tensor]:
    """The state dict for ``role`` in ``path``; the file may declare at most ``max_bytes`` (what the nets need)."""
    if not path.is_file():
        raise DotcliError(f"checkpoint {path} (model.checkpoint for {role}) does not exist")
    if path.suffix == ".npz":
        return read_chainer_npz(path, max_bytes=max_bytes)
    blob = load_torch_checkpoint(path, max_bytes=max_bytes)
    if key is None:
        return blob
    if key not in blob:
        raise DotcliError(f"checkpoint {path} has no {key!r} entry for {role} (model.checkpoint_keys.{role}); "
                          f"it has: {', '.join(map(str, blob))}")
    return blob[key]


def load_custom_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """Build G and D from ``model.G`` / ``model.D`` and load their state dicts from ``model.checkpoint``."""
    G, D = _build(cfg_get(model_cfg, "G"), "G"), _build(cfg_get(model_cfg, "D"), "D")
    ckpt = cfg_get(model_cfg, "checkpoint")
    if not ckpt:
        raise DotcliError("model=custom needs weights: model.checkpoint=PATH (a file with both state dicts) "
                          "or model.checkpoint={G: PATH, D: PATH}")
    keys = cfg_get(model_cfg, "checkpoint_keys", {}) or {}
    single = isinstance(ckpt, str | Path)
    for role, net in (("G", G), ("D", D)):
        path = Path(str(ckpt if single else cfg_get(ckpt, role, ""))).expanduser()
        # one shared file needs keys to split it; a file per net is the state dict unless keys say otherwise
        key = keys.get(role, role if single else None) if hasattr(keys, "get") else None
        cap = expected_cap(G, D) if single else expected_cap(net)  # one shared file holds both nets
        state = _state_from(path, None if key is None else str(key), role, cap)
        load_state_dict_checked(net, state, f"{path}[{key}]" if key else str(path))
    sample_range = cfg_get(model_cfg, "sample_range", (-1.0, 1.0))
    return ModelPair(G=G, D=D, z_dim=int(cfg_get(model_cfg, "z_dim", 128)),
                     prior=str(cfg_get(model_cfg, "prior", "normal")),
                     n_classes=int(cfg_get(model_cfg, "n_classes", 0)),
                     d_output=str(cfg_get(model_cfg, "d_output", "critic")),
                     sample_range=(float(sample_range[0]), float(sample_range[1])),
                     name=str(cfg_get(model_cfg, "name", "custom")))
