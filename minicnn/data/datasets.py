"""Dataset loaders: MNIST, Fashion-MNIST, CIFAR-10/100 and scikit-learn's digits.

Every loader returns a ``DatasetArrays``: uint8 images shaped (N, C, H, W),
int64 labels shaped (N,), for a train and a test split, and the class names.

Where the files come from, in order:

1. the directory named by the ``MINICNN_DATA`` environment variable,
2. ``~/.cache/minicnn``,
3. the system dataset folders (Debian's ``dataset-fashion-mnist`` package puts
   Fashion-MNIST in /usr/share/datasets/fashion-mnist),
4. a download from the dataset's official address into ``~/.cache/minicnn``
   (or ``MINICNN_DATA``). The download goes to a temporary file in the cache
   directory, is verified (checksum and/or a full parse), and only then renamed
   into place, so a cache never holds a half-written file.

Each root is searched for ``ROOT/<name>/FILE`` (for CIFAR also the official
archive folder, ``ROOT/cifar-10-batches-py/FILE``). IDX files may be gzipped
(``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).

CIFAR batches are Python pickles. They are read with ``RestrictedUnpickler``,
which admits only builtin containers, bytes, numbers and NumPy arrays: a
malicious file cannot run code while it is being loaded.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.request
from dataclasses import dataclass

import numpy

from minicnn.runtime.fileio import atomic_write

__all__ = [
    "DatasetArrays", "DatasetError", "DataNotFoundError", "RestrictedUnpickler",
    "restricted_load", "read_idx", "read_cifar_batch", "search_roots", "DATASETS",
    "load_dataset", "load_mnist", "load_fashion_mnist", "load_cifar10", "load_cifar100",
    "load_digits", "download",
]

SYSTEM_ROOTS = ("/usr/share/datasets", "/usr/local/share/datasets")


class DatasetError(ValueError):
    """A dataset file is truncated, corrupt or not what its name says."""


class DataNotFoundError(FileNotFoundError):
    """No copy of a dataset was found and none could be downloaded."""


@dataclass
class DatasetArrays:
    """A dataset in memory.

    Attributes:
        train_images: uint8 (N, C, H, W).
        train_labels: int64 (N,).
        test_images: uint8 (M, C, H, W).
        test_labels: int64 (M,).
        classes: the class names, index = label.
        name: the dataset's name.
        source: where the files were read from (a directory, or 'scikit-learn').
    """
    train_images: numpy.ndarray
    train_labels: numpy.ndarray
    test_images: numpy.ndarray
    test_labels: numpy.ndarray
    classes: list
    name: str
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple:
        """(C, H, W)."""
        return tuple(self.train_images.shape[1:])


# ----------------------------------------------------------------- IDX files
_IDX_DTYPES = {0x08: numpy.uint8, 0x09: numpy.int8, 0x0B: numpy.dtype(">i2"),
               0x0C: numpy.dtype(">i4"), 0x0D: numpy.dtype(">f4"), 0x0E: numpy.dtype(">f8")}


def _read_bytes(path: str) -> bytes:
    """The file's bytes, un-gzipped when it ends in .gz (or starts with gzip's magic)."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DatasetError(f"{path}: unreadable gzip data ({e}); delete the file and "
                               "fetch it again") from None
    return raw


def read_idx(path: str) -> numpy.ndarray:
    """Read an IDX file (the MNIST format), gzipped or raw.

    Layout: two zero bytes, a type code (0x08 = uint8), the number of
    dimensions D, then D big-endian uint32 sizes, then the data.
    """
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: bad magic number {data[:4].hex() or '(empty file)'}; "
                           "not an IDX file")
    dtype = numpy.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes, "
                           f"{ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(numpy.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(f"{path}: wrong length: header says shape {shape} "
                           f"({expected} data bytes) but the file has {len(data) - header}")
    return numpy.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def idx_bytes(array) -> bytes:
    """Encode a uint8 array as an IDX file's bytes (what ``read_idx`` reads back).

    Handy for turning your own images into MNIST-format files, and for tests.
    """
    array = numpy.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"idx_bytes: expected an array of 1 to 255 dimensions, got shape "
                         f"{array.shape}")
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                   *array.shape)
    return header + array.astype(numpy.uint8).tobytes()


