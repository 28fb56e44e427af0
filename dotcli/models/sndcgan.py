"""The project's own 32px DCGAN G + SN-DCGAN D pairs (trained by ``scripts/train_gan.py``) and their loader.

Architectures: :class:`dotcli.models.dcgan.DCGANGenerator` and :class:`dotcli.models.dcgan.SNDCGANDiscriminator`
(the DOT paper's CIFAR-10 networks) at the width ``ch`` and channel count ``channels`` in the checkpoint's
recipe. Prior U[-1, 1]^128 as the paper's DCGANs.

Grey data (Fashion-MNIST): G and D are trained with **one channel** (``channels: 1``) and wrapped so that the
pair looks like any RGB pair to the samplers and the evaluation: :class:`GreyToRGB` repeats G's output to
three identical channels, :class:`RGBToGrey` gives D the channel mean. On grey-repeated inputs (real data,
G's output) the mean is exactly the grey image, so D scores what it was trained on; in target-space DOT the
gradient reaches the three channels equally, so they stay identical.

Checkpoint format (``torch.save``, read with ``weights_only=True``)::

    {"G": state_dict, "D": state_dict, "recipe": {"ch", "channels", "bottom_width", "z_dim", "loss", ...},
     "step": int, ...}   # training checkpoints also hold optimiser and RNG states (ignored here)

D's spectral-norm layers store only ``weight``/``bias``; the loader's frozen layers compute the exact
largest singular value, the value the training-time power iteration converges to.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dotcli import DotcliError
from dotcli.checkpoints import resolve_checkpoint
from dotcli.models.dcgan import Z_DIM, DCGANGenerator, SNDCGANDiscriminator
from dotcli.models.loading import cfg_get, files_entry, load_state_dict_checked
from dotcli.models.pair import ModelPair
from dotcli.models.toy import load_torch_checkpoint

LOSSES = {"hinge": "critic", "ns": "logit"}  # training loss -> what D's raw output is (ModelPair.d_output)


class GreyToRGB(nn.Module):
    """Wrap a 1-channel generator: its output repeated to 3 identical channels."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).repeat(1, 3, 1, 1)


class RGBToGrey(nn.Module):
    """Wrap a 1-channel discriminator: it reads the mean of the 3 input channels."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.mean(dim=1, keepdim=True))


def build_nets(recipe: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """The bare (unwrapped) G and D a recipe describes: keys ``ch``, ``channels``, ``bottom_width``, ``z_dim``."""
    ch, channels = int(recipe.get("ch", 512)), int(recipe.get("channels", 3))
    bottom_width, z_dim = int(recipe.get("bottom_width", 4)), int(recipe.get("z_dim", Z_DIM))
    if ch < 8 or ch % 8:
        raise DotcliError(f"recipe ch={ch} is not valid; expected a multiple of 8 (>= 8)")
    if channels not in (1, 3):
        raise DotcliError(f"recipe channels={channels} is not valid; expected 1 (grey) or 3 (RGB)")
    G = DCGANGenerator(z_dim=z_dim, bottom_width=bottom_width, ch=ch, channels=channels)
    D = SNDCGANDiscriminator(bottom_width=bottom_width, ch=ch, channels=channels)
    return G, D


def pair_from_checkpoint(blob: dict[str, Any], source: str, name: str = "") -> ModelPair:
    """A :class:`ModelPair` from a checkpoint dict (see the module docstring)."""
    recipe = blob.get("recipe")
    if not isinstance(recipe, dict):
        raise DotcliError(f"checkpoint {source} has no 'recipe' entry; it was not written by scripts/train_gan.py")
    G, D = build_nets(recipe)
    for key, net in (("G", G), ("D", D)):
        if key not in blob:
            raise DotcliError(f"checkpoint {source} has no {key!r} entry; expected keys 'G' and 'D'")
        load_state_dict_checked(net, blob[key], f"{source}[{key}]")
    if int(recipe.get("channels", 3)) == 1:
        G, D = GreyToRGB(G), RGBToGrey(D)
    loss = str(recipe.get("loss", "hinge"))
    if loss not in LOSSES:
        raise DotcliError(f"checkpoint {source}: unknown loss {loss!r} in its recipe (expected {', '.join(LOSSES)})")
    return ModelPair(G=G, D=D, z_dim=int(recipe.get("z_dim", Z_DIM)), prior="uniform", d_output=LOSSES[loss],
                     sample_range=(-1.0, 1.0), name=name)


def load_dotcli_sndcgan_pair(model_cfg: Any, dataset: str, paths: Any) -> ModelPair:
    """Model config ``dotcli_sndcgan``: the file spec ``model.files.<dataset>`` (``package:`` + sha256)."""
    entry = files_entry(model_cfg, dataset)
    path = resolve_checkpoint(entry, paths)
    return pair_from_checkpoint(load_torch_checkpoint(path), str(path),
                                name=str(cfg_get(model_cfg, "name", "dotcli_sndcgan")))
