import gzip
import shutil

import pytest
import torch

from course_utils import data
from course_utils.data import (
    AutoEncoding,
    BatchLoader,
    CorruptDataError,
    DataNotFoundError,
    load_fashion_mnist,
    train_valid_split,
)

FILES = [name for split in data.SPLITS.values() for name in split]
REAL = data.DEBIAN_ROOT  # the Debian package, installed by `make test`


@pytest.fixture(autouse=True)
def full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST_MODE", raising=False)
    monkeypatch.delenv(data.ENV_VAR, raising=False)


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Debian folder, an empty download cache, and no download."""
    monkeypatch.setattr(data, "DEBIAN_ROOT", tmp_path / "no-debian")
    monkeypatch.setattr(data, "download_root", lambda: tmp_path / "no-cache")
    return tmp_path


def copy_real_files(folder, transform=None):
    """The Debian package's files, copied into ``folder`` (optionally altered)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        source = REAL / f"{name}.gz"
        content = source.read_bytes()
        (folder / f"{name}.gz").write_bytes(transform(name, content) if transform else content)
    return folder


@pytest.mark.parametrize(("split", "size"), [("train", 60_000), ("test", 10_000)])
def test_sizes_ranges_and_balanced_labels(split, size):
    images, labels = load_fashion_mnist(split).tensors
    assert images.shape == (size, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (size,) and labels.dtype == torch.int64
    assert images.min() == 0 and images.max() == 1
    assert 0.2 < images.mean() < 0.4  # Fashion-MNIST's mean intensity is about 0.29
    assert torch.equal(torch.bincount(labels), torch.full((10,), size // 10))
    assert len(data.CLASSES) == 10


def test_second_load_is_served_from_memory():
    first, second = load_fashion_mnist("test"), load_fashion_mnist("test")
    assert first.tensors[0].data_ptr() == second.tensors[0].data_ptr()


def test_limit_and_fast_mode(monkeypatch):
    assert len(load_fashion_mnist("train", limit=100)) == 100
    monkeypatch.setenv("COURSE_FAST_MODE", "1")
    assert len(load_fashion_mnist("train")) == 1024
    assert len(load_fashion_mnist("test")) == 512


def test_unknown_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_fashion_mnist("valid")


def test_root_argument_in_torchvision_layout(nowhere):
    raw = copy_real_files(nowhere / "mine" / "FashionMNIST" / "raw")
    for gz in raw.glob("*.gz"):  # torchvision keeps the extracted files too
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    images, labels = load_fashion_mnist("test", root=nowhere / "mine").tensors
    reference_images, reference_labels = load_fashion_mnist("test", root=REAL).tensors
    assert torch.equal(images, reference_images) and torch.equal(labels, reference_labels)


def test_environment_variable(nowhere, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(copy_real_files(nowhere / "env")))
    assert len(load_fashion_mnist("test")) == 10_000


def test_nothing_found_names_every_place_and_the_fixes(nowhere, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(nowhere / "env-folder"))

    def offline(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr("torchvision.datasets.FashionMNIST", offline)
    with pytest.raises(DataNotFoundError) as error:
        load_fashion_mnist("train", root=nowhere / "given")
    message = str(error.value)
    for place in ("given", "env-folder", "no-debian", "no-cache", "no network"):
        assert place in message
    assert "apt-get install dataset-fashion-mnist" in message and data.ENV_VAR in message
    assert "download" in message


def test_garbage_file_is_reported_as_corrupt(nowhere):
    root = copy_real_files(nowhere / "garbage", lambda name, content: b"not a gzip file")
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte.gz"):
        load_fashion_mnist("test", root=root)


def test_truncated_file_is_reported_as_corrupt(nowhere):
    def truncate(name, content):
        return content[: len(content) // 2] if name.startswith("t10k-images") else content

    root = copy_real_files(nowhere / "truncated", truncate)
    with pytest.raises(CorruptDataError, match="cannot be read or decompressed"):
        load_fashion_mnist("test", root=root)


def test_wrong_content_is_reported_by_checksum(nowhere):
    def flip_a_pixel(name, content):
        if not name.startswith("t10k-images"):
            return content
        raw = bytearray(gzip.decompress(content))
        raw[1000] ^= 0xFF
        return gzip.compress(bytes(raw))

    root = copy_real_files(nowhere / "flipped", flip_a_pixel)
    with pytest.raises(CorruptDataError, match="corrupt or truncated.*SHA-256"):
        load_fashion_mnist("test", root=root)


def test_a_folder_with_some_files_missing_is_skipped(nowhere):
    root = copy_real_files(nowhere / "partial")
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="partial"):
        load_fashion_mnist("test", root=root, download=False)
    shutil.rmtree(root)


def test_auto_encoding_pairs_use_separate_transforms():
    images = torch.rand(10, 1, 4, 4)
    pairs = AutoEncoding(
        images, input_transform=lambda x: x * 2, target_transform=lambda x: x > 0.5
    )
    x, y = pairs[torch.tensor([3, 7])]
    assert torch.equal(x, images[[3, 7]] * 2) and torch.equal(y, images[[3, 7]] > 0.5)
    assert len(pairs) == 10
    x, y = AutoEncoding(images)[0]
    assert torch.equal(x, images[0]) and torch.equal(y, images[0])


def test_batch_loader_serves_every_item_once():
    dataset = torch.utils.data.TensorDataset(torch.arange(10), torch.arange(10) * 10)
    loader = BatchLoader(dataset, batch_size=4, shuffle=True, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([x for x, _ in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(y, x * 10) for x, y in batches)
    assert torch.equal(torch.cat([x for x, _ in BatchLoader(dataset, 4)]), torch.arange(10))


def test_train_valid_split_is_disjoint_and_complete():
    dataset = torch.utils.data.TensorDataset(torch.arange(100), torch.arange(100))
    train, valid = train_valid_split(dataset, valid_size=20)
    assert len(train) == 80 and len(valid) == 20
    items = torch.cat([train.tensors[0], valid.tensors[0]])
    assert sorted(items.tolist()) == list(range(100))
    with pytest.raises(ValueError, match="valid_size"):
        train_valid_split(dataset, valid_size=100)
