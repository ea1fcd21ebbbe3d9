"""Loaders on small files the tests write: IDX (gz and raw), CIFAR pickles, corrupt ones,
a malicious pickle, the search path and the download path (served from local bytes)."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy
import pytest

from minicnn.data import datasets
from minicnn.data.datasets import (
    DataNotFoundError,
    DatasetError,
    idx_bytes,
    load_dataset,
    read_cifar_batch,
    read_idx,
    restricted_load,
)

REAL_FETCH = datasets._fetch


def write_idx_dataset(folder, n_train=12, n_test=5, gz=True, rng=None):
    rng = rng or numpy.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, a in arrays.items():
        data = idx_bytes(a)
        if gz:
            with open(os.path.join(folder, stem + ".gz"), "wb") as f:
                f.write(gzip.compress(data))
        else:
            with open(os.path.join(folder, stem), "wb") as f:
                f.write(data)
    return arrays


@pytest.fixture
def data_root(isolated_data):
    return isolated_data


def pin(monkeypatch, name, served: dict):
    """Pin the sizes and SHA-256s of the files the test serves (filename -> bytes)."""
    monkeypatch.setitem(datasets.DATASETS[name], "checksums", {
        filename: (len(data), hashlib.sha256(data).hexdigest())
        for filename, data in served.items()})


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    arrays = write_idx_dataset(str(tmp_path), gz=gz)
    suffix = ".gz" if gz else ""
    for stem, a in arrays.items():
        numpy.testing.assert_array_equal(read_idx(str(tmp_path / (stem + suffix))), a)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_env_dir(data_root, gz):
    arrays = write_idx_dataset(str(data_root / "mnist"), gz=gz)
    ds = load_dataset("mnist")
    assert ds.train_images.shape == (12, 1, 28, 28) and ds.train_images.dtype == numpy.uint8
    assert ds.test_labels.dtype == numpy.int64
    numpy.testing.assert_array_equal(ds.train_images[:, 0], arrays["train-images-idx3-ubyte"])
    numpy.testing.assert_array_equal(ds.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert ds.classes == [str(i) for i in range(10)] and ds.image_shape == (1, 28, 28)


def test_search_order_env_before_cache(data_root, tmp_path):
    env = write_idx_dataset(str(data_root / "fashion-mnist"), rng=numpy.random.default_rng(1))
    write_idx_dataset(str(tmp_path / "home" / ".cache" / "minicnn" / "fashion-mnist"),
                      rng=numpy.random.default_rng(2))
    ds = load_dataset("fashion_mnist")
    assert ds.source == str(data_root / "fashion-mnist")
    numpy.testing.assert_array_equal(ds.train_labels, env["train-labels-idx1-ubyte"])
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_system_folder_used(data_root, tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets"
    write_idx_dataset(str(system / "fashion-mnist"))
    monkeypatch.setattr(datasets, "SYSTEM_ROOTS", (str(system),))
    assert load_dataset("fashion-mnist").source == str(system / "fashion-mnist")


def test_missing_data_says_how_to_get_it(data_root):
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("fashion-mnist")
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "MINICNN_DATA" in msg
    assert "network disabled" in msg  # the download was tried and its failure reported
    assert not any(p.name.endswith(".part") for p in data_root.rglob("*"))


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="cifar10, cifar100, digits"):
        load_dataset("imagenet")


def test_download_verifies_then_renames(data_root, monkeypatch):
    files = {stem: idx_bytes(a) for stem, a in
             write_idx_dataset(str(data_root / "src"), gz=False).items()}
    served = []
    good = {stem + ".gz": gzip.compress(data, mtime=0) for stem, data in files.items()}
    pin(monkeypatch, "mnist", good)

    def fake_fetch(url, timeout=30.0):
        stem = url.rsplit("/", 1)[1][:-3]
        served.append(url)
        if stem == "t10k-labels-idx1-ubyte" and sum(stem in u for u in served) == 1:
            return good[stem + ".gz"][:-9]  # first try: a truncated download
        return good[stem + ".gz"]
    monkeypatch.setattr(datasets, "_fetch", fake_fetch)
    # the first mirror serves a broken label file: it is refused, the second mirror works
    ds = load_dataset("mnist")
    assert len(served) == 5
    assert served[0].startswith(datasets.DATASETS["mnist"]["urls"][0])
    assert ds.train_images.shape == (12, 1, 28, 28)
    names = sorted(p.name for p in (data_root / "mnist").iterdir())
    assert names == sorted(stem + ".gz" for stem in files)  # no temp files left behind


def test_download_failure_leaves_no_cache_file(data_root, monkeypatch):
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=30.0: b"\x00\x00\x08\x01junk")
    with pytest.raises(DataNotFoundError, match="8 bytes, the official train-images-idx3-ubyte"
                                                 ".gz has 9912422"):
        load_dataset("mnist")
    # the right size and digest, but not an IDX file: the parse refuses it
    pin(monkeypatch, "mnist", {stem + ".gz": b"\x00\x00\x08\x01junk"
                               for stem in datasets.MNIST_FILES})
    with pytest.raises(DataNotFoundError, match="header says shape"):
        load_dataset("mnist")
    assert not (data_root / "mnist").exists() or not any((data_root / "mnist").iterdir())


def test_download_via_file_url(data_root, tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    write_idx_dataset(str(src))
    pin(monkeypatch, "mnist", {p.name: p.read_bytes() for p in src.iterdir()})
    monkeypatch.setattr(datasets, "_fetch", REAL_FETCH)  # urllib reads file:// URLs
    monkeypatch.setitem(datasets.DATASETS["mnist"], "urls", [src.as_uri() + "/"])
    assert load_dataset("mnist").test_images.shape == (5, 1, 28, 28)


# ----------------------------------------------------------------- corruption
def test_bad_magic(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: bad magic number 12345678"):
        read_idx(str(p))


def test_wrong_length(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(idx_bytes(numpy.zeros((3, 4, 4)))[:-5]))
    with pytest.raises(DatasetError, match=r"x.gz: wrong length.*\(3, 4, 4\)"):
        read_idx(str(p))


def test_bad_gzip(tmp_path):
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(numpy.zeros(50)))[:-12])
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz: unreadable gzip"):
        read_idx(str(p))


def test_count_mismatch(data_root):
    folder = data_root / "mnist"
    write_idx_dataset(str(folder))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(numpy.zeros(4))))
    with pytest.raises(DatasetError, match="5 images but .*t10k-labels-idx1-ubyte.gz has 4"):
        load_dataset("mnist", download=False)


# ---------------------------------------------------------------------- CIFAR
def write_cifar10(folder, n=6, protocol=2, str_keys=False):
    rng = numpy.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072)).astype(numpy.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        batch = {"data": data, "labels": labels} if str_keys else \
            {b"data": data, b"labels": labels, b"batch_label": b"x"}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        out[name] = (data, labels)
    meta = {b"label_names": [c.encode() for c in
                             ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                              "horse", "ship", "truck"]]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return out


@pytest.mark.parametrize("protocol,str_keys", [(2, False), (5, True)])
def test_cifar10_batches(data_root, protocol, str_keys):
    written = write_cifar10(data_root / "cifar-10-batches-py", protocol=protocol,
                            str_keys=str_keys)
    ds = load_dataset("cifar10", download=False)
    assert ds.train_images.shape == (30, 3, 32, 32) and ds.test_images.shape == (6, 3, 32, 32)
    data, labels = written["test_batch"]
    # row layout: 1024 red, then 1024 green, then 1024 blue values
    numpy.testing.assert_array_equal(ds.test_images[2, 1].ravel(), data[2, 1024:2048])
    numpy.testing.assert_array_equal(ds.test_labels, labels)
    assert ds.classes[9] == "truck"


def test_cifar100(data_root):
    folder = data_root / "cifar100"
    folder.mkdir(parents=True)
    rng = numpy.random.default_rng(0)
    for name in ("train", "test"):
        batch = {b"data": rng.integers(0, 256, (4, 3072)).astype(numpy.uint8),
                 b"fine_labels": [1, 99, 3, 4], b"coarse_labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps(
        {b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, protocol=2))
    ds = load_dataset("cifar-100", download=False)
    assert ds.num_classes == 100 and ds.train_labels.tolist() == [1, 99, 3, 4]


class Evil:
    """A pickle that would create a marker file when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class EvilSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("evil", ["open", "system"])
