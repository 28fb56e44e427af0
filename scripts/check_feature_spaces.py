"""Check and time the second feature spaces on random weights of the real architectures (nothing downloaded).

    python scripts/check_feature_spaces.py [--images 2] [--device cpu] [--dinov2-repo DIR]

* DINOv2 ViT-L/14 (``dotcli.metrics.dinov2``): builds the full 304 M-parameter network with random weights,
  times one batch of ``--images`` 224-px inputs; with ``--dinov2-repo`` (a checkout of
  facebookresearch/dinov2, e.g. ``git clone`` or an archive of it, never imported from the network), builds
  that repository's ``vit_large`` exactly as its ``hub/backbones.py`` does for ``dinov2_vitl14``, loads its
  random state dict into dotcli's network (strict) and prints the largest absolute difference of the outputs.
* CLIP ViT-B/32 (torch-fidelity's ``CLIPVisual``): random weights, times the same batch through dotcli's
  extractor path (``dotcli.metrics.clip.LocalCLIP``: resize, normalise, embed) from a plain state dict.

Prints one JSON object. The features of random networks mean nothing; shapes, equality and timings do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch


def _time(fn, *args) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    with torch.no_grad():
        out = fn(*args)
    if out.is_cuda:
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def check_dinov2(n: int, device: torch.device, repo: str | None) -> dict:
    from dotcli.metrics.dinov2 import ARCHITECTURES, NAME, DinoV2ViT, architecture_of

    torch.manual_seed(0)
    x = torch.randn(n, 3, 224, 224, device=device)
    out: dict = {"architecture": ARCHITECTURES[NAME]}
    if repo:
        os.environ["XFORMERS_DISABLED"] = "1"  # the repository's plain attention (no xFormers kernels)
        sys.path.insert(0, repo)
        from dinov2.models import vision_transformer as vits  # the user's checkout, not a download

        official = vits.vit_large(img_size=518, patch_size=14, init_values=1.0, ffn_layer="mlp", block_chunks=0,
                                  num_register_tokens=0, interpolate_antialias=False, interpolate_offset=0.1)
        with torch.no_grad():  # LayerScale and tokens away from their init values, so they matter
            for name, p in official.named_parameters():
                if "gamma" in name or "token" in name:
                    p.normal_(0, 0.5)
        state = official.state_dict()
        net = DinoV2ViT(**architecture_of(state))
        net.load_state_dict(state, strict=True)
        official = official.to(device).eval()
        ref, _ = _time(official, x)
        out["official_keys"] = len(state)
    else:
        net = DinoV2ViT(**ARCHITECTURES[NAME])
    net = net.to(device).eval()
    _time(net, x[:1])  # warm-up
    feats, seconds = _time(net, x)
    out.update({"parameters": sum(p.numel() for p in net.parameters()), "feature_shape": list(feats.shape),
                "finite": bool(torch.isfinite(feats).all()), "seconds_per_image": seconds / n})
    if repo:
        out["max_abs_diff_vs_official"] = float((feats - ref).abs().max())
        out["max_abs_output"] = float(ref.abs().max())
    return out


def check_clip(n: int, device: torch.device) -> dict:
    from torch_fidelity.feature_extractor_clip import CLIPVisual

    from dotcli.metrics import clip

    torch.manual_seed(0)
    visual = CLIPVisual(512, 224, 12, 768, 32).visual
    state = {f"visual.{k}": v for k, v in visual.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip-vit-b-32.pth"
        torch.save(state, path)
        ext = clip.LocalCLIP(clip.FIDELITY_NAME, ["clip"], feature_extractor_weights_path=str(path)).to(device)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, device=device)
    ext(images[:1])  # warm-up
    feats, seconds = _time(lambda u: ext(u)[0], images)
    return {"architecture": clip.architecture_of(state), "feature_shape": list(feats.shape),
            "finite": bool(torch.isfinite(feats).all()), "seconds_per_image": seconds / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dinov2-repo", default=None, help="a local checkout of facebookresearch/dinov2")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    result = {"device": str(device), "threads": torch.get_num_threads(), "images": args.images,
              "dinov2-vit-l-14": check_dinov2(args.images, device, args.dinov2_repo),
              "clip-vit-b-32": check_clip(args.images, device)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