# -------------------------------------------------------------- CIFAR pickles
class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, bytes, numbers and NumPy arrays.

    Pickle can call any importable function while loading (that is how
    ``__reduce__`` works), so a crafted file could run code. Builtin types need
    no lookup; the only globals admitted are the few NumPy uses to rebuild an
    array. Anything else raises ``pickle.UnpicklingError``.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            # Python 3 writes bytes in protocol 2 as _codecs.encode(text, 'latin1')
            return _latin1_encode
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only containers, "
                                     "bytes, numbers and numpy arrays are allowed")


def _latin1_encode(text, encoding="utf-8"):
    """The one use of ``_codecs.encode`` admitted: text -> bytes in latin-1."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


def restricted_load(data: bytes):
    """Unpickle ``data`` with ``RestrictedUnpickler`` (Python 2 strings read as bytes)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _key(d: dict, name: str):
    """d[name] whether the pickle stored str or bytes keys (Python 3 or 2)."""
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    raise KeyError(name)


def read_cifar_batch(path: str, label_key: str = "labels"):
    """One CIFAR batch file -> (uint8 images (N, 3, 32, 32), int64 labels (N,))."""
    try:
        batch = restricted_load(_read_bytes(path))
    except pickle.UnpicklingError as e:
        raise DatasetError(f"{path}: not a safe CIFAR batch: {e}") from None
    except (EOFError, ValueError, TypeError, IndexError, struct.error) as e:
        raise DatasetError(f"{path}: truncated or corrupt pickle ({e})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a dict in a CIFAR batch, got "
                           f"{type(batch).__name__}")
    try:
        images, labels = _key(batch, "data"), _key(batch, label_key)
    except KeyError as e:
        raise DatasetError(f"{path}: CIFAR batch has no {e.args[0]!r} entry") from None
    images = numpy.asarray(images)
    labels = numpy.asarray(labels)
    if images.dtype != numpy.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: CIFAR data must be uint8 of shape (N, 3072), got "
                           f"{images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{path}: CIFAR labels must be a list of ints, got "
                           f"{labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{path}: {len(images)} images but {len(labels)} labels")
    # (N, 3072) -> (N, 3, 32, 32): each row is the red plane, then green, then blue
    return images.reshape(-1, 3, 32, 32), labels.astype(numpy.int64)


def _read_cifar_meta(path: str, key: str) -> list:
    try:
        meta = restricted_load(_read_bytes(path))
        names = _key(meta, key)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise DatasetError(f"{path}: unreadable CIFAR meta file ({e})") from None
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


# ------------------------------------------------------------- the catalogue
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS = {
    "mnist": {
        "format": "idx", "files": MNIST_FILES,
        "urls": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"],
        "classes": [str(i) for i in range(10)],
        "apt": None,
    },
    "fashion-mnist": {
        "format": "idx", "files": MNIST_FILES,
        "urls": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                    "Shirt", "Sneaker", "Bag", "Ankle boot"],
        "apt": "dataset-fashion-mnist",
    },
    "cifar10": {
        "format": "cifar", "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"), "label_key": "labels",
        "urls": ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
        "md5": "c58f30108f718f92721af3b95e74349a",
    },
    "cifar100": {
        "format": "cifar", "folder": "cifar-100-python",
        "train": ["train"], "test": ["test"],
        "meta": ("meta", "fine_label_names"), "label_key": "fine_labels",
        "urls": ["https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"],
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
    },
    "digits": {"format": "sklearn"},
}
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "cifar-10": "cifar10", "cifar-100": "cifar100"}


def _canonical(name: str) -> str:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def cache_dir() -> str:
    """Where downloads go: ``MINICNN_DATA`` if set, else ~/.cache/minicnn."""
    env = os.environ.get("MINICNN_DATA")
    return env if env else os.path.join(os.path.expanduser("~"), ".cache", "minicnn")


