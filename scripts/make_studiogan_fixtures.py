"""Write the StudioGAN test fixtures: random-weight networks built and run by PyTorch-StudioGAN's own code.

Repository: https://github.com/POSTECH-CVLab/PyTorch-StudioGAN at commit
947b35e9835b67860fdce44d337f6d7fee7c8db3 (MIT licence; its StyleGAN2 parts under NVIDIA's licence).
Configs: src/configs/CIFAR10/BigGAN.yaml, src/configs/CIFAR10/BigGAN-Uncond.yaml, src/configs/ImageNet/BigGAN-256.yaml,
src/configs/CIFAR10/StyleGAN2-ADA.yaml
(widths reduced, below).

For each config the script
1. builds G, G_ema and D with ``config.Configurations(cfg)`` and ``models.model.load_generator_discriminator``
   (StudioGAN's own code, on the CPU, float32), widths reduced so the fixtures stay small. StyleGAN2: that
   function fixes channel_base 32768 / channel_max 512 for CIFAR-10 (no config value reduces them), so the
   script calls StudioGAN's ``models.stylegan2.Generator`` / ``Discriminator`` with exactly the arguments
   ``load_generator_discriminator`` passes, except ``channel_max`` (16) and z_dim = w_dim (32, a config value);
2. perturbs every parameter (biases and the attention gains start at zero, which would leave paths
   untested), takes two SGD steps on a hinge loss with StudioGAN's ``Ema`` update, then runs a few
   training-mode forwards so the spectral-norm vectors and batch-norm statistics are those of the weights;
3. saves the three files exactly as StudioGAN's ``worker.save`` does (``model=G-best-weights-step=N.pth``:
   ``{state_dict, optimizer}``; G_ema: ``{state_dict}``; D: ``{state_dict, optimizer, seed, run_name, step,
   epoch, topk, aa_p, best_step, best_fid (numpy float64), best_fid_ckpt, lecam_emas}``);
   StyleGAN2 has no BN or SN: its parameters are perturbed, ``w_avg`` is tracked by training-mode mapping
   passes (``update_emas=True``) and G_ema is G after one more perturbation (StudioGAN's EmaStylegan2 blends
   them during training; any G_ema different from G tests that G_ema is the file used);
4. writes ``expected.pt``: inputs z, y, x and, from StudioGAN's eval-mode networks, ``G_ema(z, y, eval=True)``
   (StyleGAN2: mapping(z, one_hot(y)) and synthesis with ``noise_mode='const'``, also at truncation psi 0.7),
   ``D(x, y)["adv_output"]`` and the gradient of its sum with respect to x.

5. writes ``full_width_shapes.json``: every state-dict key and shape of StudioGAN's G_ema and D at the configs'
   real widths (no reduction; BigGAN built on the meta device), for CIFAR10/BigGAN, CIFAR10/BigGAN-Uncond,
   ImageNet/BigGAN-256, CIFAR10/StyleGAN2-ADA and CIFAR10/StyleGAN2-Uncond: the architecture table is checked
   at full size too, without committing full-size weights.

Only numbers are written (state dicts, tensors, the D file's plain fields); never StudioGAN's source.
Run (StudioGAN checked out at STUDIOGAN, its extra packages importable):
    PYTHONPATH=$STUDIOGAN/src:<deps> python scripts/make_studiogan_fixtures.py --studiogan $STUDIOGAN
With ``--compare-full-width`` (dotcli importable too) it instead prints the differences between StudioGAN's
networks at the configs' real widths and dotcli's, writing nothing.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import numpy as np
import torch

COMMIT = "947b35e9835b67860fdce44d337f6d7fee7c8db3"
OUT = Path(__file__).resolve().parents[1] / "tests" / "models" / "fixtures" / "studiogan"
STEP = 2
SG2_CHANNEL_MAX, SG2_Z_DIM = 16, 32

# fixture name -> (StudioGAN config file, reduced-width overrides of MODEL / DATA, batch size)
FIXTURES = {
    "CIFAR10-BigGAN": ("CIFAR10/BigGAN.yaml", {"g_conv_dim": 8, "d_conv_dim": 8, "g_shared_dim": 16}, {}, 4),
    "CIFAR10-BigGAN-Uncond": ("CIFAR10/BigGAN-Uncond.yaml", {"g_conv_dim": 8, "d_conv_dim": 8, "g_shared_dim": 16},
                              {}, 4),
    "ImageNet-BigGAN-256": ("ImageNet/BigGAN-256.yaml", {"g_conv_dim": 4, "d_conv_dim": 8, "g_shared_dim": 8},
                            {"num_classes": 20}, 2),
    "CIFAR10-StyleGAN2-ADA": ("CIFAR10/StyleGAN2-ADA.yaml", {"z_dim": SG2_Z_DIM, "w_dim": SG2_Z_DIM}, {}, 6),
}


def build(studiogan: Path, cfg_file: str, model_over: dict, data_over: dict, full_width: bool = False):
    sys.path.insert(0, str(studiogan / "src"))
    import config  # noqa: PLC0415  (StudioGAN's own modules)
    import models.model  # noqa: PLC0415

    cfgs = config.Configurations(str(studiogan / "src" / "configs" / cfg_file))
    for key, value in model_over.items():
        setattr(cfgs.MODEL, key, value)
    for key, value in data_over.items():
        setattr(cfgs.DATA, key, value)
    cfgs.RUN.mixed_precision = False
    if cfgs.MODEL.backbone == "stylegan2" and not full_width:
        return (cfgs, *build_stylegan2(cfgs))
    Gen, _, _, Dis, Gen_ema, _, _, ema = models.model.load_generator_discriminator(
        DATA=cfgs.DATA, OPTIMIZATION=cfgs.OPTIMIZATION, MODEL=cfgs.MODEL, STYLEGAN=cfgs.STYLEGAN,
        MODULES=cfgs.MODULES, RUN=cfgs.RUN, device="cpu", logger=None)
    return cfgs, Gen, Dis, Gen_ema, ema


def build_stylegan2(cfgs):
    """StudioGAN's StyleGAN2 G and D with load_generator_discriminator's arguments (mixed_precision off:
    num_fp16_res 0, conv_clamp None), channel_max reduced."""
    import models.stylegan2 as sg2  # noqa: PLC0415

    common = {"num_fp16_res": 0, "conv_clamp": None}
    gen_c_dim = cfgs.DATA.num_classes if cfgs.MODEL.g_cond_mtd == "cAdaIN" else 0
    dis_c_dim = cfgs.DATA.num_classes if cfgs.MODEL.d_cond_mtd in cfgs.STYLEGAN.cond_type else 0
    Gen = sg2.Generator(z_dim=cfgs.MODEL.z_dim, c_dim=gen_c_dim, w_dim=cfgs.MODEL.w_dim,
                        img_resolution=cfgs.DATA.img_size, img_channels=cfgs.DATA.img_channels, MODEL=cfgs.MODEL,
                        mapping_kwargs={"num_layers": cfgs.STYLEGAN.mapping_network},
                        synthesis_kwargs={"channel_base": 32768, "channel_max": SG2_CHANNEL_MAX, **common})
    Dis = sg2.Discriminator(c_dim=dis_c_dim, img_resolution=cfgs.DATA.img_size, img_channels=cfgs.DATA.img_channels,
                            architecture=cfgs.STYLEGAN.d_architecture, channel_base=32768,
                            channel_max=SG2_CHANNEL_MAX, cmap_dim=None, d_cond_mtd=cfgs.MODEL.d_cond_mtd,
                            aux_cls_type=cfgs.MODEL.aux_cls_type, d_embed_dim=cfgs.MODEL.d_embed_dim,
                            num_classes=cfgs.DATA.num_classes, normalize_d_embed=cfgs.MODEL.normalize_d_embed,
                            block_kwargs={}, mapping_kwargs={},
                            epilogue_kwargs={"mbstd_group_size": cfgs.STYLEGAN.d_epilogue_mbstd_group_size},
                            MODEL=cfgs.MODEL, **common)
    return Gen, Dis, copy.deepcopy(Gen), None


def make_stylegan2(name: str, cfgs, Gen, Dis, Gen_ema, gen: torch.Generator, seed: int, n: int) -> None:
    import torch.nn.functional as F  # noqa: PLC0415

    with torch.no_grad():
        for net in (Gen, Dis):
            for p in net.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
        Gen_ema.load_state_dict(Gen.state_dict())
        for p in Gen_ema.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
        Gen.train(), Gen_ema.train()
        for _ in range(3):  # w_avg: tracked by the mapping networks in training mode
            z, y = sample_z_y(cfgs, 8, gen)
            for net in (Gen, Gen_ema):
                net.mapping(z, F.one_hot(y, cfgs.DATA.num_classes), update_emas=True)
    d_extra = {"seed": seed, "step": STEP, "epoch": 1, "topk": 10, "aa_p": 0.25, "best_step": STEP}
    out = save_run(name, "CIFAR10/StyleGAN2-ADA.yaml", Gen, Dis, Gen_ema, torch.optim.SGD(Gen.parameters(), lr=0.1),
                   torch.optim.SGD(Dis.parameters(), lr=0.1), d_extra)
    Gen_ema.eval(), Dis.eval()
    z, y = sample_z_y(cfgs, n, gen)
    size = cfgs.DATA.img_size
    x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    c = F.one_hot(y, cfgs.DATA.num_classes)
    with torch.no_grad():
        g_out = Gen_ema(z, c, eval=True, noise_mode="const")
        g_psi = Gen_ema.synthesis(Gen_ema.mapping(z, c, truncation_psi=0.7), noise_mode="const")
    x_req = x.clone().requires_grad_(True)
    d_out = Dis(x_req, y, eval=True)["adv_output"]
    (grad,) = torch.autograd.grad(d_out.sum(), x_req)
    arch = {"z_dim": cfgs.MODEL.z_dim, "w_dim": cfgs.MODEL.w_dim, "channel_max": SG2_CHANNEL_MAX,
            "img_size": size, "num_classes": cfgs.DATA.num_classes,
            "mbstd_group_size": cfgs.STYLEGAN.d_epilogue_mbstd_group_size}
    torch.save({"z": z, "y": y, "x": x, "G_ema": g_out, "G_ema_psi0.7": g_psi, "D": d_out.detach().reshape(-1),
                "grad_D": grad, "arch": arch, "commit": COMMIT, "config": "CIFAR10/StyleGAN2-ADA.yaml"},
               out / "expected.pt")
    print(f"{name}: {sum(f.stat().st_size for f in out.iterdir()) / 1e6:.2f} MB in {out}")


def save_run(name: str, cfg_file: str, Gen, Dis, Gen_ema, g_opt, d_opt, d_extra: dict) -> Path:
    """The three files as StudioGAN's worker.save writes them (see the module docstring)."""
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.pt*"):
        old.unlink()
    run_name = f"{cfg_file.split('/')[0]}-{Path(cfg_file).stem}-train-fixture"
    torch.save({"state_dict": Gen.state_dict(), "optimizer": g_opt.state_dict()},
               out / f"model=G-best-weights-step={STEP}.pth")
    torch.save({"state_dict": Gen_ema.state_dict()}, out / f"model=G_ema-best-weights-step={STEP}.pth")
    torch.save({"state_dict": Dis.state_dict(), "optimizer": d_opt.state_dict(), "run_name": run_name, **d_extra,
                "best_fid": np.float64(123.456), "best_fid_ckpt": "./checkpoints/" + run_name,
                "lecam_emas": {"G_loss": 7777, "D_loss_real": 7777, "D_loss_fake": 7777, "D_real": 7777,
                               "D_fake": 7777, "decay": 0.9, "start_itr": 0}},
               out / f"model=D-best-weights-step={STEP}.pth")
    return out


