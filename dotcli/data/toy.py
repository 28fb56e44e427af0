"""The paper's 2-D toy distributions (docs/protocol.md#toy-data; Gulrajani et al.'s toy data)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

GAUSSIAN_SCALE = 2.828  # the official code divides by this "stdev"
GAUSSIAN_STD = 0.05


def gaussian_means() -> torch.Tensor:
    """The 25 mode centres (2i, 2j) / 2.828 for i, j in -2..2, shape (25, 2)."""
    grid = torch.arange(-2, 3, dtype=torch.float32) * 2
    return torch.cartesian_prod(grid, grid) / GAUSSIAN_SCALE


class ToyDataset:
    """Base of the 2-D datasets: a name and ``sample(n, gen)``; metrics are in metrics/toy.py."""

    name = "toy"
    modes: torch.Tensor | None = None  # mode centres where the metric HQ/modes is defined
    mode_std: float | None = None

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class Gaussians25(ToyDataset):
    """25 Gaussians, std 0.05, on a 5x5 grid, all divided by 2.828.

    ``balanced_modes=True`` gives exactly n/25 points per mode, shuffled, as the official demo
    does (EMD moves by ~0.02 between that and modes drawn uniformly at random).
    """

    name = "gaussians25"

    def __init__(self, balanced_modes: bool = True) -> None:
        self.balanced_modes = balanced_modes
        self.modes = gaussian_means()
        self.mode_std = GAUSSIAN_STD / GAUSSIAN_SCALE

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.balanced_modes:
            idx = torch.arange(n) % 25
            idx = idx[torch.randperm(n, generator=gen)]
        else:
            idx = torch.randint(0, 25, (n,), generator=gen)
        noise = torch.randn(n, 2, generator=gen) * GAUSSIAN_STD / GAUSSIAN_SCALE
        return self.modes[idx] + noise

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "balanced_modes": self.balanced_modes}


class SwissRoll(ToyDataset):
    """sklearn ``make_swiss_roll(n, noise=0.25)``, columns 0 and 2, divided by 7.5."""

    name = "swissroll"

    def __init__(self, noise: float = 0.25) -> None:
        self.noise = noise

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        from sklearn.datasets import make_swiss_roll  # lazy: scikit-learn costs seconds to import

        data, _ = make_swiss_roll(n_samples=n, noise=self.noise, random_state=np.random.RandomState(seed))
        return torch.from_numpy(data[:, [0, 2]].astype(np.float32) / 7.5)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "noise": self.noise}
