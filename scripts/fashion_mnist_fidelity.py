"""Fashion-MNIST measurements of issue 8 (CPU): DOT ``anchor=fixed`` vs ``released`` and the two Inception conventions.

Prints one JSON object:

* ``latent_dist_mean`` / ``_max``: mean / max ||z_fixed - z_released|| over ``--latents`` latents (same start, same K),
  beside ``move_*_mean`` (how far each variant moved from the start);
* ``clf_fid_*``: classifier FID (``fmnist-classifier``) of G(z), DOT fixed, DOT released on those latents against the
  cached reference statistics of the training set;
* ``fid_tf_*`` / ``fid_chainer_*``: Inception FID of the first ``--inception`` of them against a fixed subset of
  ``--inception`` training images, under torch-fidelity's convention (``inception-v3-compat``: uint8, TF1 resize) and
  the Chainer one (``inception-chainer-compat``), same weights file (``--weights``, default: the ``dot-weights``
  file). FID here uses tr sqrt(S1 S2) = the nuclear norm of X Y^T / sqrt((n1 - 1)(n2 - 1)) (X, Y centred
  features), exact also when n < 2048; at small n the values are biased upward, compare rows of equal n only.

Usage: python scripts/fashion_mnist_fidelity.py [--latents 2000] [--inception 300] [--eps 0.003] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_module

import dotcli.resolvers  # noqa: F401  (the configs' resolvers)
from dotcli.components import build, load_pair
from dotcli.data.images import to_float255, to_uint8
from dotcli.metrics.extractors import make_feature_extractor
from dotcli.metrics.fidelity import fid_from_stats
from dotcli.metrics.reference_stats import reference_statistics
from dotcli.samplers.gradient import transport
from dotcli.samplers.keff import estimate_k_eff
from dotcli.weights import DEFAULT_OUT


def fid_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets; tr sqrt(S1 S2) from the singular values of X Y^T (exact for any n)."""
    x, y = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.svd(x @ y.T / np.sqrt((len(a) - 1) * (len(b) - 1)), compute_uv=False).sum()
    tr1, tr2 = (x * x).sum() / (len(a) - 1), (y * y).sum() / (len(b) - 1)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + tr1 + tr2 - 2 * cross)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latents", type=int, default=2000)
    ap.add_argument("--inception", type=int, default=300)
    ap.add_argument("--eps", type=float, default=0.003)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--weights", default=str(Path(DEFAULT_OUT).expanduser()))
    ap.add_argument("--cache", default="~/.cache/dotcli")
    args = ap.parse_args()
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        cfg = compose(config_name="run", overrides=[
            "dataset=fashion_mnist", "model=dotcli_sndcgan", "device=cpu", "paths.allow_download=false",
            f"dataset.data.reference_limit={args.inception}"])
    pair = load_pair(cfg)
    gen = torch.Generator().manual_seed(0)
    k = estimate_k_eff(pair, "latent", gen, 100, 1)
    z = pair.sample_z(args.latents, gen)
    out: dict = {"k_eff": k, "latents": args.latents, "inception_n": args.inception, "eps": args.eps,
                 "steps": args.steps}
    ends = {}
    for anchor in ("fixed", "released"):
        t = time.time()
        ends[anchor] = torch.cat([transport(pair, z[i:i + 500], space="latent", steps=args.steps, eps=args.eps,
                                            optimizer="sgd", k_eff=k, transport_weight=1.0, clip=(-1.0, 1.0),
                                            anchor=anchor)[0] for i in range(0, len(z), 500)])
        out[f"dot_{anchor}_s"] = round(time.time() - t, 1)
    dist = (ends["fixed"] - ends["released"]).norm(dim=1)
    out |= {"latent_dist_mean": dist.mean().item(), "latent_dist_max": dist.max().item(),
            "move_fixed_mean": (ends["fixed"] - z).norm(dim=1).mean().item(),
            "move_released_mean": (ends["released"] - z).norm(dim=1).mean().item()}
    print(json.dumps(out), flush=True)
    with torch.no_grad():
        images = {"none": pair.generate(z), "dot_fixed": pair.generate(ends["fixed"]),
                  "dot_released": pair.generate(ends["released"])}

    full = build({**cfg.dataset.data, "reference_limit": None}, "dataset")  # classifier: all 60k references
    clf = make_feature_extractor("fmnist-classifier")
    ref = reference_statistics(full, clf, args.cache)
    for name, x in images.items():
        f = clf(to_uint8(x)).pool.double().numpy()
        out[f"clf_fid_{name}"] = fid_from_stats(f.mean(0), np.cov(f, rowvar=False), ref.mu, ref.sigma)
    print(json.dumps(out), flush=True)

    subset = build(cfg.dataset.data, "dataset")
    ref_u8 = torch.cat(list(subset.reference_batches(100)))
    n = args.inception
    conventions = {"tf": ("inception-v3-compat", to_uint8), "chainer": ("inception-chainer-compat", to_float255)}
    feats: dict[str, np.ndarray] = {}
    order = [("tf", "ref"), ("tf", "none"), ("chainer", "ref"), ("chainer", "none"), ("tf", "dot_fixed"),
             ("tf", "dot_released"), ("chainer", "dot_fixed"), ("chainer", "dot_released")]
    extractors = {c: make_feature_extractor(name, weights=args.weights, allow_download=False)
                  for c, (name, _) in conventions.items()}
    for conv, what in order:
        x = ref_u8 if what == "ref" else conventions[conv][1](images[what][:n])
        feats[f"{conv}_{what}"] = torch.cat([extractors[conv](x[i:i + 50]).pool
                                             for i in range(0, len(x), 50)]).double().numpy()
        if what != "ref":
            out[f"fid_{conv}_{what}"] = fid_features(feats[f"{conv}_{what}"], feats[f"{conv}_ref"])
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    main()