def sample_z_y(cfgs, n: int, gen: torch.Generator):
    z = torch.randn(n, cfgs.MODEL.z_dim, generator=gen)
    y = torch.randint(0, cfgs.DATA.num_classes, (n,), generator=gen)
    return z, y


def make(name: str, studiogan: Path, seed: int) -> None:
    cfg_file, model_over, data_over, n = FIXTURES[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cfgs, Gen, Dis, Gen_ema, ema = build(studiogan, cfg_file, model_over, data_over)
    if cfgs.MODEL.backbone == "stylegan2":
        make_stylegan2(name, cfgs, Gen, Dis, Gen_ema, gen, seed, n)
        return
    with torch.no_grad():
        for net in (Gen, Dis):
            for pname, p in net.named_parameters():
                if pname.endswith(".sigma"):
                    p.fill_(0.7)  # attention gain: zero at init
                else:
                    p.add_(0.05 * torch.randn(p.shape, generator=gen))
    ema.decay, ema.start_iter = 0.0, 0
    ema.update(0)  # G_ema starts as a copy of the perturbed G, then follows it with decay 0.5
    ema.decay = 0.5
    # plain SGD (no per-parameter state): the files keep StudioGAN's "optimizer" key at a fraction of Adam's size
    g_opt = torch.optim.SGD(Gen.parameters(), lr=1e-2)
    d_opt = torch.optim.SGD(Dis.parameters(), lr=1e-2)
    size = cfgs.DATA.img_size
    Gen.train(), Dis.train(), Gen_ema.train()
    for it in range(STEP):
        z, y = sample_z_y(cfgs, 8, gen)
        real = torch.rand(8, 3, size, size, generator=gen) * 2 - 1
        d_loss = (torch.relu(1 - Dis(real, y)["adv_output"]).mean()
                  + torch.relu(1 + Dis(Gen(z, y).detach(), y)["adv_output"]).mean())
        d_opt.zero_grad(), d_loss.backward(), d_opt.step()
        z, y = sample_z_y(cfgs, 8, gen)
        g_loss = -Dis(Gen(z, y), y)["adv_output"].mean()
        g_opt.zero_grad(), g_loss.backward(), g_opt.step()
        ema.update(it + 1)
    with torch.no_grad():  # training-mode passes: SN vectors and BN statistics follow the final weights
        for _ in range(3):
            z, y = sample_z_y(cfgs, 8, gen)
            Gen(z, y), Gen_ema(z, y), Dis(torch.rand(8, 3, size, size, generator=gen) * 2 - 1, y)

    out = save_run(name, cfg_file, Gen, Dis, Gen_ema, g_opt, d_opt,
                   {"seed": seed, "step": STEP, "epoch": 1, "topk": 10, "aa_p": 0.0, "best_step": STEP})

    Gen_ema.eval(), Dis.eval()
    z, y = sample_z_y(cfgs, n, gen)
    x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    with torch.no_grad():
        g_out = Gen_ema(z, y, eval=True)
    x_req = x.clone().requires_grad_(True)
    d_out = Dis(x_req, y, eval=True)["adv_output"]
    (grad,) = torch.autograd.grad(d_out.sum(), x_req)
    arch = {**{k: getattr(cfgs.MODEL, k) for k in ("z_dim", "g_shared_dim", "g_conv_dim", "d_conv_dim",
                                                     "attn_g_loc", "attn_d_loc")},
            "img_size": size, "num_classes": cfgs.DATA.num_classes}
    torch.save({"z": z, "y": y, "x": x, "G_ema": g_out, "D": d_out.detach().reshape(-1), "grad_D": grad,
                "arch": arch, "commit": COMMIT, "config": cfg_file}, out / "expected.pt")
    sizes = sum(f.stat().st_size for f in out.iterdir())
    print(f"{name}: {sizes / 1e6:.2f} MB in {out}")


SHAPE_CONFIGS = ("CIFAR10/BigGAN", "CIFAR10/BigGAN-Uncond", "ImageNet/BigGAN-256", "CIFAR10/StyleGAN2-ADA",
                 "CIFAR10/StyleGAN2-Uncond")


def write_full_width_shapes(studiogan: Path) -> None:
    """Key -> shape of StudioGAN's G_ema and D state dicts at the configs' own widths."""
    import json  # noqa: PLC0415

    sys.path.insert(0, str(studiogan / "src"))
    import config  # noqa: PLC0415
    import models.model  # noqa: PLC0415

    shapes = {}
    for name in SHAPE_CONFIGS:
        cfgs = config.Configurations(str(studiogan / "src" / "configs" / f"{name}.yaml"))
        cfgs.RUN.mixed_precision = False
        device = "cpu" if cfgs.MODEL.backbone == "stylegan2" else "meta"  # StudioGAN's filters need real tensors
        with torch.device(device):
            Gen, _, _, Dis, Gen_ema, _, _, _ = models.model.load_generator_discriminator(
                DATA=cfgs.DATA, OPTIMIZATION=cfgs.OPTIMIZATION, MODEL=cfgs.MODEL, STYLEGAN=cfgs.STYLEGAN,
                MODULES=cfgs.MODULES, RUN=cfgs.RUN, device=device, logger=None)
        shapes[name] = {role: {k: list(v.shape) for k, v in net.state_dict().items()}
                        for role, net in (("G_ema", Gen_ema), ("D", Dis))}
    path = OUT / "full_width_shapes.json"
    path.write_text(json.dumps({"commit": COMMIT, "configs": shapes}, indent=0, sort_keys=True) + "\n")
    print(f"full-width shapes: {path.stat().st_size / 1e3:.0f} kB in {path}")


def compare_full_width(studiogan: Path, seed: int) -> None:
    """Print the largest relative difference between StudioGAN's networks at the configs' real widths (random,
    perturbed weights, eval mode) and dotcli's loaded with their state dicts; nothing is written. Needs dotcli
    importable too (PYTHONPATH=<dotcli checkout>:...)."""
    import torch.nn.functional as F  # noqa: PLC0415

    from dotcli.models.studiogan import (  # noqa: PLC0415
        CONFIGS,
        biggan_networks,
        stylegan2_d_keys,
        stylegan2_networks,
    )
    from dotcli.models.stylegan2_ada import StyleGAN2Discriminator, StyleGAN2Generator  # noqa: PLC0415

    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
    for name in ("CIFAR10/BigGAN", "ImageNet/BigGAN-256", "CIFAR10/StyleGAN2-ADA"):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        cfgs, Gen, Dis, Gen_ema, _ = build(studiogan, f"{name}.yaml", {}, {}, full_width=True)
        with torch.no_grad():
            for net in (Gen_ema, Dis):
                for pname, p in net.named_parameters():
                    p.fill_(0.7) if pname.endswith(".sigma") else p.add_(0.05 * torch.randn(p.shape, generator=gen))
        n, size, classes = 2, cfgs.DATA.img_size, cfgs.DATA.num_classes
        z, y = sample_z_y(cfgs, n, gen)
        x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
        stylegan = cfgs.MODEL.backbone == "stylegan2"
        if not stylegan:  # training-mode passes: SN vectors and BN statistics follow the perturbed weights
            Gen_ema.train(), Dis.train()
            with torch.no_grad():
                Gen_ema(*sample_z_y(cfgs, 4, gen)), Dis(x, y)
        Gen_ema.eval(), Dis.eval()
        with torch.no_grad():
            g_ref = (Gen_ema(z, F.one_hot(y, classes), eval=True, noise_mode="const") if stylegan
                     else Gen_ema(z, y, eval=True))
        x_req = x.clone().requires_grad_(True)
        d_ref = Dis(x_req, y, eval=True)["adv_output"].reshape(-1)
        (grad_ref,) = torch.autograd.grad(d_ref.sum(), x_req)
        arch = CONFIGS[name]
        if stylegan:
            g_net, d_net = stylegan2_networks(arch)
            g_net.load_state_dict(Gen_ema.state_dict())
            d_net.load_state_dict(stylegan2_d_keys(Dis.state_dict()))
            G, D = StyleGAN2Generator(g_net, noise_mode="const"), StyleGAN2Discriminator(d_net)
        else:
            G, D = biggan_networks(arch)
            G.load_state_dict(Gen_ema.state_dict())
            D.load_state_dict(Dis.state_dict())
        G.eval(), D.eval()
        with torch.no_grad():
            g = G(z, y)
        x_req = x.clone().requires_grad_(True)
        d = D(x_req, y).reshape(-1)
        (grad,) = torch.autograd.grad(d.sum(), x_req)
        print(f"full width {name}: G {rel(g, g_ref):.1e}, D {rel(d.detach(), d_ref.detach()):.1e}, "
              f"grad D {rel(grad, grad_ref):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studiogan", type=Path, required=True, help="a PyTorch-StudioGAN checkout at " + COMMIT)
    parser.add_argument("--only", nargs="*", default=list(FIXTURES), choices=list(FIXTURES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-full-width", action="store_true",
                        help="only print the differences to dotcli at the configs' real widths (writes nothing)")
    args = parser.parse_args()
    os.chdir(args.studiogan / "src")  # StudioGAN imports its modules relative to src/
    torch.set_grad_enabled(True)
    if args.compare_full_width:
        compare_full_width(args.studiogan, args.seed)
        return
    for name in args.only:
        make(name, args.studiogan, args.seed)
    write_full_width_shapes(args.studiogan)


if __name__ == "__main__":
    main()
