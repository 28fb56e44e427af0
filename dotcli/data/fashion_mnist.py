"""Fashion-MNIST (Xiao et al. 2017): 70k grey 28x28 images, read from the original IDX files.

Where the files are looked for, in order:

1. ``debian_dir`` (default ``/usr/share/datasets/fashion-mnist``): Debian's ``dataset-fashion-mnist``
   package (``apt-get install dataset-fashion-mnist``) ships the four original ``*-idx?-ubyte.gz`` files there;
2. ``root`` (``paths.data``), directly or in torchvision's layout ``FashionMNIST/raw/`` (gzipped or not);
3. a torchvision download into ``root`` (``torchvision.datasets.FashionMNIST(download=True)``, md5-checked),
   only when ``download`` (``paths.allow_download``) is true.

How the images meet the 32px models and the 3-channel feature extractors (the ``transform`` recorded in
every record and in the reference-statistics cache key):

* **pad, not resize**: each 28x28 image gets 2 zero (black, the Fashion-MNIST background) pixels on every
  side, giving 32x32. Padding keeps every pixel value exact (no interpolation), so the real images stay
  on the 256 uint8 levels a generator's quantised output lives on.
* **grey -> RGB by repetition**: the grey channel is repeated three times. Models see the same
  ``(n, 3, 32, 32)`` images in [-1, 1] (``sample``) that the extractors see as uint8.

Splits: ``reference_set`` ``train`` (60k, default: what the GAN was trained on) or ``train+test`` (70k);
the held-out split for ``sample`` (DRS calibration) is ``test`` (10k).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dotcli import DotcliError
from dotcli.data.images import ImageData, ImageSource

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
PAD = 2  # 28 + 2 * 2 = 32
# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); data is big-endian
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not: recognised by the gzip magic bytes) into a native-endian array.

    Header: two zero bytes, a type code (``IDX_DTYPES``), the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes; the data follows, big-endian, C order. Raises :class:`DotcliError` on a bad
    magic number, an unknown type code, or a data size that does not match the header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DotcliError(f"cannot read IDX file {path} ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DotcliError(f"{path} is not an IDX file (the first two bytes are not zero)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise DotcliError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DotcliError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DotcliError(f"{path}: IDX header says {shape} x {dtype.itemsize} bytes = {expected} bytes of data, "
                          f"the file has {len(raw) - header}: truncated or corrupted")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def grey_to_rgb32(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(n, 28, 28)`` -> uint8 ``(n, 3, 32, 32)``: zero-pad 2 px per side, repeat the grey channel."""
    x = torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8 or x.ndim != 3:
        raise DotcliError(f"grey_to_rgb32 takes uint8 (n, h, w) images, got {x.dtype} {tuple(x.shape)}")
    x = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    return x.unsqueeze(1).repeat(1, 3, 1, 1).contiguous()


class GreySource(ImageSource):
    """Grey uint8 arrays ``(n, 28, 28)``, concatenated, served as padded RGB ``(n, 3, 32, 32)``."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.images = np.concatenate(list(arrays)) if len(arrays) > 1 else arrays[0]

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx: np.ndarray) -> torch.Tensor:
        return grey_to_rgb32(self.images[np.asarray(idx, dtype=np.int64)])


class FashionMnist(ImageData):
    """Fashion-MNIST as 32x32 RGB (see the module docstring for where files come from and the transform)."""

    name = "fashion_mnist"
    image_size = 32
    channels = 1  # grey: generators trained on it may be 1-channel (dotcli.models.sndcgan)
    transform = "zero-pad 28->32 (2 px per side), grey repeated to 3 channels"
    REFERENCE_SETS = {"train": ("train",), "train+test": ("train", "test")}

    def __init__(self, root: str | os.PathLike, download: bool = False, reference_set: str = "train",
                 reference_limit: int | None = None, debian_dir: str | None = DEBIAN_DIR) -> None:
        super().__init__(root, download, reference_set, "test", reference_limit)
        self.debian_dir = Path(debian_dir) if debian_dir else None
        self._images: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}

    # -- finding the files
    def candidate_dirs(self) -> list[Path]:
        """Directories searched in order: Debian's, ``root``, torchvision's ``root/FashionMNIST/raw``."""
        dirs = [self.debian_dir] if self.debian_dir else []
        return dirs + [self.root, self.root / "FashionMNIST" / "raw"]

    def _find(self, stem: str) -> Path | None:
        for d in self.candidate_dirs():
            for name in (stem + ".gz", stem):
                if (d / name).is_file():
                    return d / name
        return None

    def file(self, stem: str) -> Path:
        """The path of one IDX file (``stem`` without ``.gz``), downloading the set when allowed."""
        path = self._find(stem)
        if path is None and self.download:
            self._download()
            path = self._find(stem)
        if path is None:
            looked = ", ".join(str(d) for d in self.candidate_dirs())
            raise DotcliError(f"{self.name}: {stem}[.gz] not found (looked in {looked}); install Debian's "
                              "dataset-fashion-mnist (apt-get install dataset-fashion-mnist), put the IDX files "
                              "in paths.data / $DOTCLI_DATA, or set paths.allow_download=true")
        return path

    def _download(self) -> None:
        """torchvision's FashionMNIST download (md5-checked) into ``root/FashionMNIST/raw``."""
        from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

        try:
            for train in (True, False):
                TorchvisionFashionMNIST(str(self.root), train=train, download=True)
        except Exception as exc:
            raise DotcliError(f"could not download Fashion-MNIST into {self.root} ({exc}); install Debian's "
                              "dataset-fashion-mnist or put the IDX files in paths.data") from exc

    # -- arrays
    def images(self, split: str) -> np.ndarray:
        """uint8 ``(n, 28, 28)`` images of ``train`` or ``test``."""
        if split not in self._images:
            arr = read_idx(self.file(FILES[split][0]))
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != (28, 28):
                raise DotcliError(f"{self.name}: {FILES[split][0]} holds {arr.dtype} {arr.shape}, "
                                  "expected uint8 (n, 28, 28)")
            self._images[split] = arr
        return self._images[split]

    def labels(self, split: str) -> np.ndarray:
        """int64 class labels ``(n,)`` of ``train`` or ``test`` (0 T-shirt ... 9 ankle boot)."""
        if split not in self._labels:
            self._labels[split] = read_idx(self.file(FILES[split][1])).astype(np.int64)
        return self._labels[split]

    def _open_reference(self) -> ImageSource:
        return GreySource([self.images(s) for s in self.REFERENCE_SETS[self.reference_set]])

    def _open_heldout(self) -> ImageSource:
        return GreySource([self.images("test")])

    def _data_fingerprint(self) -> str:
        # stems and image counts: the same data gzipped (Debian) or not (torchvision) gives the same key
        h = hashlib.sha256()
        for split in self.REFERENCE_SETS[self.reference_set]:
            h.update(f"{FILES[split][0]}\t{self.images(split).shape}\n".encode())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        found = self._find(FILES["train"][0])
        out["files"] = str(found.parent) if found else None
        return out