def search_roots() -> list:
    """The directories searched for datasets, in order."""
    roots = []
    env = os.environ.get("MINICNN_DATA")
    if env:
        roots.append(env)
    roots.append(os.path.join(os.path.expanduser("~"), ".cache", "minicnn"))
    roots.extend(SYSTEM_ROOTS)
    return roots


def _find_idx(folder: str, stem: str):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def _idx_folder(name: str):
    """The first folder holding all four IDX files of ``name``, or None."""
    for root in search_roots():
        folder = os.path.join(root, name)
        if all(_find_idx(folder, stem) for stem in DATASETS[name]["files"]):
            return folder
    return None


def _cifar_folder(name: str):
    spec = DATASETS[name]
    for root in search_roots():
        for folder in (os.path.join(root, name), os.path.join(root, name, spec["folder"]),
                       os.path.join(root, spec["folder"])):
            if all(os.path.isfile(os.path.join(folder, f)) for f in spec["train"] + spec["test"]):
                return folder
    return None


# ------------------------------------------------------------------- download
def _fetch(url: str, timeout: float = 30.0) -> bytes:
    """GET ``url`` (tests replace this to serve local bytes)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _atomic_write(path: str, data: bytes, verify=None) -> None:
    """Write ``data`` to a temp file beside ``path``, verify it, then rename it in."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_write(path, verify=verify) as f:
        f.write(data)


def download(name: str, root: str | None = None) -> str:
    """Download dataset ``name`` into ``root`` (default: ``cache_dir()``); returns its folder.

    Each file is fetched to a temporary file, verified, then renamed into place.
    Raises DataNotFoundError, naming every address tried, when none works.
    """
    name = _canonical(name)
    spec = DATASETS[name]
    if spec["format"] == "sklearn":
        raise ValueError("digits ships with scikit-learn; there is nothing to download")
    root = root or cache_dir()
    folder = os.path.join(root, name)
    errors = []
    if spec["format"] == "idx":
        for stem in spec["files"]:
            if _find_idx(folder, stem):
                continue
            for base in spec["urls"]:
                url = base + stem + ".gz"
                try:
                    data = _fetch(url)
                    _atomic_write(os.path.join(folder, stem + ".gz"), data, verify=read_idx)
                    break
                except (OSError, DatasetError) as e:
                    errors.append(f"{url}: {e}")
            else:
                raise DataNotFoundError(f"could not download {name}: {'; '.join(errors)}")
        return folder
    for url in spec["urls"]:
        try:
            data = _fetch(url)
        except OSError as e:
            errors.append(f"{url}: {e}")
            continue
        digest = hashlib.md5(data).hexdigest()
        if digest != spec["md5"]:
            errors.append(f"{url}: checksum {digest} != expected {spec['md5']}")
            continue
        _extract_cifar(name, data, folder)
        return folder
    raise DataNotFoundError(f"could not download {name}: {'; '.join(errors)}")


def _extract_cifar(name: str, archive: bytes, folder: str) -> None:
    """Unpack the batch files of a CIFAR tarball into ``folder``, each atomically."""
    spec = DATASETS[name]
    wanted = set(spec["train"] + spec["test"] + [spec["meta"][0]])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            base = os.path.basename(member.name)
            if member.isfile() and base in wanted:
                data = tar.extractfile(member).read()
                _atomic_write(os.path.join(folder, base), data)


def _how_to_get(name: str) -> str:
    spec = DATASETS[name]
    where = os.path.join(cache_dir(), name)
    hint = (f"no copy of {name} found in {', '.join(search_roots())} and the download "
            f"failed; put the files in {where} (or set MINICNN_DATA)")
    if spec.get("apt"):
        hint += f", or run: sudo apt-get install {spec['apt']}"
    return hint


# -------------------------------------------------------------------- loaders
def _locate(name: str, find_folder, download_ok: bool) -> str:
    """The dataset's folder: found on the search path, else downloaded when allowed."""
    folder = find_folder(name)
    if folder is None and download_ok:
        try:
            download(name)
        except DataNotFoundError as e:
            raise DataNotFoundError(f"{_how_to_get(name)} ({e})") from None
        folder = find_folder(name)
    if folder is None:
        raise DataNotFoundError(_how_to_get(name))
    return folder


