"""Small files that declare huge arrays: a 4 GB array of zeros in a few MB, as an .npz and as a ``torch.save`` zip.

The zeros are deflated once per 16 MiB chunk, each chunk ended with a full flush (so it references nothing before
it) and repeated: writing a 4 GB bomb takes the CRC's time (~2 s), not deflating 4 GB.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

CHUNK = 1 << 24


def _deflated_zeros(prefix: bytes, n_zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` then ``n_zeros`` zero bytes, and its CRC-32."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(prefix)
    zeros = bytes(CHUNK)
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = body.compress(zeros) + body.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(n_zeros, CHUNK)
    parts += [chunk] * full
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts.append(tail.compress(bytes(rest)) + tail.flush(zlib.Z_FINISH))
    return b"".join(parts), zlib.crc32(bytes(rest), crc)


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, bool]]) -> Path:
    """A zip of ``(name, data, crc, uncompressed size, deflated)`` members (sizes below 4 GiB: no zip64)."""
    out, central = io.BytesIO(), []
    for name, data, crc, size, deflated in members:
        method = 8 if deflated else 0
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0))
        out.write(raw + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data),
                                   size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    start = out.tell()
    cd = b"".join(central)
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), start, 0))
    path.write_bytes(out.getvalue())
    return path


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_bomb(path: Path, n_floats: int = (1 << 30) - 64, key: str = "l0/W", extra: dict | None = None) -> Path:
    """An .npz whose member ``key`` is ``n_floats`` float32 zeros (default just under 4 GiB), deflated."""
    header = npy_header((n_floats,))
    data, crc = _deflated_zeros(header, 4 * n_floats)
    members = [(f"{key}.npy", data, crc, len(header) + 4 * n_floats, True)]
    for name, array in (extra or {}).items():
        blob = npy_header(array.shape, array.dtype.str) + array.tobytes()
        members.append((f"{name}.npy", blob, zlib.crc32(blob), len(blob), False))
    return write_zip(path, members)


class _Storage:
    """Stands for a float storage of ``numel`` elements in the pickle (torch's persistent id)."""

    def __init__(self, numel: int) -> None:
        self.numel = numel


class _Tensor:
    def __init__(self, numel: int) -> None:
        self.storage = _Storage(numel)

    def __reduce__(self):
        import torch._utils

        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, (self.storage.numel,), (1,), False, OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        import torch

        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def pt_bomb(path: Path, n_floats: int = (1 << 30) - 64, stored: bool = False) -> Path:
    """A ``torch.save``-format zip ``{"G": {"w": <n_floats zeros>}}`` whose one storage is deflated (a hand-made
    file: torch stores storages uncompressed) or, with ``stored``, a small file whose zip directory declares it."""
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump({"G": {"w": _Tensor(n_floats)}, "D": {}})
    pkl = buf.getvalue()
    if stored:  # the directory declares n_floats * 4 bytes, the member holds 4 bytes
        storage = (b"\0" * 4, zlib.crc32(bytes(4 * n_floats)) if n_floats < 1 << 20 else 0, 4 * n_floats, False)
    else:
        data, crc = _deflated_zeros(b"", 4 * n_floats)
        storage = (data, crc, 4 * n_floats, True)
    return write_zip(path, [("archive/data.pkl", pkl, zlib.crc32(pkl), len(pkl), False),
                            ("archive/version", b"3\n", zlib.crc32(b"3\n"), 2, False),
                            ("archive/data/0", *storage)])
