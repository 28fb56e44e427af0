"""Figures (matplotlib, Agg backend: works headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def toy_figure(real: torch.Tensor, before: torch.Tensor | None, after: torch.Tensor, title: str,
               path: Path, lim: float = 2.0) -> None:
    """Data | G samples | output samples, with arrows from each G sample to its output (paper Fig. 2)."""
    panels = 3 if before is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.4), sharex=True, sharey=True)
    axes[0].scatter(real[:, 0], real[:, 1], s=4, alpha=0.5, color="gray")
    axes[0].set_title("data")
    if before is not None:
        axes[1].scatter(before[:, 0], before[:, 1], s=4, alpha=0.5, color="tab:blue")
        axes[1].set_title("G samples")
    ax = axes[-1]
    if before is not None and before.shape == after.shape:
        moved = (after - before).norm(dim=1) > 1e-6
        ax.scatter(before[:, 0], before[:, 1], s=3, alpha=0.25, color="tab:blue", label="before")
        if moved.any():
            d = after[moved] - before[moved]
            ax.quiver(before[moved, 0], before[moved, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy",
                      scale=1, width=0.002, alpha=0.35, color="gray")
        ax.scatter(after[:, 0], after[:, 1], s=4, alpha=0.6, color="tab:red", label="after")
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.scatter(after[:, 0], after[:, 1], s=4, alpha=0.6, color="tab:red")
    ax.set_title("output samples")
    for a in axes:
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
