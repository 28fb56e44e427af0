"""Refine the samples of a GAN of your own with dotcli's Python API.

A small generator and discriminator are defined here, trained for some seconds on the 25-Gaussians mixture
(the DOT paper's 2-D benchmark), then their samples are refined with DOT (Tanaka 2019, Alg. 1: target space)
and scored before and after: HQ (fraction of samples within 4 std of a mode), modes covered, and EMD to fresh data.

    python examples/your_own_gan.py               # 2000 training steps: about 20 s of one CPU core
    python examples/your_own_gan.py --seconds 5   # train for 5 s of wall time instead (depends on the machine)

With the default 2000 steps (seed 0, one torch thread) it prints
    G(z)  HQ 0.226  modes 19/25  EMD 0.224
    DOT   HQ 0.428  modes 25/25  EMD 0.203
DOT moves the generator's samples onto the modes its discriminator favours, keeping them spread over all 25.

Nothing here is dotcli-specific except the last few lines: ``dotcli.ModelPair`` wraps any torch modules.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

import dotcli

STD = 0.05 / 2.828  # the mixture of dataset=gaussians25: means (2i, 2j)/2.828 for i, j in -2..2, this std


def mixture(n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` points of the 25-Gaussians mixture (the data ``dataset=gaussians25`` scores against)."""
    grid = torch.arange(-2, 3, dtype=torch.float32) * 2 / 2.828
    means = torch.cartesian_prod(grid, grid)
    return means[torch.randint(0, 25, (n,), generator=gen)] + STD * torch.randn(n, 2, generator=gen)


def mlp(n_in: int, n_out: int, width: int = 128) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out))


def train(G: nn.Module, D: nn.Module, z_dim: int, seconds: float, seed: int, max_steps: int | None = None) -> int:
    """Non-saturating GAN training for ``seconds`` of wall time (or exactly ``max_steps`` steps: the same GAN on
    any machine); returns the number of steps taken."""
    gen = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    bce = nn.functional.binary_cross_entropy_with_logits
    start, steps = time.perf_counter(), 0
    while (steps < max_steps) if max_steps is not None else (time.perf_counter() - start < seconds):
        real = mixture(256, gen)
        fake = G(torch.randn(256, z_dim, generator=gen))
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_gen = D(fake)
        loss_g = bce(d_gen, torch.ones_like(d_gen))  # the non-saturating generator loss
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        steps += 1
    return steps


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000: the same GAN anywhere)")
    parser.add_argument("--seconds", type=float, default=None, help="train for this wall time instead of --steps")
    parser.add_argument("--n", type=int, default=1000, help="samples to refine and score (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    z_dim = 2
    G, D = mlp(z_dim, 2), mlp(2, 1)
    start = time.perf_counter()
    steps = train(G, D, z_dim, args.seconds or 0.0, args.seed, None if args.seconds else args.steps)
    print(f"trained {steps} steps in {time.perf_counter() - start:.1f} s")

    # Your modules, as dotcli sees them: D returns a raw logit (no sigmoid) of a non-saturating GAN.
    pair = dotcli.ModelPair(G=G, D=D, z_dim=z_dim, prior="normal", d_output="logit", sample_range=(-2.0, 2.0))
    # DOT with the 2-D benchmark's settings (target space, Adam 0.01, 100 steps); seed: same samples each time.
    batch = dotcli.refine(pair, "dot", n=args.n, seed=args.seed, dataset="gaussians25", device="cpu")
    scores = {name: dotcli.evaluate(x, "dataset=gaussians25", f"seed={args.seed}", "device=cpu")
              for name, x in (("G(z)", batch.x_init), ("DOT", batch.x))}
    for name, s in scores.items():
        print(f"{name:5s} HQ {s['hq']:.3f}  modes {s['modes']:.0f}/25  EMD {s['emd']:.3f}")
    if not all(math.isfinite(v) for s in scores.values() for v in s.values()):
        raise SystemExit("a score is not finite")
    return scores


if __name__ == "__main__":
    main()
