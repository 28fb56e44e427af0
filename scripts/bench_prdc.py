"""Time and peak memory of dotcli.metrics.prdc against the three distance products it needs (a benchmark, not a test).

    python scripts/bench_prdc.py [--n 20000] [--dim 2048] [--device cpu|cuda] [--repeats 1]

Precision/recall/density/coverage of N x N features need every distance within the real set, within the generated
set and between them: three ``torch.cdist`` products (X-X, Y-Y, X-Y). This prints the seconds of ``prdc`` and of
those three products (each whole, as torch computes them), their ratio, and ``prdc``'s peak memory beyond the two
feature matrices: CUDA's max allocated, or on a CPU the growth of the process's peak resident set during the call
(measured before any cdist runs, so the cdist outputs never count).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from dotcli.metrics.prdc import exact_float32, prdc


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="points per set (real and generated)")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each (the fastest is reported)")
    args = ap.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(args.n, args.dim, generator=gen).to(device)
    fake = (torch.randn(args.n, args.dim, generator=gen) * 1.05 + 0.02).to(device)
    sync(device)

    base_rss = peak_rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    prdc_s, result = float("inf"), {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = prdc(real, fake)
        sync(device)
        prdc_s = min(prdc_s, time.perf_counter() - t0)
    extra = (torch.cuda.max_memory_allocated(device) - base_cuda if device.type == "cuda"
             else peak_rss_bytes() - base_rss)

    cdist_s = float("inf")
    with exact_float32():  # the same float32 without TF32 as prdc
        for _ in range(args.repeats):
            total = 0.0
            for a, b in ((real, real), (fake, fake), (real, fake)):
                t0 = time.perf_counter()
                d = torch.cdist(a, b)
                sync(device)
                total += time.perf_counter() - t0
                del d
            cdist_s = min(cdist_s, total)
    print(json.dumps({
        "n": args.n, "dim": args.dim, "device": str(device), "threads": torch.get_num_threads(),
        "prdc_s": round(prdc_s, 3), "three_cdist_s": round(cdist_s, 3), "ratio": round(prdc_s / cdist_s, 3),
        "prdc_peak_extra_mib": round(extra / 2**20, 1),
        "features_mib": round(2 * args.n * args.dim * 4 / 2**20, 1), "result": result}, indent=2))


if __name__ == "__main__":
    main()
