"""Image datasets: CIFAR-10 (32px), STL-10 (48px), ImageNet (128px) and any image folder.

Each dataset gives the runner ``sample(n, gen)`` (float images in [-1, 1] on the CPU from a held-out
split, for DRS calibration) and gives the image evaluation the reference set for FID/KID as uint8 batches
(``reference_batches``) with ``reference_identity()`` for the statistics cache. Nothing is read at
construction: files are opened on first use, so a run with ``metrics=none`` needs no data at all.

Files live under ``root`` (``paths.data``) in torchvision's layout (``cifar-10-batches-py/``,
``stl10_binary/``) and are downloaded with torchvision's ``download_and_extract_archive`` (archive md5
checked) only when ``download`` (``paths.allow_download``) is true.

Image convention: generator output x in [-1, 1] becomes uint8 as ``round((x + 1) * 127.5)`` clamped to
[0, 255] (``to_uint8``), the rounding torchvision's ``save_image`` does (``x * 255 + 0.5`` then truncate), so
scoring in memory equals scoring the saved PNGs; ``from_uint8`` is its inverse, u / 127.5 - 1.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dotcli import DotcliError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's
SUBSET_SEED = 0  # fixed permutation for reference_limit subsets (part of the cache key)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 by rounding ``(x + 1) * 127.5`` (ties to even) and clamping to [0, 255]."""
    return ((x.detach().float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def to_float255(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> float32 in [0, 255], not rounded: ``clip(x * 127.5 + 127.5, 0, 255)`` (DOT
    ``execute_dot.py`` ``calc_scores``, the input of the paper's Chainer Inception)."""
    return (x.detach().float() * 127.5 + 127.5).clamp(0, 255)


def from_uint8(u: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [-1, 1] (the inverse of :func:`to_uint8` on the 256 levels)."""
    return u.float() / 127.5 - 1.0


def pool2x2(u: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling of uint8 images ``(n, c, h, w)``, rounded half up: ``(a+b+c+d+2) // 4``.

    The DOT paper reduces STL-10's 96px images to 48px by 2x2 average pooling (docs/protocol.md#reference-sets);
    its TF metric took the float mean directly, the uint8 Inception input here needs the rounding
    (at most 0.5/255 away).
    """
    n, c, h, w = u.shape
    s = u.to(torch.int32).view(n, c, h // 2, 2, w // 2, 2).sum(dim=(3, 5))
    return torch.div(s + 2, 4, rounding_mode="floor").to(torch.uint8)


def _download_archive(url: str, root: Path, filename: str, md5: str) -> None:
    """torchvision's download + md5 check + extraction into ``root`` (separate so tests can replace it)."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(url, str(root), filename=filename, md5=md5)
    except Exception as exc:
        raise DotcliError(f"could not download {url} into {root} ({exc}); download and extract it by hand "
                          "there, or point paths.data / $DOTCLI_DATA at a copy") from exc


def _fingerprint(files: Sequence[Path], base: Path) -> str:
    """A cheap content fingerprint: sorted relative names and sizes (the reference cache key uses it)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(base).as_posix()}\t{f.stat().st_size}\n".encode())
    return h.hexdigest()


class RefusedPickle(pickle.UnpicklingError):
    """A data pickle names a global that its format never holds."""


def _numpy_multiarray(name: str) -> Any:
    """``_reconstruct`` / ``scalar`` (how pickled arrays and numpy scalars are rebuilt), numpy 2 or 1."""
    import importlib

    try:
        return getattr(importlib.import_module("numpy._core.multiarray"), name)
    except ImportError:  # numpy 1.x
        return getattr(importlib.import_module("numpy.core.multiarray"), name)


class CifarUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR batch holds and nothing else: dicts, lists, strings, bytes and ints are
    built in; the only globals allowed are the ones a pickled numpy array or scalar references (numpy 1's
    and numpy 2's names) and ``_codecs.encode`` (how Python 3 pickles bytes in protocol 2)."""

    ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
    ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise RefusedPickle(f"it would unpickle {module}.{name}")
        if name in ("_reconstruct", "scalar"):
            return _numpy_multiarray(name)
        if module == "numpy":
            return getattr(np, name)
        import codecs

        return codecs.encode


# ---------------------------------------------------------------- sources: indexable uint8 image sets


class ImageSource(ABC):
    """An indexable set of uint8 images ``(3, S, S)``."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def get(self, idx: np.ndarray) -> torch.Tensor:
        """Images at ``idx`` as a uint8 tensor ``(len(idx), 3, S, S)``."""

    def batches(self, idx: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(idx), batch_size):
            yield self.get(idx[start:start + batch_size])


class ArraySource(ImageSource):
    """uint8 arrays ``(n, 3, h, w)`` (in memory or memory-mapped), concatenated; optional 2x2 pooling.

    ``column_major``: STL-10's binary files store each channel transposed (torchvision transposes too).
    """

    def __init__(self, arrays: list[np.ndarray], pool: bool = False, column_major: bool = False) -> None:
        self.arrays, self.pool, self.column_major = arrays, pool, column_major
        self.offsets = np.cumsum([0] + [len(a) for a in arrays])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def get(self, idx: np.ndarray) -> torch.Tensor:
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")  # read each array in ascending order (memmap friendly)
        out = [None] * len(idx)
        which = np.searchsorted(self.offsets, idx[order], side="right") - 1
        for part in np.unique(which):
            sel = order[which == part]
            chunk = np.asarray(self.arrays[part][idx[sel] - self.offsets[part]])
            for j, s in enumerate(sel):
                out[s] = chunk[j]
        x = torch.from_numpy(np.stack(out)) if out else torch.empty(0, 3, 0, 0, dtype=torch.uint8)
        if self.column_major:
            x = x.transpose(2, 3)
        x = x.contiguous()
        return pool2x2(x) if self.pool else x


class FileSource(ImageSource):
    """Image files, each resized (shorter side to ``size``, bilinear with antialias) and centre-cropped."""

    def __init__(self, files: list[Path], size: int, num_workers: int = 0) -> None:
        self.files, self.size, self.num_workers = files, size, num_workers

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms import functional as tf

        try:
            with Image.open(self.files[i]) as img:
                img = img.convert("RGB")
                img = tf.center_crop(tf.resize(img, self.size, antialias=True), self.size)
                return tf.pil_to_tensor(img)
        except OSError as exc:
            raise DotcliError(f"cannot read image {self.files[i]} ({exc})") from exc

    def get(self, idx: np.ndarray) -> torch.Tensor:
        return torch.stack([self.load(int(i)) for i in idx])

    def batches(self, idx: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
        if self.num_workers <= 0:
            yield from super().batches(idx, batch_size)
            return
        from torch.utils.data import DataLoader

        # JPEG decoding dominates ImageNet reference statistics: decode in worker processes
        loader = DataLoader(_Indexed(self, idx), batch_size=batch_size, num_workers=self.num_workers)
        yield from loader


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, source: FileSource, idx: np.ndarray) -> None:
        self.source, self.idx = source, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.source.load(int(self.idx[i]))


def list_images(folder: Path) -> list[Path]:
    """All image files under ``folder`` (recursive: flat folders and ImageFolder class folders), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())


# ---------------------------------------------------------------- datasets


class ImageData(ABC):
    """Base of the image datasets (see the module docstring); subclasses say where their images are."""

    name = "images"
    kind = "image"
    image_size = 0
    #: how reference images become ``image_size`` uint8 images (recorded and part of the cache key)
    transform = "none"
    #: named reference sets of datasets that have several (checked here, once for all subclasses)
    REFERENCE_SETS: dict[str, Any] = {}

    def __init__(self, root: str | os.PathLike, download: bool = False, reference_set: str = "",
                 heldout_split: str = "", reference_limit: int | None = None) -> None:
        if self.REFERENCE_SETS and reference_set not in self.REFERENCE_SETS:
            raise DotcliError(f"{self.name}: reference_set={reference_set!r} is not one of "
                              f"{', '.join(self.REFERENCE_SETS)}")
        self.root = Path(str(root)).expanduser()
        self.download = bool(download)
        self.reference_set, self.heldout_split = reference_set, heldout_split
        if reference_limit is not None and int(reference_limit) < 2:
            raise DotcliError(f"reference_limit={reference_limit} must be null or an integer >= 2")
        self.reference_limit = None if reference_limit is None else int(reference_limit)
        self._reference: ImageSource | None = None
        self._heldout: ImageSource | None = None
        self._reference_idx: np.ndarray | None = None

    # -- what subclasses provide
    @abstractmethod
    def _open_reference(self) -> ImageSource: ...

    @abstractmethod
    def _open_heldout(self) -> ImageSource: ...

    @abstractmethod
    def _data_fingerprint(self) -> str:
        """Fingerprint of the reference files (names and sizes), for the cache key."""

    # -- lazily opened sources
    def reference(self) -> ImageSource:
        if self._reference is None:
            self._reference = self._open_reference()
        return self._reference

    def heldout(self) -> ImageSource:
        if self._heldout is None:
            self._heldout = self._open_heldout()
        return self._heldout

    def reference_indices(self) -> np.ndarray:
        """The reference images used: all, or a fixed random subset of ``reference_limit`` (sorted)."""
        if self._reference_idx is None:
            n = len(self.reference())
            if self.reference_limit is None or self.reference_limit >= n:
                self._reference_idx = np.arange(n)
            else:
                perm = np.random.RandomState(SUBSET_SEED).permutation(n)
                self._reference_idx = np.sort(perm[:self.reference_limit])
        return self._reference_idx

    # -- public API
    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` held-out real images as float32 ``(n, 3, S, S)`` in [-1, 1] on the CPU.

        Without replacement when the split is large enough, otherwise with replacement.
        """
        source = self.heldout()
        m = len(source)
        if m == 0:
            raise DotcliError(f"{self.name}: the held-out split {self.heldout_split!r} has no images")
        idx = torch.randperm(m, generator=gen)[:n] if n <= m else torch.randint(0, m, (n,), generator=gen)
        return from_uint8(source.get(idx.numpy()))

    def reference_size(self) -> int:
        return len(self.reference_indices())

    def reference_batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The reference set as uint8 batches ``(b, 3, S, S)``, always in the same order."""
        return self.reference().batches(self.reference_indices(), batch_size)

    def _reference_labels_all(self) -> np.ndarray | None:
        """Class label of every image of the reference source (int64), or ``None`` when it has none."""
        return None

    def reference_labels(self) -> np.ndarray | None:
        """Class labels of the reference images in :meth:`reference_batches` order (``None``: unlabelled set)."""
        labels = self._reference_labels_all()
        return None if labels is None else labels[self.reference_indices()]

    def reference_batches_of(self, positions: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
        """The reference images at ``positions`` (indices into :meth:`reference_batches` order) as uint8 batches."""
        return self.reference().batches(self.reference_indices()[positions], batch_size)

    def reference_identity(self) -> dict[str, Any]:
        """What determines the reference images (part of the reference-statistics cache key)."""
        return {"name": self.name, "reference_set": self.reference_set, "image_size": self.image_size,
                "transform": self.transform, "reference_limit": self.reference_limit,
                "subset_seed": SUBSET_SEED if self.reference_limit else None,
                "data": self._data_fingerprint()}

    def describe(self) -> dict[str, Any]:
        """Protocol facts; reads no file (sizes appear once the data was opened)."""
        out = {"name": self.name, "image_size": self.image_size, "reference_set": self.reference_set,
               "reference_transform": self.transform, "reference_limit": self.reference_limit,
               "heldout_split": self.heldout_split, "root": str(self.root)}
        if self._reference is not None:
            out["reference_size"] = self.reference_size()
        return out


class Cifar10(ImageData):
    """CIFAR-10, 32px, from torchvision's ``cifar-10-batches-py`` pickles.

    ``reference_set``: ``train+test`` (60k, the DOT paper's) or ``train`` (50k, the common PyTorch
    convention). The held-out split for ``sample`` is ``test`` (10k; not seen by the GAN in training;
    it is part of the ``train+test`` reference set, which only the Inception sees).
    """

    name = "cifar10"
    image_size = 32
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    url, archive, archive_md5 = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                 "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")  # torchvision's
    REFERENCE_SETS = {"train+test": train_files + test_files, "train": train_files}

    def __init__(self, root: str | os.PathLike, download: bool = False, reference_set: str = "train+test",
                 reference_limit: int | None = None) -> None:
        super().__init__(root, download, reference_set, "test", reference_limit)
        self._arrays: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}

    @property
    def data_dir(self) -> Path:
        return self.root / self.folder

    def _ensure(self, files: Sequence[str]) -> None:
        missing = [f for f in files if not (self.data_dir / f).is_file()]
        if missing and self.download:
            _download_archive(self.url, self.root, self.archive, self.archive_md5)
            missing = [f for f in files if not (self.data_dir / f).is_file()]
        if missing:
            raise DotcliError(f"{self.name}: missing {', '.join(missing)} in {self.data_dir}; set "
                              f"paths.allow_download=true to let torchvision fetch {self.archive} there, or extract "
                              f"{self.url} into {self.root} (paths.data / $DOTCLI_DATA)")

    def _load(self, file: str) -> np.ndarray:
        if file not in self._arrays:
            path = self.data_dir / file
            try:
                with open(path, "rb") as f:
                    entry = CifarUnpickler(f, encoding="latin1").load()  # the CIFAR on-disk format, code refused
                data = np.asarray(entry["data"], dtype=np.uint8)
                labels = np.asarray(entry["labels"], dtype=np.int64)
            except RefusedPickle as exc:
                raise DotcliError(f"{self.name}: {path} is refused: {exc}; a CIFAR-10 batch holds only a dict of "
                                  "lists, strings and one uint8 array (a crafted file can run code when unpickled): "
                                  "delete it and download the dataset again") from None
            except (OSError, pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError) as exc:
                raise DotcliError(f"{self.name}: cannot read {path} ({exc}); the file is corrupted: "
                                  "delete it and download again") from exc
            self._arrays[file] = data.reshape(-1, 3, self.image_size, self.image_size)
            if labels.shape != (len(self._arrays[file]),) or ((labels < 0) | (labels >= 10)).any():
                raise DotcliError(f"{self.name}: {path} holds {labels.shape} labels for {len(data)} images "
                                  "(expected one class in 0..9 per image); the file is corrupted")
            self._labels[file] = labels
        return self._arrays[file]

    def _arrays_of(self, files: Sequence[str]) -> ArraySource:
        self._ensure(files)
        return ArraySource([self._load(f) for f in files])

    def _open_reference(self) -> ImageSource:
        return self._arrays_of(self.REFERENCE_SETS[self.reference_set])

    def _open_heldout(self) -> ImageSource:
        return self._arrays_of(self.test_files)

    def _reference_labels_all(self) -> np.ndarray:
        files = self.REFERENCE_SETS[self.reference_set]
        self._arrays_of(files)
        return np.concatenate([self._labels[f] for f in files])

    def _data_fingerprint(self) -> str:
        files = self.REFERENCE_SETS[self.reference_set]
        self._ensure(files)
        return _fingerprint([self.data_dir / f for f in files], self.data_dir)


class Stl10(ImageData):
    """STL-10 reduced to 48px by 2x2 average pooling (the DOT paper's STL-10 protocol).

    ``reference_set``: ``unlabeled`` (100k, the paper's) or ``train`` (5k labelled); the held-out split
    for ``sample`` is ``test`` (8k labelled images, disjoint from both). Read from torchvision's
    ``stl10_binary/*.bin`` through a memory map, so the 2.7 GB unlabeled file is never loaded at once.
    torch-fidelity's registered ``stl10-*`` inputs are 96px: not these.
    """

    name = "stl10"
    image_size = 48
    source_size = 96
    transform = "avgpool2x2 96->48, round half up"
    folder = "stl10_binary"
    url, archive, archive_md5 = ("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                                 "stl10_binary.tar.gz", "91f7769df0f17e558f3565bffb0c7dfb")  # torchvision's
    REFERENCE_SETS = {"unlabeled": "unlabeled_X.bin", "train": "train_X.bin"}
    HELDOUT = "test_X.bin"

    def __init__(self, root: str | os.PathLike, download: bool = False, reference_set: str = "unlabeled",
                 reference_limit: int | None = None) -> None:
        super().__init__(root, download, reference_set, "test", reference_limit)

    @property
    def data_dir(self) -> Path:
        return self.root / self.folder

    def _path(self, file: str) -> Path:
        path = self.data_dir / file
        if not path.is_file() and self.download:
            _download_archive(self.url, self.root, self.archive, self.archive_md5)
        if not path.is_file():
            raise DotcliError(f"{self.name}: missing {file} in {self.data_dir}; set paths.allow_download=true to "
                              f"let torchvision fetch {self.archive} (2.6 GB) there, or extract {self.url} into "
                              f"{self.root} (paths.data / $DOTCLI_DATA)")
        return path

    def _source(self, file: str) -> ArraySource:
        path = self._path(file)
        per_image = 3 * self.source_size**2
        size = path.stat().st_size
        if size == 0 or size % per_image:
            raise DotcliError(f"{self.name}: {path} has {size} bytes, not a multiple of {per_image} "
                              "(one 96px RGB image): truncated or not an STL-10 file")
        array = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, 3, self.source_size, self.source_size)
        return ArraySource([array], pool=True, column_major=True)

    def _open_reference(self) -> ImageSource:
        return self._source(self.REFERENCE_SETS[self.reference_set])

    def _open_heldout(self) -> ImageSource:
        return self._source(self.HELDOUT)

    def _data_fingerprint(self) -> str:
        return _fingerprint([self._path(self.REFERENCE_SETS[self.reference_set])], self.data_dir)


class ImageFolderData(ImageData):
    """Any folder of images: ``root/<reference_set>`` and ``root/<heldout_split>``, searched recursively
    (flat folders and ImageFolder class folders alike), each image resized (shorter side, bilinear with
    antialias) to ``image_size`` and centre-cropped.

    ``heldout_split: null`` draws ``sample`` from the reference folder itself (then it is not held out;
    ``describe`` says so). ``reference_set: "."`` is ``root`` itself.
    """

    name = "folder"

    def __init__(self, root: str | os.PathLike, image_size: int, reference_set: str = ".",
                 heldout_split: str | None = None, reference_limit: int | None = None, num_workers: int = 0,
                 name: str | None = None, download: bool = False) -> None:
        super().__init__(root, False, reference_set, heldout_split or reference_set, reference_limit)
        if name:
            self.name = name
        if not (isinstance(image_size, int) and image_size >= 8):
            raise DotcliError(f"{self.name}: image_size={image_size} must be an integer >= 8")
        self.image_size = image_size
        self.transform = f"resize shorter side to {image_size} (bilinear, antialias) + center crop"
        self.num_workers = int(num_workers)
        self.asked_download = bool(download)
        self._files: dict[str, list[Path]] = {}

    def _list(self, split: str) -> list[Path]:
        if split not in self._files:
            folder = (self.root / split).resolve() if split != "." else self.root
            files = list_images(folder) if folder.is_dir() else []
            if not files:
                raise DotcliError(f"{self.name}: no images ({', '.join(IMG_EXTENSIONS)}) under {folder}"
                                  f"{self._missing_help()}")
            self._files[split] = files
        return self._files[split]

    def _missing_help(self) -> str:
        return f"; put the images there or set the dataset's root (paths.data / $DOTCLI_DATA is {self.root})"

    def _open_reference(self) -> ImageSource:
        return FileSource(self._list(self.reference_set), self.image_size, self.num_workers)

    def _open_heldout(self) -> ImageSource:
        return FileSource(self._list(self.heldout_split), self.image_size, self.num_workers)

    def _reference_labels_all(self) -> np.ndarray | None:
        """ImageFolder's labels: the index of each image's first sub-folder among the sorted sub-folder names
        (torchvision ``ImageFolder.find_classes``); ``None`` for a flat folder."""
        folder = (self.root / self.reference_set).resolve() if self.reference_set != "." else self.root
        files = self._list(self.reference_set)
        tops = [f.relative_to(folder).parts for f in files]
        if any(len(p) < 2 for p in tops):
            return None
        classes = sorted({p[0] for p in tops})
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[p[0]] for p in tops], dtype=np.int64)

    def _data_fingerprint(self) -> str:
        return _fingerprint(self._list(self.reference_set), self.root)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.heldout_split == self.reference_set:
            out["heldout_note"] = "sample() draws from the reference folder (no held-out split configured)"
        return out


class ImageNet(ImageFolderData):
    """ImageNet (ILSVRC2012) at 128px: ``root/train`` and ``root/val`` (ImageFolder layout or flat).

    ImageNet cannot be downloaded automatically (licence). ``reference_set`` defaults to ``train``
    (the DOT paper does not state its ImageNet reference set, docs/protocol.md#reference-sets); ``sample``
    draws from ``val``. ``reference_limit`` takes a fixed random subset (e.g. 50000) to save time.
    """

    def __init__(self, root: str | os.PathLike, image_size: int = 128, reference_set: str = "train",
                 heldout_split: str | None = "val", reference_limit: int | None = None, num_workers: int = 4,
                 download: bool = False) -> None:
        super().__init__(root, image_size, reference_set, heldout_split, reference_limit, num_workers,
                         name="imagenet", download=download)

    def _missing_help(self) -> str:
        ignored = " (paths.allow_download is ignored)" if self.asked_download else ""
        return (f"; ImageNet cannot be downloaded automatically{ignored}: put ILSVRC2012 train/ and val/ "
                f"(one sub-folder per class, or flat) under {self.root} or set dataset.data.root")
