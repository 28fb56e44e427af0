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
    monkeypatch.setattr(ck, "download", lambda url, dest, sha: got.append((url, dest, sha)) or dest)
    spec = {"name": "G.npz", "url": "https://example.invalid/G.npz", "allow_unverified": True}
    path = ck.resolve_checkpoint(spec, {"cache": str(tmp_path)})
    assert got == [("https://example.invalid/G.npz", tmp_path / "checkpoints" / "G.npz", None)] and path == got[0][1]


def test_a_local_file_without_sha256_is_used(tmp_path):
    (tmp_path / "G.npz").write_bytes(b"x")
    spec = {"name": "G.npz", "url": "https://example.invalid/G.npz"}
    assert ck.resolve_checkpoint(spec, {"checkpoints": str(tmp_path), "cache": str(tmp_path / "c")}) == \
        tmp_path / "G.npz"
