"""The restricted reader of NVIDIA network pickles: crafted hostile files are refused or inert, never run."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch

from dotcli import DotcliError
from dotcli.models.nvidia_pickle import (
    ALLOWED,
    PersistentObject,
    flat_state,
    read_legacy_storage,
    read_network_pickle,
)
from tests.models.nvidia_pickle_writer import Persistent, fixture_pickle, write_network_pickle
from tests.models.test_stylegan2_ada import load_fixture


class _OpenFile:
    """Unpickling this creates a file: the stand-in for any code a hostile pickle runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_allow_list_is_the_documented_one():
    assert {f"{m}.{n}" for m, n in ALLOWED} == {
        "torch_utils.persistence._reconstruct_persistent_obj", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch.storage._load_from_bytes", "collections.OrderedDict",
        "builtins.set", "dnnlib.util.EasyDict", "numpy.dtype", "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar"}


def test_os_system_global_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(path)
    assert "os.system" in _one_line(exc)
    assert not marker.exists()


def test_storage_bytes_that_torch_load_would_run_are_refused(tmp_path):
    marker, control = tmp_path / "marker", tmp_path / "control"
    payload = pickle.dumps(_OpenFile(str(marker)), protocol=2)
    pickle.loads(pickle.dumps(_OpenFile(str(control)), protocol=2))  # the payload is live when unpickled freely
    assert control.exists()

    class EvilStorage:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (payload,))

    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G": EvilStorage()}, f)
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(path)
    assert "builtins.open" in _one_line(exc) or "io.open" in str(exc.value)
    assert not marker.exists()
    with pytest.raises(DotcliError):  # the storage reader alone refuses it too
        read_legacy_storage(payload)
    assert not marker.exists()


def test_embedded_module_source_with_a_side_effect_is_kept_as_text(tmp_path):
    marker = tmp_path / "marker"
    src = f"open({str(marker)!r}, 'w').write('ran')\n"
    path = fixture_pickle(tmp_path / "net.pkl", load_fixture("cifar_cond_small"), module_src=src)
    data = read_network_pickle(path)
    assert not marker.exists()
    assert isinstance(data["G"], PersistentObject) and data["G"].module_src == src
    assert data["G"].class_name == "Generator"
    import hashlib

    assert data["D"].module_src_sha256 == hashlib.sha256(src.encode()).hexdigest()
    from dotcli.models.stylegan2_ada import read_networks

    nets = read_networks(path)  # the networks are dotcli's own: still nothing ran
    assert nets["module_src_sha256"] == [hashlib.sha256(src.encode()).hexdigest()]
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_legacy_storage_reader_matches_torch():
    for t in (torch.arange(5, dtype=torch.float32), torch.tensor([1, -2], dtype=torch.int64),
              torch.tensor([True, False])):
        buf = io.BytesIO()
        torch.save(t.storage(), buf, _use_new_zipfile_serialization=False)  # how Tensor.__reduce__ saves it
        assert torch.equal(read_legacy_storage(buf.getvalue()), t)
    buf = io.BytesIO()
    torch.save(torch.arange(4.0).storage(), buf, _use_new_zipfile_serialization=False)
    with pytest.raises(DotcliError, match="truncated"):
        read_legacy_storage(buf.getvalue()[:-3])


def test_real_format_round_trip(tmp_path):
    fx = load_fixture("cifar_uncond_small")
    data = read_network_pickle(fixture_pickle(tmp_path / "net.pkl", fx))
    state = flat_state(data["G_ema"])
    assert set(state) == set(fx["state"]["G_ema"])
    assert all(torch.equal(state[k], fx["state"]["G_ema"][k]) for k in state)
    assert data["training_set_kwargs"]["resolution"] == 32
    assert isinstance(data["G"].state["_modules"]["mapping"].state["_modules"]["fc0"].state["weight_gain"], float)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.pkl"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(path)
    assert str(path) in _one_line(exc)


def test_truncated_file_is_refused(tmp_path):
    path = fixture_pickle(tmp_path / "net.pkl", load_fixture("cifar_uncond_small"))
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(cut)
    assert "cut.pkl" in _one_line(exc)


def test_tensorflow_era_pickle_is_refused(tmp_path):
    path = tmp_path / "tf.pkl"
    # TF StyleGAN2 pickles are (G, D, Gs) of dnnlib.tflib.network.Network objects, built by NEWOBJ + BUILD
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02bh\x01h\x01\x87q\x03.")
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(path)
    assert "dnnlib.tflib.network.Network" in _one_line(exc) and "TensorFlow" in str(exc.value)


def test_stylegan3_pickle_is_refused(tmp_path):
    # StyleGAN3 networks hold numpy arrays (their filter design), pickled through multiarray._reconstruct
    state = {"_parameters": {}, "_buffers": {}, "_modules": {}, "_init_args": (), "_init_kwargs": {},
             "freqs": np.zeros(3)}
    path = write_network_pickle(tmp_path / "sg3.pkl", {"G": Persistent("SynthesisInput", state),
                                                         "D": None, "G_ema": None})
    with pytest.raises(DotcliError) as exc:
        read_network_pickle(path)
    assert "_reconstruct" in _one_line(exc) and "StyleGAN3" in str(exc.value)


def test_a_pickle_without_networks_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(DotcliError, match="expected a dict with networks G, D, G_ema"):
        read_network_pickle(path)
