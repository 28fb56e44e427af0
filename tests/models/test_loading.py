"""Weight files that are corrupted, not what they claim, or would run code: one line with the real cause."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.models.loading import load_torch_weights, read_chainer_npz


class RunsCode:
    """Unpickling this calls os.system: it would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_chainer_npz_reads_and_renames(tmp_path):
    np.savez(tmp_path / "ok.npz", **{"l0/W": np.ones((3, 2), np.float32), "l0/b": np.zeros(3, np.float32),
                                     "bn/N": np.zeros(1)})
    state = read_chainer_npz(tmp_path / "ok.npz")
    assert set(state) == {"l0.weight", "l0.bias"} and state["l0.weight"].shape == (3, 2)


def test_chainer_npz_with_bad_crc_is_one_line_naming_the_file(tmp_path):
    np.savez(tmp_path / "ok.npz", **{"l0/W": np.ones((256, 2), np.float32)})
    blob = bytearray((tmp_path / "ok.npz").read_bytes())
    at = blob.index(b"\x00\x00\x80?")  # a float32 1.0 inside the stored array
    blob[at + 2] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(blob))
    with pytest.raises(DotcliError) as err:
        read_chainer_npz(tmp_path / "bad.npz")
    msg = str(err.value)
    assert msg.startswith(f"cannot read Chainer npz {tmp_path / 'bad.npz'}") and "CRC" in msg and "\n" not in msg


def test_npz_with_object_array_is_refused_unpickled(tmp_path):
    marker = tmp_path / "MARKER"
    np.savez(tmp_path / "obj.npz", **{"l0/W": np.array([RunsCode(marker)], dtype=object)})
    with pytest.raises(DotcliError) as err:
        read_chainer_npz(tmp_path / "obj.npz")
    assert "holds pickled Python objects (array 'l0/W') and is refused" in str(err.value)
    assert not marker.exists()


def test_not_an_npz(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"hello" * 10)
    with pytest.raises(DotcliError, match="is not an .npz file"):
        read_chainer_npz(tmp_path / "x.npz")


def test_random_bytes_pt_is_not_a_torch_checkpoint(tmp_path):
    (tmp_path / "rand.pt").write_bytes(b"this is not a checkpoint\n" * 40)
    with pytest.raises(DotcliError) as err:
        load_torch_weights(tmp_path / "rand.pt")
    msg = str(err.value)
    assert "not a torch checkpoint" in msg and "weights_only" not in msg and "\n" not in msg


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_crafted_pt_names_the_refused_global_and_runs_nothing(tmp_path, fmt):
    marker, path = tmp_path / "MARKER", tmp_path / "evil.pt"
    if fmt == "zip":
        torch.save({"G": RunsCode(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"G": RunsCode(marker)}, protocol=2))
    with pytest.raises(DotcliError) as err:
        load_torch_weights(path)
    msg = str(err.value)
    assert f"refuses to unpickle {os.system.__module__}.system" in msg
    assert "weights_only" not in msg and "False" not in msg and "\n" not in msg
    assert not marker.exists()


def test_weights_only_file_loads(tmp_path):
    torch.save({"G": {"w": torch.ones(2)}}, tmp_path / "ok.pt")
    assert torch.equal(load_torch_weights(tmp_path / "ok.pt")["G"]["w"], torch.ones(2))
