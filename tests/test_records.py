"""Records are written atomically and with the user's umask (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from dotcli.records import current_umask, write_json_atomic


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_write_json_atomic_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        path = write_json_atomic(tmp_path / "r.json", {"a": 1})
        plain = tmp_path / "plain"
        plain.write_text("x")  # what open() gives under this umask
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == '{\n  "a": 1\n}\n' and [p.name for p in tmp_path.iterdir()] != []
    assert not list(tmp_path.glob("*.tmp"))
