"""Fashion-MNIST as in-memory tensors, found offline where possible.

Where the files are looked for, in order:

1. the ``root`` argument of :func:`load_fashion_mnist`;
2. the folder in the environment variable ``FASHION_MNIST_ROOT``;
3. ``/usr/share/datasets/fashion-mnist/``, from Debian's package ``dataset-fashion-mnist``;
4. a download from torchvision's mirrors (``torchvision.datasets.FashionMNIST.mirrors``), into
   ``FashionMNIST/raw/`` under ``root``, ``$FASHION_MNIST_ROOT`` or ``~/.cache/course_utils``.

A folder holds the data when it has the four IDX files, gzipped or not, either directly or in
torchvision's layout (``FashionMNIST/raw/``). Every file is checked against the SHA-256 of its
decompressed content before it is decoded, so a corrupt or truncated file is reported, never loaded;
a download is checked before it takes its name, so a corrupt one is never kept.
"""

import gzip
import hashlib
import os
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from .fastmode import FAST_SIZES, is_fast

ENV_VAR = "FASHION_MNIST_ROOT"
DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: SHA-256 of each file's decompressed content (the same whether it came gzipped or not).
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FIXES = (
    "Three ways to fix this:\n"
    "  1. install Debian's package:  sudo apt-get install dataset-fashion-mnist\n"
    "  2. get the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
    "     t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) on a machine with internet, from\n"
    "     {mirror}, copy them into a folder here and set {env}=/that/folder\n"
    "     (or pass root='/that/folder')\n"
    "  3. connect this machine to the internet once: the download is then kept in {cache}"
)
#: Seconds a download may wait for the server before the next mirror is tried.
TIMEOUT = 30

_cache: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


class DataNotFoundError(FileNotFoundError):
    """Fashion-MNIST is in none of the places we look, and could not be downloaded."""


class CorruptDataError(ValueError):
    """A Fashion-MNIST file exists but its content is wrong (corrupt, truncated, another file)."""


def download_root() -> Path:
    """Where torchvision's download goes when neither ``root`` nor the variable names a folder."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "course_utils"


def load_fashion_mnist(split="train", root=None, download=True, limit=None) -> TensorDataset:
    """Fashion-MNIST ``split`` ("train" or "test") as images in [0, 1] (N×1×28×28) and labels.

    ``limit`` keeps the first images only; in fast mode it defaults to a small subset.
    The files are decoded once per process and cached, so a second call is instant; the
    tensors are shared between calls, so transform them into new tensors, never in place.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images, labels = _load_uint8(split, root, download)
    if limit is None and is_fast():
        limit = FAST_SIZES[split]
    return TensorDataset(images[:limit], labels[:limit])


