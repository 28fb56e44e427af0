"""Weights files that declare more than they should: refused in one line before anything is decompressed or
allocated, with the peak memory of the refusing process measured in a subprocess (its VmHWM on Linux, else
``resource.getrusage``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.models.loading import MAX_WEIGHTS_BYTES, expected_cap, load_torch_weights, read_chainer_npz
from dotcli.models.toy import ToyDiscriminator, ToyGenerator
from tests.models.bombs import npy_header, npz_bomb, pt_bomb, write_zip

REPO = Path(__file__).resolve().parents[2]
# Peak RSS the refusal may add to the interpreter with torch imported: nothing of the 4 GB is touched.
REFUSAL_RSS_MB = 100


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """A ~4 MB .npz and a ~4 MB .pt, each declaring one array of ~4 GB of zeros (both valid files)."""
    d = tmp_path_factory.mktemp("bombs")
    return {"npz": npz_bomb(d / "bomb.npz"), "pt": pt_bomb(d / "bomb.pt")}


def _refuse_in_subprocess(reader: str, path: Path) -> dict:
    """Call ``reader(path)`` in a fresh interpreter; its error and its peak RSS before and after, in MB."""
    code = textwrap.dedent(f"""
        import json, resource, sys
        import torch  # noqa: F401  (the baseline includes torch, as in dot-run)
        from dotcli import DotcliError
        from dotcli.models.loading import load_torch_weights, read_chainer_npz

        def peak_mb():
            # this process's own high-water mark: VmHWM starts afresh at exec, while getrusage's ru_maxrss
            # keeps the parent's (pytest's) peak across fork + exec; getrusage where /proc is absent
            try:
                for line in open("/proc/self/status"):
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
            except OSError:
                pass
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        before = peak_mb()
        try:
            {reader}(sys.argv[1])
            error = None
        except DotcliError as exc:
            error = str(exc)
        after = peak_mb()
        print(json.dumps({{"error": error, "before": before, "after": after}}))
        """)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind,reader", [("npz", "read_chainer_npz"), ("pt", "load_torch_weights")])
def test_a_4gb_bomb_in_4mb_is_refused_with_bounded_memory(bombs, kind, reader):
    path = bombs[kind]
    assert path.stat().st_size < 5 << 20
    got = _refuse_in_subprocess(reader, path)
    assert got["error"] is not None and "\n" not in got["error"], got
    assert str(path) in got["error"] and "decompression bomb" in got["error"] and "4.00 GiB" in got["error"]
    assert got["after"] - got["before"] < REFUSAL_RSS_MB, got
    assert got["after"] < 800, got  # the whole process, torch included


def test_npz_array_over_the_models_size_is_refused_before_reading(tmp_path):
    """Not a bomb (stored, not compressed) but 8 MB where the toy D needs ~2 MB: the model's cap refuses it."""
    net = ToyDiscriminator()
    big = np.zeros(2 << 20, np.float32)
    np.savez(tmp_path / "big.npz", **{"l0/W": big})
    with pytest.raises(DotcliError) as err:
        read_chainer_npz(tmp_path / "big.npz", max_bytes=expected_cap(net))
    msg = str(err.value)
    assert "8.0 MiB" in msg and "this model's weights can take" in msg and "\n" not in msg
    assert read_chainer_npz(tmp_path / "big.npz")["l0.weight"].shape == (2 << 20,)  # the default cap takes it


def test_npz_whose_npy_header_claims_more_than_the_zip_says_is_refused(tmp_path):
    """The zip directory declares 200 bytes; the .npy header inside declares 1 GiB: the header is believed."""
    header = npy_header((1 << 28,))
    blob = header + bytes(200 - len(header))
    import zlib

    write_zip(tmp_path / "liar.npz", [("l0/W.npy", blob, zlib.crc32(blob), len(blob), False)])
    with pytest.raises(DotcliError, match=r"declares 1.00 GiB of arrays \('l0/W.npy'"):
        read_chainer_npz(tmp_path / "liar.npz")


def test_npz_with_a_shape_that_multiplies_out_huge_is_refused(tmp_path):
    """A 2-D header whose product (not any one dimension) is huge, beside real arrays."""
    header = npy_header((1 << 20, 1 << 20))
    import zlib

    write_zip(tmp_path / "wide.npz", [("l0/W.npy", header, zlib.crc32(header), len(header), False)])
    with pytest.raises(DotcliError, match="4096.00 GiB"):
        read_chainer_npz(tmp_path / "wide.npz")


def test_pt_whose_zip_directory_declares_4gb_in_a_small_file_is_refused(tmp_path):
    path = pt_bomb(tmp_path / "stored.pt", stored=True)
    assert path.stat().st_size < 4096
    with pytest.raises(DotcliError, match="decompression bomb"):
        load_torch_weights(path)


def test_a_real_torch_file_over_the_models_cap_is_refused_and_one_within_loads(tmp_path):
    G, D = ToyGenerator(), ToyDiscriminator()
    torch.save({"G": G.state_dict(), "D": D.state_dict()}, tmp_path / "ok.pt")
    assert set(load_torch_weights(tmp_path / "ok.pt", max_bytes=expected_cap(G, D))) == {"G", "D"}
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "junk": torch.zeros(4 << 20)}, tmp_path / "fat.pt")
    with pytest.raises(DotcliError, match=r"fat.pt is refused: it declares 1[78]\.\d MiB"):
        load_torch_weights(tmp_path / "fat.pt", max_bytes=expected_cap(G, D))
    assert MAX_WEIGHTS_BYTES > expected_cap(G, D)


def test_dot_run_with_a_bomb_checkpoint_is_one_line_exit_2(bombs, tmp_path):
    """Through the CLI: ``model=custom`` with the toy nets and the .npz bomb as G's weights."""
    from tests.inprocess import dot_run_in_process

    out = dot_run_in_process(
        "model=custom", "model.G._target_=dotcli.models.toy.ToyGenerator",
        "model.D._target_=dotcli.models.toy.ToyDiscriminator", "model.z_dim=2", "model.prior=uniform",
        f"model.checkpoint={{G: {bombs['npz']}, D: {bombs['pt']}}}", "n_samples=10", "trials=1",
        f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("dot-run: error: ") and "bomb.npz is refused" in lines[0]
