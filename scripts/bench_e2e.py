"""End-to-end timing of ``dot-run``: where a run's wall time goes, against its compute floors.

    python scripts/bench_e2e.py images [--n 50000 --steps 20 --ch 512 --inception PATH] [--device cuda]
    python scripts/bench_e2e.py toy                      # the default run (no overrides) on this machine

``images`` runs ``dot-run dataset=cifar10 model=random_dcgan32 method=dot`` on a fake CIFAR-10 made on the
spot (torchvision's layout, random pixels: the numbers are meaningless, the timings are not), first once to
fill the reference-statistics cache, then timed. It prints: start-up (process wall minus the run's own wall),
sampling, evaluation, the extractor alone on the same images (timed here on the saved samples, same batch
size, after a warm-up), other in-run time, and the ratios evaluation / extractor (goal <= 1.15) and
sampling / (steps x one G+D forward-backward) (the sampler's floor). ``--inception`` takes torch-fidelity's
``weights-inception-2015-12-05`` file or dot-weights' offline FID Inception; a float16 copy (to carry a
87 MB file under a transfer limit) is restored to float32 first.

``toy`` runs the default ``dot-run`` (25 Gaussians, DOT, 10 trials x 1000 samples) and prints its process
wall against its compute floor: the D forward and backward passes it must do (trials x steps of one batch),
timed in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from dotcli.console import console_command


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn, repeats: int, device: torch.device) -> float:
    """Minimum wall time of ``fn`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def dot_run(args: list[str], cwd: Path) -> tuple[dict, float]:
    """Run ``dot-run``; return its record and the process wall time.

    The record also gets ``first_batch_s``: seconds from process start to the first sampled batch (the log's
    ``trial 0: setup found`` line, written just before the sampler's first call).
    """
    launched, t0 = time.time(), time.perf_counter()
    proc = subprocess.run([*console_command("dot-run"), *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"dot-run failed:\n{proc.stderr[-3000:]}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    rec = json.loads(path.read_text())
    for line in (path.parent / "dot-run.log").read_text().splitlines():
        if "trial 0: setup found" in line:  # '[2026-11-28 11:40:37,062][dotcli.runner][INFO] - trial 0: ...'
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            rec["first_batch_s"] = stamp - launched
    return rec, wall


def import_torch_s() -> float:
    """Wall time of ``python -c 'import torch'`` (best of 3): the part of start-up no code of ours can remove."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def print_startup(rec: dict) -> None:
    if "first_batch_s" in rec:
        base = import_torch_s()
        print(f"  first batch     {rec['first_batch_s']:8.2f} s   after process start; python + import torch "
              f"{base:.2f} s, so {rec['first_batch_s'] - base:.2f} s beyond it (goal <= 2)")


def write_fake_cifar10(root: Path, per_file: int, seed: int = 0) -> None:
    """torchvision's ``cifar-10-batches-py`` layout with random pixels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_file, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": [int(v) for v in rng.integers(0, 10, per_file)],
                         "filenames": [f"{name}_{i}.png" for i in range(per_file)]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": per_file}, f)


def float32_weights(path: Path, workdir: Path) -> Path:
    """``path`` itself, or a float32 copy of it in ``workdir`` when it was carried as float16."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not any(torch.is_tensor(v) and v.dtype == torch.float16 for v in state.values()):
        return path
    out = workdir / (path.stem.replace(".fp16", "") + ".fp32.pth")
    torch.save({k: v.float() if torch.is_tensor(v) and v.dtype == torch.float16 else v for k, v in state.items()}, out)
    return out


def bench_images(a: argparse.Namespace) -> None:
    from dotcli.metrics.extractors import INCEPTION, make_feature_extractor
    from dotcli.models.dcgan import load_random_dcgan_pair
    from dotcli.runner import pick_device

    device = pick_device(a.device)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="dotcli-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    write_fake_cifar10(work / "data", per_file=a.ref_per_file)
    weights = float32_weights(Path(a.inception).expanduser(), work) if a.inception else None
    common = ["dataset=cifar10", "model=random_dcgan32", f"model.ch={a.ch}", "method=dot", f"method.steps={a.steps}",
              "method.k_eff=1.0", f"n_samples={a.n}", f"batch_size={a.batch_size}", f"device={a.device}",
              f"paths.data={work / 'data'}", f"paths.cache={work / 'cache'}", "paths.allow_download=false",
              f"method.record_every={a.record_every}"]
    if weights is not None:
        common.append(f"metrics.inception_weights={weights}")
    print(f"workdir {work}; device {device}; {a.n} samples, DOT {a.steps} steps, width {a.ch}", flush=True)
    dot_run([*common, f"hydra.run.dir={work / 'warm'}", "n_samples=100"], work)  # fills the reference cache
    rec, wall = dot_run([*common, f"hydra.run.dir={work / 'run'}", "save_samples=true"], work)
    cost = rec["cost"]

    images = torch.from_numpy(np.load(work / "run" / "samples.npz")["x"]).permute(0, 3, 1, 2).contiguous()
    extractor = make_feature_extractor(INCEPTION, device=device, weights=str(weights) if weights else None,
                                       allow_download=False)
    fbs = int(rec["config"]["metrics"].get("feature_batch_size", 250))
    scored = 1 + (len(range(0, a.steps + 1, a.record_every)) - 1 if a.record_every else 0)

    def extract() -> None:
        for i in range(0, len(images), fbs):
            extractor(images[i:i + fbs])

    t_extract = best_of(extract, 1, device) * scored

    pair = load_random_dcgan_pair(_cfg(a.ch), "cifar10", None).to(device)
    z = torch.rand(a.batch_size, pair.z_dim, device=device) * 2 - 1

    def fwd_bwd() -> None:
        zz = z.clone().requires_grad_(True)
        pair.discriminate(pair.generate(zz)).sum().backward()

    floor = best_of(fwd_bwd, 5, device) * a.steps * (a.n // a.batch_size)
    startup = wall - cost["wall_s"]
    other = cost["wall_s"] - cost["sample_s"] - cost["eval_s"] - cost.get("setup_s", 0.0)
    print(f"process wall      {wall:8.2f} s")
    print(f"  start-up        {startup:8.2f} s   (process start -> run() and after it)")
    print_startup(rec)
    print(f"  setup (k_eff)   {cost.get('setup_s', 0.0):8.2f} s")
    print(f"  sampling        {cost['sample_s']:8.2f} s   floor {floor:.2f} s ({a.steps} x G+D fwd-bwd per batch)")
    print(f"  evaluation      {cost['eval_s']:8.2f} s   extractor alone {t_extract:.2f} s ({scored} scored output(s))")
    print(f"  other in-run    {other:8.2f} s   (model, extractor, reference stats, figures, record)")
    print(f"ratio evaluation / extractor   {cost['eval_s'] / t_extract:.2f}   (goal <= 1.15)")
    print(f"ratio sampling / floor         {cost['sample_s'] / floor:.2f}")


def _cfg(ch: int):
    from omegaconf import OmegaConf

    return OmegaConf.create({"name": "random_dcgan32", "ch": ch, "bottom_width": 4, "seed": 0, "d_output": "logit"})


def bench_toy(a: argparse.Namespace) -> None:
    from hydra import compose, initialize_config_module

    from dotcli.runner import load_pair

    work = Path(a.workdir or tempfile.mkdtemp(prefix="dotcli-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rec, wall = dot_run([f"hydra.run.dir={work / 'toy'}", "device=cpu"], work)
    with initialize_config_module("dotcli.configs", version_base=None):
        cfg = compose("run")
    pair = load_pair(cfg)
    n, steps, trials = cfg.n_samples, cfg.method.steps, cfg.trials
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))

    def fwd_bwd() -> None:
        xx = x.clone().requires_grad_(True)
        pair.discriminate(xx).sum().backward()

    floor = best_of(fwd_bwd, 20, torch.device("cpu")) * steps * trials
    cost = rec["cost"]
    print(f"default dot-run on {torch.get_num_threads()} threads: process wall {wall:.2f} s "
          f"(in-run {cost['wall_s']:.2f} s: setup {cost.get('setup_s', 0):.2f}, sampling {cost['sample_s']:.2f}, "
          f"evaluation {cost['eval_s']:.2f})")
    print_startup(rec)
    print(f"compute floor (D fwd+bwd, {trials} trials x {steps} steps x {n} samples): {floor:.2f} s")
    print(f"ratio process wall / floor {wall / floor:.2f}   (goal <= 1.3); in-run / floor {cost['wall_s'] / floor:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["images", "toy"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=None, help="samples (default 50000 on cuda, 1000 on cpu)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--record-every", type=int, default=0)
    ap.add_argument("--ch", type=int, default=None, help="model width (default 512 on cuda, 64 on cpu)")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--ref-per-file", type=int, default=2000, help="fake CIFAR-10 images per batch file (x6)")
    ap.add_argument("--inception", default=os.environ.get("DOTCLI_INCEPTION"),
                    help="Inception weights file (float16 copies are restored); default: torch-fidelity's")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    cuda = torch.cuda.is_available() and a.device in ("auto", "cuda")
    a.n = a.n or (50_000 if cuda else 1000)
    a.ch = a.ch or (512 if cuda else 64)
    a.batch_size = min(a.batch_size, a.n)
    bench_images(a) if a.what == "images" else bench_toy(a)


if __name__ == "__main__":
    main()
