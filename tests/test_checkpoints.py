"""Checkpoint look-up: a url without a sha256 is not downloaded unless the config says so explicitly."""

from __future__ import annotations

import pytest

from dotcli import DotcliError
from dotcli import checkpoints as ck


def test_url_without_sha256_is_refused_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "download", lambda *a: pytest.fail("downloaded an unverifiable file"))
    spec = {"name": "G.npz", "url": "https://example.invalid/G.npz", "sha256": None}
    with pytest.raises(DotcliError) as err:
        ck.resolve_checkpoint(spec, {"cache": str(tmp_path)})
    assert "has a url (https://example.invalid/G.npz) but no sha256" in str(err.value)
    assert "allow_unverified: true" in str(err.value)


def test_allow_unverified_downloads(tmp_path, monkeypatch):
    got = []
    monkeypatch.setattr(ck, "download", lambda url, dest, sha, **kw: got.append((url, dest, sha)) or dest)
    spec = {"name": "G.npz", "url": "https://example.invalid/G.npz", "allow_unverified": True}
    path = ck.resolve_checkpoint(spec, {"cache": str(tmp_path)})
    assert got == [("https://example.invalid/G.npz", tmp_path / "checkpoints" / "G.npz", None)] and path == got[0][1]


def test_a_local_file_without_sha256_is_used(tmp_path):
    (tmp_path / "G.npz").write_bytes(b"x")
    spec = {"name": "G.npz", "url": "https://example.invalid/G.npz"}
    assert ck.resolve_checkpoint(spec, {"checkpoints": str(tmp_path), "cache": str(tmp_path / "c")}) == \
        tmp_path / "G.npz"


def _served(tmp_path, data: bytes = b"network bytes") -> str:
    src = tmp_path / "served" / "net.pkl"
    src.parent.mkdir()
    src.write_bytes(data)
    return src.as_uri()  # file:// : urllib reads it like a download, no network


def test_unpublished_hash_is_recorded_on_first_download_and_checked_later(tmp_path, capsys):
    spec = {"name": "net.pkl", "url": _served(tmp_path), "sha256": None, "hash_published": False}
    paths = {"cache": str(tmp_path / "cache")}
    path = ck.resolve_checkpoint(spec, paths)
    assert path.read_bytes() == b"network bytes"
    record = ck.recorded_hash_path(path)
    assert record.read_text().split()[0] == ck.sha256_of(path)
    assert "downloading net.pkl" in capsys.readouterr().err  # progress on stderr
    assert ck.resolve_checkpoint(spec, paths) == path  # unchanged: used as it is
    path.write_bytes(b"another file")
    with pytest.raises(DotcliError, match="first download had"):
        ck.resolve_checkpoint(spec, paths)


def test_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(resp, out, name, chunk=1 << 20):
        out.write(resp.read(3))
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "_copy_with_progress", interrupted)
    spec = {"name": "net.pkl", "url": _served(tmp_path), "sha256": None, "hash_published": False}
    with pytest.raises(KeyboardInterrupt):
        ck.resolve_checkpoint(spec, {"cache": str(tmp_path / "cache")})
    assert list((tmp_path / "cache" / "checkpoints").iterdir()) == []


def test_url_spec_takes_the_file_name():
    assert ck.url_spec("https://host/a/b/cifar10.pkl")["name"] == "cifar10.pkl"
    with pytest.raises(DotcliError):
        ck.url_spec("https://host/")
