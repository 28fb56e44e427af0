"""Throughput and peak memory of every sampler on the paper's 32px model size (random weights).

    python scripts/bench_samplers.py --batch-size 64 --steps 10 [--device cuda] [--ch 512]
    python scripts/bench_samplers.py --model stylegan2_ada_cifar10 --batch-size 64 --samplers floor,forward

``--model stylegan2_ada_cifar10``: the full-width class-conditional CIFAR-10 StyleGAN2-ADA pair (train.py cfg
``cifar``: 512 wide, mapping 2, D orig, minibatch-std group 32; random weights, dotcli's float32 networks).

Prints, per sampler, output samples/s and peak memory (CUDA: max allocated; CPU: peak RSS of a
fresh process per sampler), and two floors: one G+D forward-backward on a batch (N steps of DOT, naive,
DDLS or DGflow cost at least N of those: each step is one G forward, one D forward, and backward through
both), and one G+D forward without gradients (MH-GAN's K proposals cost at least K of those).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from types import SimpleNamespace

import torch

from dotcli.models.dcgan import load_random_dcgan_pair
from dotcli.models.stylegan2_ada import random_cifar10_pair
from dotcli.samplers.base import SetupContext
from dotcli.samplers.ddls import DDLSSampler
from dotcli.samplers.dgflow import DGflowSampler
from dotcli.samplers.dot import DOTSampler
from dotcli.samplers.drs import RejectionSampler
from dotcli.samplers.mh import MHSampler
from dotcli.samplers.naive import NaiveSampler
from dotcli.samplers.none import BareSampler

SAMPLERS = ("floor", "forward", "none", "naive", "dot", "drs", "mh", "ddls", "dgflow")
STEPPED = ("naive", "dot", "ddls", "dgflow")  # N forward-backward steps per output


def make_sampler(name: str, steps: int, chain_length: int):
    return {"none": lambda: BareSampler(),
            "naive": lambda: NaiveSampler(space="latent", optimizer="sgd", steps=steps, k_eff=1.0),
            "dot": lambda: DOTSampler(space="latent", optimizer="sgd", steps=steps, k_eff=1.0),
            "drs": lambda: RejectionSampler(burn_in=256, calibrate="never", gamma_percentile=80),
            "mh": lambda: MHSampler(chain_length=chain_length, calibrate="none"),
            "ddls": lambda: DDLSSampler(steps=steps),
            "dgflow": lambda: DGflowSampler(steps=steps)}[name]()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(name: str, args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if args.model == "stylegan2_ada_cifar10":
        pair = random_cifar10_pair(seed=0).to(device)
    else:
        pair = load_random_dcgan_pair(SimpleNamespace(ch=args.ch, bottom_width=4, seed=0, d_output="logit",
                                                      name="random_dcgan32"), "cifar10", None).to(device)
    gen = torch.Generator().manual_seed(0)
    if name == "floor":  # one G+D forward-backward with respect to z
        def step():
            z = pair.sample_z(args.batch_size, gen).requires_grad_(True)
            y = pair.sample_y(args.batch_size, gen)
            pair.discriminate(pair.generate(z, y), y).sum().backward()
    elif name == "forward":  # one G+D forward, no gradients
        def step():
            with torch.no_grad():
                y = pair.sample_y(args.batch_size, gen)
                pair.discriminate(pair.generate(pair.sample_z(args.batch_size, gen), y), y)
    else:
        sampler = make_sampler(name, args.steps, args.chain_length)
        real = lambda n, g: torch.rand(n, 3, 32, 32, generator=g).mul(2).sub(1).to(device)  # noqa: E731  (MH's start)
        sampler.setup(pair, SetupContext(gen=gen, real_data=real, batch_size=args.batch_size))
        step = lambda: sampler.sample(pair, args.batch_size, gen)  # noqa: E731
    step()  # warm-up (allocator, cuDNN autotune)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.reps):
        step()
    sync(device)
    dt = (time.perf_counter() - t0) / args.reps
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"sampler": name, "seconds_per_batch": dt, "samples_per_s": args.batch_size / dt,
            "peak_mib": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="DOT / naive / DDLS / DGflow updates per sample")
    ap.add_argument("--chain-length", type=int, default=10, help="MH-GAN proposals per sample (paper: 640)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ch", type=int, default=512, help="width of dcgan32 (512 = the paper's models)")
    ap.add_argument("--model", choices=("dcgan32", "stylegan2_ada_cifar10"), default="dcgan32",
                    help="dcgan32: the DOT paper's 32px DCGAN/SNDCGAN; stylegan2_ada_cifar10: StyleGAN2-ADA cifar cfg")
    ap.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated subset of " + ",".join(SAMPLERS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one sampler in this process
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.only:
        print(json.dumps(bench_one(args.only, args)))
        return
    rows = []
    chosen = [s for s in args.samplers.split(",") if s]
    unknown = [s for s in chosen if s not in SAMPLERS]
    if unknown:
        ap.error(f"--samplers: unknown {', '.join(unknown)}; expected some of {', '.join(SAMPLERS)}")
    for name in chosen:
        # a fresh process per sampler: CPU peak RSS is per process and never goes down
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], capture_output=True,
                             text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    cuda = args.device.startswith("cuda")
    device = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
    width = "StyleGAN2-ADA cifar cfg (512)" if args.model == "stylegan2_ada_cifar10" else f"dcgan32 width {args.ch}"
    print(f"device {device}; batch {args.batch_size}; steps {args.steps}; MH chain {args.chain_length}; "
          f"{width}; torch {torch.__version__}")
    print(f"{'sampler':8} {'s/batch':>10} {'samples/s':>11} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['sampler']:8} {r['seconds_per_batch']:10.4f} {r['samples_per_s']:11.1f} {r['peak_mib']:9.0f}")
    t = {r["sampler"]: r["seconds_per_batch"] for r in rows}
    for name in STEPPED:
        if name in t and "floor" in t:
            print(f"{name} / ({args.steps} x forward-backward floor) = {t[name] / (args.steps * t['floor']):.2f}")
    if "mh" in t and "forward" in t:
        print(f"mh / ({args.chain_length} x forward floor) = {t['mh'] / (args.chain_length * t['forward']):.2f}"
              "  (1.00 = no overhead beyond the G and D passes)")
    if "floor" in t:
        print(f"G+D forward-backward: {t['floor'] / args.batch_size * 1e3:.2f} ms per sample")


if __name__ == "__main__":
    main()
