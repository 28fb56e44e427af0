"""Make the StyleGAN2-ADA verification fixtures by running NVIDIA's official model code on the CPU.

Official code: https://github.com/NVlabs/stylegan2-ada-pytorch at commit
d72cc7d041b42ec8e806021a205ed9349f87c6a4 (``training/networks.py``), run with ``force_fp32=True`` (its ops
fall back to their pure-PyTorch reference paths off-GPU). It is NOT part of dotcli: get it yourself and pass
its folder with ``--official`` (it needs ``requests``, ``click``, ``pillow`` besides torch/numpy/scipy).

For each configuration below the script builds G, D (random init, then every parameter and buffer perturbed so
that biases, noise strengths and w_avg are not zero), G_ema (a perturbed copy of G), pickles them exactly as
``training/training_loop.py`` does (``pickle.dump(dict(training_set_kwargs, G, D, G_ema, augment_pipe))``),
loads that real pickle with dotcli, and prints the largest relative difference (max |a - b| / max |b|) of
G_ema(z, c) (noise_mode const), G_ema with truncation psi 0.7, G(z, c), D(x, c), grad_x sum D(x, c) and
grad_z sum D(G_ema(z, c), c) (what latent DOT follows), for
dotcli's default modulated convolution (activations scaled around one shared convolution) and for the fused
one (per-sample weights, the official evaluation path).
Configurations marked ``commit`` are written to tests/models/fixtures/stylegan2_ada/<name>.pt as numbers
only: the ``_init_kwargs``, the state dicts, the inputs' seed and the official outputs (never the official
source, never a pickle that embeds it); the tests write a file in the original format from them.

    python scripts/make_stylegan2_ada_fixtures.py --official /tmp/stylegan2-ada-pytorch [--full]

``--full`` also runs the full-width configurations (512 wide; slow on a CPU), which are not committed.
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import pickle
import sys
import tempfile
from pathlib import Path

import torch

REPO = "NVlabs/stylegan2-ada-pytorch"
COMMIT = "d72cc7d041b42ec8e806021a205ed9349f87c6a4"
OUT = Path(__file__).resolve().parents[1] / "tests" / "models" / "fixtures" / "stylegan2_ada"

# train.py's cfg 'cifar': mapping 2 layers, D orig, mbstd 32, fp16 on 4 resolutions, clamp 256, G skip;
# cfg 'paper256'-like: mapping 8, D resnet, mbstd 4. 'small' ones shrink the widths for committed fixtures.
def _g(z, c, res, base, cmax, n_map, arch=None):
    synthesis = dict(channel_base=base, channel_max=cmax, num_fp16_res=4, conv_clamp=256)
    if arch:
        synthesis["architecture"] = arch
    return dict(z_dim=z, c_dim=c, w_dim=z, img_resolution=res, img_channels=3,
                mapping_kwargs=dict(num_layers=n_map), synthesis_kwargs=synthesis)


def _d(c, res, base, cmax, arch, mbstd):
    return dict(c_dim=c, img_resolution=res, img_channels=3, architecture=arch, channel_base=base,
                channel_max=cmax, num_fp16_res=4, conv_clamp=256, block_kwargs={}, mapping_kwargs={},
                epilogue_kwargs=dict(mbstd_group_size=mbstd))


CONFIGS = {
    # name: (G kwargs, D kwargs, n for G, n for D, committed)
    "cifar_cond_small": (_g(32, 10, 32, 512, 16, 2), _d(10, 32, 512, 16, "orig", 32), 6, 64, True),
    "cifar_uncond_small": (_g(32, 0, 32, 512, 16, 2), _d(0, 32, 512, 16, "orig", 32), 6, 32, True),
    "paper_uncond_64px_small": (_g(32, 0, 64, 512, 8, 8), _d(0, 64, 512, 8, "resnet", 4), 2, 8, True),
    "paper_cond_64px_small": (_g(32, 5, 64, 512, 8, 8), _d(5, 64, 512, 8, "resnet", 4), 2, 8, True),
    # the other architectures: G orig / resnet, D skip
    "g_resnet_d_skip_small": (_g(32, 3, 32, 512, 16, 2, "resnet"), _d(3, 32, 512, 16, "skip", 4), 4, 8, True),
    "g_orig_d_skip_small": (_g(32, 0, 32, 512, 16, 2, "orig"), _d(0, 32, 512, 16, "skip", 4), 4, 8, True),
    "cifar_cond_full": (_g(512, 10, 32, 32768, 512, 2), _d(10, 32, 32768, 512, "orig", 32), 4, 64, False),
    "paper_uncond_128px_full": (_g(512, 0, 128, 16384, 512, 8), _d(0, 128, 16384, 512, "resnet", 4), 2, 8, False),
}


def perturb(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Random values for every parameter and buffer except the FIR filters (their taps are the architecture)."""
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if name.endswith("resample_filter"):
                continue
            t.add_(torch.randn(t.shape, generator=gen) * (0.5 if t.ndim <= 1 else 0.1))


