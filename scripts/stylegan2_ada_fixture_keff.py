"""DOT's K (the paper's secant estimate and dotcli's local one) on the StyleGAN2-ADA test fixtures.

    PYTHONPATH=. python scripts/stylegan2_ada_fixture_keff.py

The fixtures are reduced-width networks with random (perturbed) weights made from the official code by
scripts/make_stylegan2_ada_fixtures.py; their K says how the estimators behave on this architecture (normal
prior in z, minibatch std, per-class K for the conditional file), not what a trained D gives.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dotcli.models.stylegan2_ada import load_stylegan2_ada_pair  # noqa: E402
from dotcli.samplers.keff import (  # noqa: E402
    estimate_k_eff,
    estimate_k_eff_local,
    estimate_k_eff_local_per_class,
    estimate_k_eff_per_class,
)
from tests.models.nvidia_pickle_writer import fixture_pickle  # noqa: E402
from tests.models.test_stylegan2_ada import load_fixture  # noqa: E402

FIXTURES = ("cifar_cond_small", "cifar_uncond_small", "paper_uncond_64px_small")


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name in FIXTURES:
            path = fixture_pickle(Path(tmp) / f"{name}.pkl", load_fixture(name))
            pair = load_stylegan2_ada_pair({"checkpoint": str(path)}, "none", {})  # noise_mode random
            gen = torch.Generator().manual_seed(0)
            if pair.n_classes:  # DOT_cond.py: one K per class from same-class pairs
                k = estimate_k_eff_per_class(pair, "latent", gen, n_pairs=100)
                kl = estimate_k_eff_local_per_class(pair, "latent", gen, n_per_class=32, quantile=0.9)
                print(f"{name}: secant K per class (100 pairs) min {k.min():.4f} mean {k.mean():.4f} "
                      f"max {k.max():.4f}; local K (q 0.9, 32 per class) min {kl.min():.4f} mean {kl.mean():.4f} "
                      f"max {kl.max():.4f}")
            else:
                k = estimate_k_eff(pair, "latent", gen, n_pairs=100)
                kl = estimate_k_eff_local(pair, "latent", gen, n_samples=320, quantile=0.9, batch_size=64)
                print(f"{name}: secant K (100 pairs) {k:.4f}; local K (q 0.9, 320 samples) {kl:.4f}")


if __name__ == "__main__":
    main()
