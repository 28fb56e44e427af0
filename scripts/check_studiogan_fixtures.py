"""Print, per StudioGAN fixture, the largest relative difference between dotcli and StudioGAN's own outputs.

The fixtures (tests/models/fixtures/studiogan/, written by scripts/make_studiogan_fixtures.py from StudioGAN's
code) hold StudioGAN's ``G_ema(z, y)``, ``D(x, y)["adv_output"]`` and its gradient with respect to x; this loads
the same files with ``model=studiogan`` and reports ``max |dotcli - StudioGAN| / max |StudioGAN|`` for each.
    python scripts/check_studiogan_fixtures.py
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import OmegaConf

from dotcli.models.studiogan import load_studiogan_pair

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "models" / "fixtures" / "studiogan"
CASES = {"CIFAR10-BigGAN": "CIFAR10/BigGAN", "CIFAR10-BigGAN-Uncond": "CIFAR10/BigGAN-Uncond",
         "ImageNet-BigGAN-256": "ImageNet/BigGAN-256", "CIFAR10-StyleGAN2-ADA": "CIFAR10/StyleGAN2-ADA"}
ARCH = {"g_conv_dim": "g_conv_dim", "d_conv_dim": "d_conv_dim", "g_shared_dim": "g_shared_dim",
        "n_classes": "num_classes", "z_dim": "z_dim", "w_dim": "w_dim", "channel_max": "channel_max"}


def relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


def main() -> None:
    print("| StudioGAN config | fixture | G_ema(z, y) | D(x, y) | grad_x D |")
    print("|---|---|---|---|---|")
    for name, config in CASES.items():
        ref = torch.load(FIXTURES / name / "expected.pt", weights_only=True)
        cfg = OmegaConf.load(ROOT / "dotcli" / "configs" / "model" / "studiogan.yaml")
        cfg.config, cfg.checkpoint_dir = config, str(FIXTURES / name)
        cfg.arch_overrides = {ours: ref["arch"][theirs] for ours, theirs in ARCH.items() if theirs in ref["arch"]}
        if "StyleGAN2" in config:
            cfg.noise_mode = "const"  # the fixture used the stored noise buffers
        dataset = "imagenet" if config.startswith("ImageNet") else "cifar10"
        pair = load_studiogan_pair(cfg, dataset, SimpleNamespace(checkpoints=None, cache="/nonexistent"))
        y = ref["y"] if pair.n_classes else None
        with torch.no_grad():
            g = pair.generate(ref["z"], y)
        x = ref["x"].clone().requires_grad_(True)
        d = pair.discriminate(x, y)
        (grad,) = torch.autograd.grad(d.sum(), x)
        print(f"| {config} | {name} | {relative(g, ref['G_ema']):.1e} | {relative(d.detach(), ref['D']):.1e} | "
              f"{relative(grad, ref['grad_D']):.1e} |")


if __name__ == "__main__":
    main()