def inputs(seed: int, z_dim: int, c_dim: int, res: int, n_g: int, n_d: int):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n_g, z_dim, generator=gen)
    yg = torch.randint(0, max(c_dim, 1), (n_g,), generator=gen)
    x = torch.randn(n_d, 3, res, res, generator=gen) * 0.7
    yd = torch.randint(0, max(c_dim, 1), (n_d,), generator=gen)
    return z, yg, x, yd


def onehot(y: torch.Tensor, c_dim: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, c_dim).float() if c_dim else torch.zeros(len(y), 0)


def outputs(G_ema, G, D, z, cg, x, cd) -> dict[str, torch.Tensor]:
    """The quantities compared (``G_ema``/``G``/``D`` callables taking one-hot c)."""
    out = {"G_ema": G_ema(z, cg, noise_mode="const"),
           "G_ema_trunc07": G_ema(z, cg, truncation_psi=0.7, noise_mode="const"),
           "G": G(z, cg, noise_mode="const")}
    xr = x.clone().requires_grad_(True)
    d = D(xr, cd)
    (grad,) = torch.autograd.grad(d.sum(), xr)
    out["D"], out["grad_D"] = d.detach(), grad
    zr = z.clone().requires_grad_(True)  # what latent DOT differentiates: D(G_ema(z, c), c) with respect to z
    (out["grad_z_D_G_ema"],) = torch.autograd.grad(D(G_ema(zr, cg, noise_mode="const"), cg).sum(), zr)
    return {k: v.detach() for k, v in out.items()}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", type=Path, required=True, help="a checkout of " + REPO)
    ap.add_argument("--full", action="store_true", help="also the full-width (512) configurations")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(args.official))
    from training.networks import Discriminator, Generator  # the official code (not shipped with dotcli)

    from dotcli.models.stylegan2_ada import read_networks
    from dotcli.models.stylegan2_layers import set_fused_modconv

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    for seed, (name, (gk, dk, n_g, n_d, commit)) in enumerate(CONFIGS.items()):
        if not commit and not args.full:
            continue
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(1000 + seed)
        G = Generator(**copy.deepcopy(gk)).eval().requires_grad_(False)
        D = Discriminator(**copy.deepcopy(dk)).eval().requires_grad_(False)
        perturb(G, gen)
        perturb(D, gen)
        G_ema = copy.deepcopy(G)
        perturb(G_ema, gen)
        z, yg, x, yd = inputs(seed, gk["z_dim"], gk["c_dim"], gk["img_resolution"], n_g, n_d)
        cg, cd = onehot(yg, gk["c_dim"]), onehot(yd, gk["c_dim"])
        official = outputs(functools.partial(G_ema, force_fp32=True), functools.partial(G, force_fp32=True),
                           functools.partial(D, force_fp32=True), z, cg, x, cd)
        snapshot = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="data.zip",
                                                 use_labels=bool(gk["c_dim"]), max_size=None, xflip=False,
                                                 resolution=gk["img_resolution"]))
        for key, module in (("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", None)):
            snapshot[key] = copy.deepcopy(module).eval().requires_grad_(False).cpu() if module is not None else None
        with tempfile.TemporaryDirectory() as tmp:
            pkl = Path(tmp) / "network-snapshot.pkl"
            with open(pkl, "wb") as f:
                pickle.dump(snapshot, f)  # as training_loop.py writes it
            nets = read_networks(pkl)
        ours = outputs(nets["G_ema"], nets["G"], nets["D"], z, cg, x, cd)  # dotcli's default (unfused) modconv
        diffs = {k: rel(ours[k], official[k]) for k in official}
        print(f"{name}: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()), flush=True)
        for key in ("G", "G_ema"):
            set_fused_modconv(nets[key], True)
        fused = outputs(nets["G_ema"], nets["G"], nets["D"], z, cg, x, cd)
        print(f"{name} (fused modconv): " + ", ".join(f"{k} {rel(fused[k], official[k]):.2e}" for k in official),
              flush=True)
        # float32 round-off scale: the official code's own training-mode (unfused) modconv against its eval path
        official_unfused = outputs(functools.partial(G_ema, force_fp32=True, fused_modconv=False),
                                   functools.partial(G, force_fp32=True, fused_modconv=False),
                                   functools.partial(D, force_fp32=True), z, cg, x, cd)
        print(f"{name} (official unfused vs official fused): "
              + ", ".join(f"{k} {rel(official_unfused[k], official[k]):.2e}" for k in official), flush=True)
        if commit and not args.no_write:
            blob = {"repo": REPO, "commit": COMMIT, "name": name, "seed": seed, "n_g": n_g, "n_d": n_d,
                    "init_kwargs": {"G": gk, "D": dk}, "training_set_kwargs": snapshot["training_set_kwargs"],
                    "state": {k: {n: t.clone() for n, t in m.state_dict().items()}
                              for k, m in (("G", G), ("D", D), ("G_ema", G_ema))},
                    "inputs": {"z": z, "y_g": yg, "y_d": yd}, "outputs": official}
            buf = io.BytesIO()
            torch.save(blob, buf)
            (OUT / f"{name}.pt").write_bytes(buf.getvalue())


if __name__ == "__main__":
    main()