def train_valid_split(dataset: TensorDataset, valid_size=5000, seed=0):
    """Split a ``TensorDataset`` into a training and a held-out validation ``TensorDataset``."""
    n = len(dataset)
    if not 0 < valid_size < n:
        raise ValueError(f"valid_size must be between 1 and {n - 1}, not {valid_size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, valid = order[valid_size:], order[:valid_size]
    return TensorDataset(*dataset[train]), TensorDataset(*dataset[valid])


class AutoEncoding(Dataset):
    """``(input, target)`` pairs made from one image, each with its own transform.

    The original assignment's ``AutoMNIST`` idea: the target is the image itself, perhaps
    preprocessed differently from the input. Transforms take and return tensors, and indexing
    with a tensor of indices returns whole batches, so the transforms run once per batch.
    """

    def __init__(self, images, input_transform=None, target_transform=None):
        if isinstance(images, TensorDataset):
            images = images.tensors[0]
        self.images = images
        self.input_transform = input_transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        x = self.input_transform(image) if self.input_transform else image
        y = self.target_transform(image) if self.target_transform else image
        return x, y


class BatchLoader:
    """Batches straight from in-memory tensors: one indexing operation per batch.

    Works with any dataset that accepts a tensor of indices (``TensorDataset``, ``AutoEncoding``);
    much faster than a ``DataLoader`` that fetches and collates one item at a time.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, seed=None):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            yield self.dataset[order[start : start + self.batch_size]]


def _load_uint8(split, root, download):
    folder, looked = _find(split, root)
    if folder is None and download:
        target = Path(root or os.environ.get(ENV_VAR) or download_root())
        folder = _download(split, target / "FashionMNIST" / "raw", looked)
    if folder is None:
        places = "\n".join(f"  - {place}" for place in looked)
        fixes = FIXES.format(mirror=_mirrors()[0], env=ENV_VAR, cache=download_root())
        raise DataNotFoundError(f"Fashion-MNIST ({split}) not found. Looked in:\n{places}\n{fixes}")
    key = (split, str(folder[0].parent))
    if key not in _cache:
        images, labels = (_read_idx(path) for path in folder)
        if len(images) != len(labels):
            raise CorruptDataError(f"{folder[0]} and {folder[1]} hold different numbers of items")
        _cache[key] = images.unsqueeze(1).float().div_(255), labels
    return _cache[key]


def _find(split, root):
    """The first folder in look-up order that holds ``split``, and a description of each place."""
    candidates = []
    if root is not None:
        candidates.append(("root argument", root))
    if os.environ.get(ENV_VAR):
        candidates.append((f"${ENV_VAR}", os.environ[ENV_VAR]))
    candidates.append(("Debian package dataset-fashion-mnist", DEBIAN_ROOT))
    candidates.append(("earlier download", download_root()))
    looked = []
    for what, place in candidates:
        files = _files_in(Path(place), split)
        if files:
            return files, looked
        looked.append(f"{what}: {place} (no {' / '.join(SPLITS[split])} files there)")
    return None, looked


def _files_in(folder: Path, split):
    """Paths of the split's images and labels files in ``folder``, or None if one is missing."""
    found = []
    for name in SPLITS[split]:
        folders = (folder, folder / "FashionMNIST" / "raw")
        options = [d / n for d in folders for n in (name, name + ".gz")]
        path = next((p for p in options if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def _mirrors() -> list[str]:
    """torchvision's Fashion-MNIST mirrors, each ending in a slash."""
    from torchvision.datasets import FashionMNIST

    return [mirror.rstrip("/") + "/" for mirror in FashionMNIST.mirrors]


def _download(split, raw: Path, looked: list[str]):
    """Download the split's two files into ``raw``, verified; their paths, or None if it failed.

    Each file is written to a ``.part`` file and takes its name only once its content has the right
    SHA-256, so a broken download is never found later as if it were good. A corrupt file from
    every mirror raises ``CorruptDataError``; an unreachable mirror is noted in ``looked``.
    """
    found = []
    for name in SPLITS[split]:
        path, part, corrupt = raw / f"{name}.gz", raw / f"{name}.gz.part", []
        for mirror in _mirrors():
            url = f"{mirror}{name}.gz"
            try:
                raw.mkdir(parents=True, exist_ok=True)
                print(f"Downloading {url} into {raw}")
                with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                    part.write_bytes(response.read())
                _verified(part.read_bytes(), name, gzipped=True, where=url)
            except CorruptDataError as error:
                corrupt.append(str(error))
                part.unlink(missing_ok=True)
                continue
            except (OSError, HTTPException) as error:  # no network, server down, HTTP error, ...
                looked.append(f"download of {url} into {raw}: failed ({error})")
                part.unlink(missing_ok=True)
                continue
            part.replace(path)
            break
        else:
            if corrupt:
                raise CorruptDataError(
                    "the download of Fashion-MNIST was corrupt, so it was not kept:\n  "
                    + "\n  ".join(corrupt)
                    + "\nTry again, or get the files another way (README: the data, offline)."
                )
            return None
        found.append(path)
    return found


def _verified(data: bytes, name: str, gzipped: bool, where) -> bytes:
    """The decompressed ``data``, if it is the content of the file ``name`` (its SHA-256)."""
    try:
        raw = gzip.decompress(data) if gzipped else data
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise CorruptDataError(f"{where} cannot be read or decompressed ({error})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise CorruptDataError(
            f"{where} is corrupt or truncated: its content has SHA-256 {digest[:16]}..., "
            f"expected {SHA256[name][:16]}... ({len(raw):,} bytes)"
        )
    return raw


def _read_idx(path: Path) -> torch.Tensor:
    """Decode one verified IDX file (gzipped or not) into a uint8 or int64 tensor."""
    try:
        data = path.read_bytes()
        raw = _verified(data, path.name.removesuffix(".gz"), path.suffix == ".gz", where=path)
    except OSError as error:
        raise CorruptDataError(
            f"{path} cannot be read or decompressed ({error}); {_REPAIR}"
        ) from None
    except CorruptDataError as error:
        raise CorruptDataError(f"{error}; {_REPAIR}") from None
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim :]), dtype=torch.uint8).view(shape)
    return data if ndim > 1 else data.long()


_REPAIR = (
    "delete it and get it again (sudo apt-get install --reinstall dataset-fashion-mnist, "
    "or let torchvision download it)"
)
