"""Shared fixtures: small hand-made models, the author's 2-D checkpoints when they sit beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from dotcli.models.pair import ModelPair

ROOT = Path(__file__).resolve().parents[1]
AUTHOR_CHECKPOINTS = ROOT.parent / "shared" / "checkpoints" / "dot2d"

if "PYTEST_XDIST_WORKER" in os.environ:  # pytest -n N: N workers share the cores, so one torch thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # and each dot-run subprocess they start
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test sees the user's caches or checkpoint directory, and none can download."""
    monkeypatch.setenv("DOTCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DOTCLI_CHECKPOINTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture
def author_checkpoints() -> Path:
    if not (AUTHOR_CHECKPOINTS / "G_25gaussians_WGAN-GP.npz").is_file():
        pytest.skip(f"the author's 2-D checkpoints are not in {AUTHOR_CHECKPOINTS}")
    return AUTHOR_CHECKPOINTS


class Linear(nn.Module):
    """x -> x @ W.T + b, with fixed weights (a model whose gradients are known)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.float())
        self.bias = nn.Parameter(torch.zeros(weight.shape[0]) if bias is None else bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias


def linear_pair(g_weight: torch.Tensor, d_weight: torch.Tensor, prior: str = "uniform",
                sample_range: tuple[float, float] | None = None) -> ModelPair:
    """G(z) = A z, D(x) = w . x: DOT's objective and k_eff have closed forms."""
    return ModelPair(G=Linear(g_weight), D=Linear(d_weight.reshape(1, -1)), z_dim=g_weight.shape[1],
                     prior=prior, sample_range=sample_range, name="linear")


def env_without_cache() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DOTCLI_CHECKPOINTS"}


@pytest.fixture(scope="module")
def hydra_configs():
    """dotcli's config module initialised for Hydra's compose API (tests of the configs)."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="dotcli.configs", version_base="1.3"):
        yield
    GlobalHydra.instance().clear()