def test_malicious_pickle_refused(tmp_path, evil):
    marker = tmp_path / "marker"
    payload = Evil(str(marker)) if evil == "open" else EvilSystem()
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": payload, b"labels": [1]}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_1: not a safe CIFAR batch: refused"):
        read_cifar_batch(str(p))
    assert not marker.exists()
    # and the unpickler alone refuses it too
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        restricted_load(p.read_bytes())
    assert not marker.exists()


def test_restricted_unpickler_admits_arrays_and_containers():
    obj = {"a": numpy.arange(6, dtype=numpy.float32).reshape(2, 3), "b": [1, 2.5, b"x"],
           "c": (None, True)}
    for protocol in (2, 4, 5):
        back = restricted_load(pickle.dumps(obj, protocol=protocol))
        numpy.testing.assert_array_equal(back["a"], obj["a"])
        assert back["b"] == obj["b"] and back["c"] == obj["c"]


def test_cifar_corrupt(tmp_path):
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps({b"data": numpy.zeros((3, 3072), numpy.uint8),
                                b"labels": [1, 2]}, protocol=2))
    with pytest.raises(DatasetError, match="test_batch: 3 images but 2 labels"):
        read_cifar_batch(str(p))
    p.write_bytes(pickle.dumps({b"data": numpy.zeros((3, 100), numpy.uint8),
                                b"labels": [1, 2, 3]}, protocol=2)[:-20])
    with pytest.raises(DatasetError, match="test_batch: "):
        read_cifar_batch(str(p))


