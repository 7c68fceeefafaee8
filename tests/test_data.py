import gzip
import shutil

import pytest
import torch
from mirror import Mirror, debian_files
from torchvision.datasets import FashionMNIST

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


@pytest.fixture
def mirrors(monkeypatch):
    """Point torchvision's Fashion-MNIST mirror list at the given URLs."""
    return lambda *urls: monkeypatch.setattr(FashionMNIST, "mirrors", list(urls))


def raw_folder(nowhere):
    return nowhere / "no-cache" / "FashionMNIST" / "raw"


def test_download_verifies_and_loads_then_uses_the_copy(nowhere, mirrors):
    with Mirror() as mirror:  # Debian's files, gzipped differently from the originals
        mirrors(mirror.url)
        images, labels = load_fashion_mnist("test").tensors
        assert mirror.requests == {"t10k-images-idx3-ubyte.gz": 1, "t10k-labels-idx1-ubyte.gz": 1}
        data._cache.clear()  # as in a new process: the files are found in the download folder
        again = load_fashion_mnist("test").tensors
        assert sum(mirror.requests.values()) == 2
    reference_images, reference_labels = load_fashion_mnist("test", root=REAL).tensors
    assert torch.equal(images, reference_images) and torch.equal(labels, reference_labels)
    assert torch.equal(again[0], reference_images)
    assert sorted(p.name for p in raw_folder(nowhere).iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_a_mirror_that_is_down_is_skipped(nowhere, mirrors):
    with Mirror() as down:
        pass
    with Mirror() as up:
        mirrors(down.url, up.url)
        assert len(load_fashion_mnist("test")) == 10_000
        assert sum(up.requests.values()) == 2


def flip_a_pixel(content):
    raw = bytearray(gzip.decompress(content))
    raw[1000] ^= 0xFF
    return gzip.compress(bytes(raw), compresslevel=1)


@pytest.mark.parametrize(
    ("damage", "reported"),
    [(flip_a_pixel, "corrupt or truncated.*SHA-256"), (lambda c: c[:5000], "cannot be read")],
    ids=["wrong-content", "truncated"],
)
def test_a_corrupt_download_is_reported_and_not_kept(nowhere, mirrors, damage, reported):
    files = debian_files()
    name = "t10k-images-idx3-ubyte.gz"
    with Mirror({**files, name: damage(files[name])}) as mirror:
        mirrors(mirror.url)
        with pytest.raises(CorruptDataError, match=f"(?s)not kept.*{name}.*{reported}"):
            load_fashion_mnist("test")
        assert not (raw_folder(nowhere) / name).exists()
        assert not list(raw_folder(nowhere).glob("*.part"))
        mirror.files = files  # the mirror is mended: the next call downloads again, and loads
        assert len(load_fashion_mnist("test")) == 10_000
        assert mirror.requests[name] == 2


def test_server_down_says_how_to_get_the_data_offline(nowhere, mirrors, monkeypatch):
    with Mirror() as down:
        pass
    mirrors(down.url)
    monkeypatch.setenv(data.ENV_VAR, str(nowhere / "env-folder"))
    with pytest.raises(DataNotFoundError) as error:
        load_fashion_mnist("train", root=nowhere / "given")
    message = str(error.value)
    for place in ("given", "env-folder", "no-debian", "no-cache"):
        assert place in message
    assert f"download of {down.url}train-images-idx3-ubyte.gz" in message
    assert "Connection refused" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert f"{data.ENV_VAR}=/that/folder" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert down.url in message  # where to get the files on a machine with internet
    assert not list((nowhere / "given").rglob("*.gz*"))  # nothing half-downloaded is left


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
        return gzip.compress(bytes(raw), compresslevel=1)

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
