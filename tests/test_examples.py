"""examples/ run as a user runs them (their main() in this process, small sizes: seconds on 2 cores)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_your_own_gan_trains_refines_and_scores(capsys):
    scores = load("your_own_gan").main(["--steps", "300", "--n", "200"])  # a fixed step count: the same GAN
    out = capsys.readouterr().out
    assert set(scores) == {"G(z)", "DOT"} and "DOT   HQ" in out
    for s in scores.values():
        assert set(s) == {"hq", "modes", "emd", "precision", "recall", "density", "coverage"}
        assert all(math.isfinite(v) for v in s.values())
    assert scores["DOT"]["hq"] > scores["G(z)"]["hq"] and scores["DOT"]["emd"] < scores["G(z)"]["emd"]


def test_refine_images_writes_a_grid_and_scores(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    args = ["--n", "16", "--steps", "2", "--out", str(grid)]
    if not FASHION_MNIST.is_dir():
        args.append("--no-score")
    scores = load("refine_images").main([*args, "dataset.data.reference_limit=500", "paths.allow_download=false"])
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "grid:" in capsys.readouterr().out
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"scores not checked: {FASHION_MNIST} is missing (make data)")
    assert set(scores) == {"G(z)", "DOT"} and all(math.isfinite(v) for v in scores["DOT"].values())
