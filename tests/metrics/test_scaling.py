"""Big requests (issue 23, item 3): what grows faster than linearly either scales (KID's kernels, summed in
blocks) or is refused before a run starts (the toys' exact EMD, n x n), and a long run says how long."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.metrics import fidelity
from dotcli.metrics.toy import EMD_MAX_POINTS, emd, emd_request_error
from tests.inprocess import dot_run_in_process


@pytest.mark.parametrize("n,gib", [(100_000, "74.5 GiB"), (EMD_MAX_POINTS + 1, "0.7 GiB"), (50_000, "18.6 GiB")])
def test_emd_above_its_limit_is_refused_naming_the_limit_and_the_key(n, gib):
    msg = emd_request_error(n)
    assert msg.startswith(f"n_samples={n} is more than the toy evaluation's exact EMD takes (at most "
                          f"{EMD_MAX_POINTS} points per trial: its {n} x {n} cost matrix alone is {gib}")
    assert "lower n_samples" in msg
    t0 = time.perf_counter()
    with pytest.raises(DotcliError, match="exact EMD takes"):
        emd(torch.zeros(n, 2), torch.zeros(n, 2))
    assert time.perf_counter() - t0 < 5  # refused before the cost matrix


@pytest.mark.parametrize("n", [2, 1000, EMD_MAX_POINTS])
def test_emd_at_or_below_its_limit_is_allowed(n):
    assert emd_request_error(n) is None


@pytest.mark.parametrize("args", [("n_samples=100000",), ("dataset=swissroll", "n_samples=20000", "trials=1")])
def test_dot_run_refuses_a_huge_toy_run_before_sampling(tmp_path, args):
    t0 = time.perf_counter()
    out = dot_run_in_process(*args, "hydra.run.dir=run", cwd=tmp_path)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("dot-run: error: n_samples=") and "exact EMD takes" in lines[0]
    assert not (tmp_path / "run" / "samples.png").exists() and not (tmp_path / "run" / "result.json").exists()
    assert "expected duration" not in (tmp_path / "run" / "dot-run.log").read_text()  # nothing was sampled
    assert time.perf_counter() - t0 < 60


def _kid_direct(a, b, subsets, size, seed=0):
    """KID with each subset's full m x m kernels (the formula, unblocked), as the reference."""
    rng = np.random.RandomState(seed)
    g = 1.0 / a.shape[1]
    out = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((x @ x.T * g + 1) ** 3), ((y @ y.T * g + 1) ** 3), ((x @ y.T * g + 1) ** 3)
        m = size
        out.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2)
    return float(np.mean(out)), float(np.std(out))


@pytest.mark.parametrize("block", [1 << 24, 4096, 37])
def test_kid_in_blocks_is_the_same_number(monkeypatch, block):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(0.3, 1.0, size=(500, 16))
    monkeypatch.setattr(fidelity, "KID_BLOCK_ELEMENTS", block)
    mean, std = fidelity.kid(a, b, subsets=5, subset_size=300, seed=0)
    ref_mean, ref_std = _kid_direct(a, b, 5, 300)
    assert mean == pytest.approx(ref_mean, rel=1e-10, abs=1e-12) and std == pytest.approx(ref_std, rel=1e-8)


def test_kid_memory_is_a_block_not_m_squared(monkeypatch):
    """m = 3000: one m x m float64 kernel is 72 MB; with 2 MB blocks the peak stays a few blocks."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3000, 8)), rng.normal(size=(3000, 8))
    monkeypatch.setattr(fidelity, "KID_BLOCK_ELEMENTS", 1 << 18)
    tracemalloc.start()
    try:
        fidelity.kid(a, b, subsets=1, subset_size=3000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


def test_a_run_logs_its_expected_duration_and_a_long_one_says_so(tmp_path, monkeypatch):
    import dotcli.runner

    out = dot_run_in_process("method=none", "trials=2", "n_samples=40", "batch_size=20", "hydra.run.dir=short",
                             cwd=tmp_path)
    assert out.returncode == 0 and "note" not in out.stderr, out.stderr
    log = (tmp_path / "short" / "dot-run.log").read_text()
    assert "expected duration: about" in log and "4 batches of 20" in log and "trial 1 of 2 done after" in log
    monkeypatch.setattr(dotcli.runner, "LONG_RUN_S", 0.0)
    out = dot_run_in_process("method=none", "trials=1", "n_samples=40", "hydra.run.dir=long", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "dot-run: note: this run is long: expected duration: about" in out.stderr