def test_cifar_download_checks_size_and_sha256_and_extracts(data_root, tmp_path, monkeypatch):
    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar10(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(src), arcname="cifar-10-batches-py")
    archive = buf.getvalue()
    monkeypatch.setattr(datasets, "_fetch", lambda url, timeout=30.0: archive)
    with pytest.raises(DataNotFoundError, match="the official cifar-10-python.tar.gz has"):
        load_dataset("cifar10")
    pin(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    ds = load_dataset("cifar10")
    assert ds.train_images.shape == (30, 3, 32, 32) and ds.source == str(data_root / "cifar10")


# ----------------------------------------------------------------- real data
def test_digits():
    ds = load_dataset("digits")
    assert ds.train_images.shape[1:] == (1, 8, 8) and len(ds.train_images) + len(
        ds.test_images) == 1797
    assert ds.train_images.max() == 255 and ds.train_images.dtype == numpy.uint8


FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(FMNIST), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    from minicnn.data import load_fashion_mnist
    ds = load_fashion_mnist(download=False)
    assert ds.train_images.shape == (60000, 1, 28, 28)
    assert ds.test_images.shape == (10000, 1, 28, 28)
    assert numpy.bincount(ds.train_labels).tolist() == [6000] * 10
    assert ds.test_labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_idx_bytes_round_trips_through_read_idx(tmp_path):
    images = numpy.arange(2 * 3 * 4).reshape(2, 3, 4).astype(numpy.uint8)
    (tmp_path / "x-idx3-ubyte").write_bytes(idx_bytes(images))
    numpy.testing.assert_array_equal(read_idx(str(tmp_path / "x-idx3-ubyte")), images)
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        idx_bytes(numpy.uint8(3))