def _load_idx_dataset(name: str, download_ok: bool) -> DatasetArrays:
    folder = _locate(name, _idx_folder, download_ok)
    paths = [_find_idx(folder, stem) for stem in DATASETS[name]["files"]]
    arrays = [read_idx(p) for p in paths]
    splits = []
    for (images, labels), (ipath, lpath) in zip(((arrays[0], arrays[1]),
                                                 (arrays[2], arrays[3])),
                                                ((paths[0], paths[1]), (paths[2], paths[3]))):
        if images.ndim != 3 or images.dtype != numpy.uint8:
            raise DatasetError(f"{ipath}: expected uint8 images (N, H, W), got "
                               f"{images.dtype} {images.shape}")
        if labels.ndim != 1:
            raise DatasetError(f"{lpath}: expected labels (N,), got shape {labels.shape}")
        if len(images) != len(labels):
            raise DatasetError(f"{ipath}: {len(images)} images but {lpath} has "
                               f"{len(labels)} labels")
        # (N, H, W) -> (N, 1, H, W): one grey channel
        splits.append((images[:, None], labels.astype(numpy.int64)))
    return DatasetArrays(splits[0][0], splits[0][1], splits[1][0], splits[1][1],
                         list(DATASETS[name]["classes"]), name, folder)


def _load_cifar_dataset(name: str, download_ok: bool) -> DatasetArrays:
    spec = DATASETS[name]
    folder = _locate(name, _cifar_folder, download_ok)
    parts = {}
    for split in ("train", "test"):
        batches = [read_cifar_batch(os.path.join(folder, f), spec["label_key"])
                   for f in spec[split]]
        parts[split] = (numpy.concatenate([b[0] for b in batches]),
                        numpy.concatenate([b[1] for b in batches]))
    meta_path = os.path.join(folder, spec["meta"][0])
    n_classes = 10 if name == "cifar10" else 100
    if os.path.isfile(meta_path):
        classes = _read_cifar_meta(meta_path, spec["meta"][1])
    else:
        classes = [str(i) for i in range(n_classes)]
    return DatasetArrays(parts["train"][0], parts["train"][1], parts["test"][0],
                         parts["test"][1], classes, name, folder)


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> DatasetArrays:
    """scikit-learn's 1797 8x8 digits, scaled 0..16 -> 0..255, split train/test by ``seed``."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataNotFoundError("the digits dataset needs scikit-learn: "
                                "pip install scikit-learn") from None
    bunch = sk_load_digits()
    images = numpy.round(bunch.images * (255.0 / 16.0)).astype(numpy.uint8)
    images = images[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    labels = bunch.target.astype(numpy.int64)
    order = numpy.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return DatasetArrays(images[train], labels[train], images[test], labels[test],
                         [str(i) for i in range(10)], "digits", "scikit-learn")


def load_mnist(download: bool = True) -> DatasetArrays:
    """MNIST: 60000 + 10000 grey 28x28 handwritten digits."""
    return _load_idx_dataset("mnist", download)


def load_fashion_mnist(download: bool = True) -> DatasetArrays:
    """Fashion-MNIST: 60000 + 10000 grey 28x28 Zalando clothing images, 10 classes."""
    return _load_idx_dataset("fashion-mnist", download)


def load_cifar10(download: bool = True) -> DatasetArrays:
    """CIFAR-10: 50000 + 10000 colour 32x32 images, 10 classes."""
    return _load_cifar_dataset("cifar10", download)


def load_cifar100(download: bool = True) -> DatasetArrays:
    """CIFAR-100: 50000 + 10000 colour 32x32 images, 100 fine classes."""
    return _load_cifar_dataset("cifar100", download)


def load_dataset(name: str, download: bool = True) -> DatasetArrays:
    """Load a dataset by name: mnist, fashion-mnist, cifar10, cifar100 or digits."""
    key = _canonical(name)
    if key == "digits":
        return load_digits()
    if DATASETS[key]["format"] == "idx":
        return _load_idx_dataset(key, download)
    return _load_cifar_dataset(key, download)

