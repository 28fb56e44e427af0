"""The ``${dotcli_*:}`` resolvers the Hydra configs use, registered by :func:`register` (``dot-run`` and every
caller that composes the configs, e.g. ``dot-reproduce --plan`` and the tests, call it first).

* ``${dotcli_uid:}``: a short random id per process, so run directories stay unique for runs started in the
  same second;
* ``${dotcli_cell:}``: the job's own config hash (:func:`dotcli.records.job_config_hash`): fixed, resumable
  run directories for grid cells;
* ``${dotcli_drive:<folder>,<file>}``: where a checkpoint that has no direct URL comes from (the one place
  that names the Google Drive folders; model configs say ``help: ${dotcli_drive:tanaka,${.name}}``);
* ``${dotcli_gpus_per_cell:}``: ``hydra/launcher=slurm``'s GPU request per cell (:func:`gpus_per_cell`);
* ``${dotcli_help:options|methods}``: the option and method-key lists of ``dot-run --help`` (:mod:`dotcli.help`).
"""

from __future__ import annotations

import uuid
from typing import Any

from omegaconf import OmegaConf

from dotcli.records import job_config_hash

#: Google Drive folders of published checkpoints (no direct download URL), and where each one is linked.
DRIVE_FOLDERS = {
    "tanaka": "the DOT author's Google Drive folder https://drive.google.com/drive/folders/"
              "1UpWndW2xz0X8XaQZNyfSOjyiTbMfWEVs (linked in the README of github.com/AkinoriTanaka-phys/DOT)",
    "pfn": "pfnet's Google Drive folder https://drive.google.com/drive/folders/1m04Db3HbN10Tz5XHqiPpIg8kw23fkbSi "
           "(linked as 'pretrained models' in README_paper.md of github.com/pfnet-research/sngan_projection and "
           "in the DOT README)",
}


def cell_hash(*, _root_: Any) -> str:
    """``${dotcli_cell:}``: the first 8 hex digits of the job's config hash."""
    return job_config_hash(_root_)[:8]


def gpus_per_cell(*, _root_: Any) -> int:
    """The ``${dotcli_gpus_per_cell:}`` resolver, ``gpus_per_node`` of ``hydra/launcher=slurm``: 1 for a grid whose
    cells need a GPU (``device=cuda``, or the grid sets ``preflight.require_gpu_above_samples``: the 50k-sample
    image grids), else 0 (the toy grid), so a cluster without a GPU partition runs it. The launcher reads the
    sweep's config, where the swept dataset (and so n_samples) is not known yet: hence the grid-level rule."""
    if str(OmegaConf.select(_root_, "device")) == "cuda":
        return 1
    return int(OmegaConf.select(_root_, "preflight.require_gpu_above_samples") is not None)


def drive_help(folder: str, name: str) -> str:
    """``${dotcli_drive:<folder>,<file>}``: the line saying where to download ``name`` by hand."""
    if folder not in DRIVE_FOLDERS:
        raise ValueError(f"unknown Google Drive folder {folder!r}; known: {', '.join(DRIVE_FOLDERS)}")
    return f"download {name} from {DRIVE_FOLDERS[folder]}"


def register() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("dotcli_uid", lambda: uuid.uuid4().hex[:6], use_cache=True, replace=True)
    OmegaConf.register_new_resolver("dotcli_cell", cell_hash, replace=True)
    OmegaConf.register_new_resolver("dotcli_drive", drive_help, replace=True)
    OmegaConf.register_new_resolver("dotcli_gpus_per_cell", gpus_per_cell, replace=True)
    OmegaConf.register_new_resolver("dotcli_help", _help, replace=True)


def _help(part: str) -> str:
    """``${dotcli_help:options}`` / ``${dotcli_help:methods}``: the lists of ``dot-run --help`` (:mod:`dotcli.help`)."""
    from dotcli.help import help_text

    return help_text(part)


register()
