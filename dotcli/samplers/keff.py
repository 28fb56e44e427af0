"""k_eff: the effective Lipschitz constant of D that weighs the transport cost in DOT.

Paper, Sec. 3 ("k_eff"), and the official ``eff_K`` / ``eff_k``: the maximum over random pairs
of |D(a) - D(b)| / ||a - b||, the pairs drawn from the generator.
"""

from __future__ import annotations

import torch

from dotcli.models.pair import ModelPair


@torch.no_grad()
def _max_ratio(pair: ModelPair, space: str, n_pairs: int, gen: torch.Generator,
               y: torch.Tensor | None) -> float:
    z1, z2 = pair.sample_z(n_pairs, gen), pair.sample_z(n_pairs, gen)
    x1, x2 = pair.generate(z1, y), pair.generate(z2, y)
    num = (pair.discriminate(x1, y) - pair.discriminate(x2, y)).abs()
    if space == "latent":  # distance in z (official eff_k)
        den = (z1 - z2).flatten(1).norm(dim=1)
    else:  # distance in sample space (official eff_K)
        den = (x1 - x2).flatten(1).norm(dim=1)
    return (num / den.clamp_min(1e-12)).max().item()


def estimate_k_eff(pair: ModelPair, space: str, gen: torch.Generator, n_pairs: int = 100,
                   repeats: int = 1) -> float:
    """Mean over ``repeats`` of the max ratio over ``n_pairs`` pairs (2-D demo: 100 pairs, 10 repeats).

    ``space`` is ``"latent"`` (distances between latents) or ``"target"`` (between samples).
    For a conditional pair both members of a pair share one random label.
    """
    if space not in ("latent", "target"):
        raise ValueError(f"space must be 'latent' or 'target', got {space!r}")
    maxima = [_max_ratio(pair, space, n_pairs, gen, pair.sample_y(n_pairs, gen)) for _ in range(repeats)]
    return float(sum(maxima) / len(maxima))


def estimate_k_eff_per_class(pair: ModelPair, space: str, gen: torch.Generator,
                             n_pairs: int = 50, batch_classes: int = 20) -> torch.Tensor:
    """One k_eff per class from ``n_pairs`` same-class pairs (official conditional DOT).

    Returns a tensor of shape ``(n_classes,)`` on the pair's device.
    """
    ks = []
    for start in range(0, pair.n_classes, batch_classes):
        classes = torch.arange(start, min(start + batch_classes, pair.n_classes))
        y = classes.repeat_interleave(n_pairs).to(pair.device)
        with torch.no_grad():
            z1, z2 = pair.sample_z(len(y), gen), pair.sample_z(len(y), gen)
            x1, x2 = pair.generate(z1, y), pair.generate(z2, y)
            num = (pair.discriminate(x1, y) - pair.discriminate(x2, y)).abs()
            a, b = (z1, z2) if space == "latent" else (x1, x2)
            ratio = num / (a - b).flatten(1).norm(dim=1).clamp_min(1e-12)
        ks.append(ratio.view(len(classes), n_pairs).max(dim=1).values)
    return torch.cat(ks)


def local_gradient_norms(pair: ModelPair, space: str, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """||grad_x D(x)|| at x = G(z) (target space) or ||grad_z D(G(z))|| (latent space), one per sample."""
    if space == "latent":
        v = z.detach().requires_grad_(True)
        d = pair.discriminate(pair.generate(v, y), y)
    else:
        with torch.no_grad():
            x = pair.generate(z, y)
        v = x.requires_grad_(True)
        d = pair.discriminate(v, y)
    (grad,) = torch.autograd.grad(d.sum(), v)
    return grad.flatten(1).norm(dim=1).detach()


def estimate_k_eff_local(pair: ModelPair, space: str, gen: torch.Generator, n_samples: int, quantile: float,
                         batch_size: int = 1000) -> float:
    """Ours (docs/protocol.md#k-eff-local): the ``quantile`` of D's local gradient norms at ``n_samples``
    generator samples, the starting points of DOT (not the paper's secant max over pairs)."""
    norms = []
    for start in range(0, n_samples, batch_size):
        b = min(batch_size, n_samples - start)
        norms.append(local_gradient_norms(pair, space, pair.sample_z(b, gen), pair.sample_y(b, gen)))
    return torch.quantile(torch.cat(norms).double(), quantile).item()


def estimate_k_eff_local_per_class(pair: ModelPair, space: str, gen: torch.Generator, n_per_class: int,
                                   quantile: float, batch_classes: int = 20) -> torch.Tensor:
    """One local K per class (``n_per_class`` same-class samples each); shape ``(n_classes,)``."""
    ks = []
    for start in range(0, pair.n_classes, batch_classes):
        classes = torch.arange(start, min(start + batch_classes, pair.n_classes))
        y = classes.repeat_interleave(n_per_class).to(pair.device)
        norms = local_gradient_norms(pair, space, pair.sample_z(len(y), gen), y)
        ks.append(torch.quantile(norms.double().view(len(classes), n_per_class), quantile, dim=1).float())
    return torch.cat(ks)
