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
   directory, is verified (its size and SHA-256 against the official files'
   values pinned in ``DATASETS``, then a full parse), and only then renamed
   into place, so a cache never holds a half-written or substituted file.

Each root is searched for ``ROOT/<name>/FILE`` (for CIFAR also the official
archive folder, ``ROOT/cifar-10-batches-py/FILE``). IDX files may be gzipped
(``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).

CIFAR batches are Python pickles. They are read with ``RestrictedUnpickler``,
which never lets the pickle build a NumPy object: NumPy's reconstruction
functions are replaced by stand-ins that only record the shape, the dtype
string and the raw bytes, and the array is built afterwards with
``numpy.frombuffer`` from a fixed list of plain numeric dtypes, once the byte
count matches the shape. A malicious file cannot run code, forge an object
array, or make the reader allocate more than the file's own size.

Every file is read with bounds set by its header (IDX: dims x element size must
equal the decompressed size, which is read incrementally and never past it)
and labels are checked against the class count when the dataset is loaded;
every error is one line naming the file.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import stat
import struct
import tarfile
import urllib.request
import zlib
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


MAX_IDX_BYTES = 1 << 30     # 1 GiB: the MNIST training images are 47 MB
MAX_PICKLE_BYTES = 400 << 20  # a CIFAR batch: at most 50000 x 3072 bytes + labels
_CHUNK = 1 << 20


def _open_regular(path: str):
    """Open ``path`` for binary reading; a FIFO, device or directory is refused."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    if not stat.S_ISREG(mode):
        raise DatasetError(f"{path}: not a regular file")
    return open(path, "rb")


def _is_gzip(path: str) -> bool:
    with _open_regular(path) as f:
        return path.endswith(".gz") or f.read(2) == b"\x1f\x8b"


def _open_data(path: str):
    """The file's decompressed byte stream (gzip when it ends in .gz or starts with
    gzip's magic), read lazily: nothing is decompressed until asked for."""
    if _is_gzip(path):
        return gzip.GzipFile(fileobj=_open_regular(path), mode="rb")
    return _open_regular(path)


def _read(stream, n: int, path: str) -> bytes:
    """Up to ``n`` bytes from ``stream``; a broken gzip stream is a DatasetError."""
    try:
        return stream.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: unreadable gzip data ({e}); delete the file and "
                           "fetch it again") from None


def _read_exactly(stream, n: int, path: str, what: str) -> bytes:
    """``n`` bytes from ``stream`` in chunks (never more than ``n`` are decompressed)."""
    parts, left = [], n
    while left > 0:
        chunk = _read(stream, min(left, _CHUNK), path)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    if left > 0:
        raise DatasetError(f"{path}: wrong length: header says {what} ({n} data bytes) but "
                           f"the file has only {n - left}")
    return b"".join(parts)


def _read_bytes(path: str, limit: int = MAX_PICKLE_BYTES) -> bytes:
    """The file's bytes, un-gzipped when gzipped, refusing more than ``limit`` bytes."""
    with _open_data(path) as stream:
        data = _read(stream, limit + 1, path)
    if len(data) > limit:
        raise DatasetError(f"{path}: larger than {limit} bytes (decompressed); not a "
                           "dataset file this reader accepts")
    return data


def read_idx(path: str) -> numpy.ndarray:
    """Read an IDX file (the MNIST format), gzipped or raw.

    Layout: two zero bytes, a type code (0x08 = uint8), the number of
    dimensions D, then D big-endian uint32 sizes, then the data. The header is
    read first; the data must be exactly prod(sizes) x element size bytes
    (at most ``MAX_IDX_BYTES``), which is all that is ever decompressed.
    """
    with _open_data(path) as stream:
        magic = _read(stream, 4, path)
        if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
            raise DatasetError(f"{path}: bad magic number {magic.hex() or '(empty file)'}; "
                               "not an IDX file")
        dtype = numpy.dtype(_IDX_DTYPES[magic[2]])
        ndim = magic[3]
        if ndim == 0:
            raise DatasetError(f"{path}: truncated IDX header (0 dimensions)")
        dims = _read(stream, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise DatasetError(f"{path}: truncated IDX header ({4 + len(dims)} bytes, "
                               f"{ndim} dimensions)")
        shape = struct.unpack(f">{ndim}I", dims)
        expected = math.prod(shape) * dtype.itemsize
        if expected > MAX_IDX_BYTES:
            raise DatasetError(f"{path}: header says shape {shape} ({expected} data bytes), "
                               f"more than the {MAX_IDX_BYTES} this reader accepts")
        data = _read_exactly(stream, expected, path, f"shape {shape}")
        extra = _read(stream, 1, path)
        if extra:
            raise DatasetError(f"{path}: wrong length: header says shape {shape} "
                               f"({expected} data bytes) but the file has more")
    return numpy.frombuffer(data, dtype=dtype).reshape(shape)


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
class _DtypeRecord:
    """Stands in for ``numpy.dtype(name, align, copy)`` in a pickle: records the
    name and the ``__setstate__`` tuple; ``to_dtype`` admits plain numbers only."""

    def __init__(self, name=None, align=False, copy=False):
        self.name, self.state = name, None

    def __setstate__(self, state):
        self.state = state

    def to_dtype(self) -> numpy.dtype:
        if self.name not in _PLAIN_DTYPES:
            raise pickle.UnpicklingError(f"refused dtype {self.name!r:.40}: only plain "
                                         f"numeric dtypes ({', '.join(_PLAIN_DTYPES)})")
        order = "|"
        if self.state is not None:
            # (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
            st = self.state
            if not (isinstance(st, tuple) and len(st) == 8 and st[1] in ("<", ">", "|", "=")
                    and st[2:5] == (None, None, None) and st[5:7] == (-1, -1)
                    and st[7] == 0):
                raise pickle.UnpicklingError(f"refused dtype state {st!r:.80}: not a plain "
                                             "numeric dtype")
            order = st[1]
        dtype = numpy.dtype(self.name)
        return dtype.newbyteorder(order) if order in "<>" else dtype


_PLAIN_DTYPES = ("b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8")


class _ArrayRecord:
    """Stands in for a pickled ndarray: records shape, dtype and raw bytes only."""

    def __init__(self, shape=None, dtype=None, data=None, order="C"):
        self.shape, self.dtype, self.data, self.order = shape, dtype, data, order

    def __setstate__(self, state):
        # ndarray.__reduce__'s state: (version, shape, dtype, is_fortran, raw bytes)
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError(f"refused array state {state!r:.80}")
        _, self.shape, self.dtype, fortran, self.data = state
        self.order = "F" if fortran else "C"

    def to_array(self) -> numpy.ndarray:
        if not isinstance(self.dtype, _DtypeRecord):
            raise pickle.UnpicklingError("refused array: its dtype is not a pickled dtype")
        dtype = self.dtype.to_dtype()
        shape = self.shape
        if not (isinstance(shape, tuple) and len(shape) <= 32 and all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise pickle.UnpicklingError(f"refused array shape {shape!r:.80}")
        if not isinstance(self.data, (bytes, bytearray)):
            raise pickle.UnpicklingError(f"refused array data of type "
                                         f"{type(self.data).__name__}: expected raw bytes")
        expected = math.prod(shape) * dtype.itemsize
        if len(self.data) != expected:
            raise pickle.UnpicklingError(f"array of shape {shape} and dtype {dtype} needs "
                                         f"{expected} bytes, the pickle holds "
                                         f"{len(self.data)}")
        flat = numpy.frombuffer(bytes(self.data), dtype=dtype)
        return flat.reshape(shape, order=self.order if self.order in ("C", "F") else "C")


def _reconstruct_record(cls=None, shape=None, typecode=None):
    """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an empty record to be filled."""
    return _ArrayRecord()


def _frombuffer_record(buf, dtype, shape, order="C"):
    """numpy's pickle-protocol-5 ``_frombuffer(buffer, dtype, shape, order)``."""
    if isinstance(buf, pickle.PickleBuffer):
        buf = bytes(buf)
    return _ArrayRecord(shape, dtype, buf, order)


def _materialize(obj, depth: int = 0):
    """Replace every record in the unpickled containers by its array, checked."""
    if depth > 64:
        raise pickle.UnpicklingError("refused: containers nested deeper than 64 levels")
    if isinstance(obj, _ArrayRecord):
        return obj.to_array()
    if isinstance(obj, _DtypeRecord):
        return obj.to_dtype()
    if isinstance(obj, dict):
        return {_materialize(k, depth + 1): _materialize(v, depth + 1)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, depth + 1) for v in obj)
    if isinstance(obj, (set, frozenset)):
        if any(isinstance(v, (_ArrayRecord, _DtypeRecord)) for v in obj):
            raise pickle.UnpicklingError("refused: an array or dtype inside a set")
        return obj
    return obj


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, bytes, numbers and plain NumPy arrays.

    Pickle can call any importable function while loading (that is how
    ``__reduce__`` works), so a crafted file could run code; and a pickle allowed
    to call NumPy's own reconstruction could forge an object-dtype array from raw
    bytes (pointers). Here NumPy's names map to stand-ins that only *record* the
    shape, dtype string and bytes (``_ArrayRecord``, ``_DtypeRecord``); the
    arrays are built after loading with ``numpy.frombuffer`` from plain numeric
    dtypes, once the byte count matches. Anything else raises
    ``pickle.UnpicklingError``.
    """

    STAND_INS = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_record,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_record,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer_record,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer_record,
        ("numpy", "ndarray"): _ArrayRecord,
        ("numpy", "dtype"): _DtypeRecord,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
    }

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            # Python 3 writes bytes in protocol 2 as _codecs.encode(text, 'latin1')
            return _latin1_encode
        if (module, name) in self.STAND_INS:
            return self.STAND_INS[(module, name)]
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only containers, "
                                     "bytes, numbers and numpy arrays are allowed")


def _latin1_encode(text, encoding="utf-8"):
    """The one use of ``_codecs.encode`` admitted: text -> bytes in latin-1."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r:.40})")
    return text.encode("latin1")


def restricted_load(data: bytes):
    """Unpickle ``data`` with ``RestrictedUnpickler`` (Python 2 strings read as bytes).

    Raises ``pickle.UnpicklingError`` for anything refused or malformed.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
        return _materialize(obj)
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            struct.error, RecursionError, MemoryError, OverflowError) as e:
        raise pickle.UnpicklingError(f"truncated or corrupt pickle "
                                     f"({type(e).__name__}: {str(e)[:80]})") from None


def _key(d: dict, name: str):
    """d[name] whether the pickle stored str or bytes keys (Python 3 or 2)."""
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    raise KeyError(name)


MAX_CIFAR_IMAGES = 50000  # the largest official file (CIFAR-100's train)


def read_cifar_batch(path: str, label_key: str = "labels", num_classes: int | None = None):
    """One CIFAR batch file -> (uint8 images (N, 3, 32, 32), int64 labels (N,)).

    The batch must be a dict whose data is a uint8 (N, 3072) array, N <= 50000
    (an official file holds 10000, CIFAR-100's train 50000), and whose labels
    are N ints, each in [0, num_classes) when ``num_classes`` is given.
    """
    try:
        batch = restricted_load(_read_bytes(path))
    except pickle.UnpicklingError as e:
        raise DatasetError(f"{path}: not a safe CIFAR batch: {e}") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a dict in a CIFAR batch, got "
                           f"{type(batch).__name__}")
    try:
        images, labels = _key(batch, "data"), _key(batch, label_key)
    except KeyError as e:
        raise DatasetError(f"{path}: CIFAR batch has no {e.args[0]!r} entry") from None
    if not isinstance(images, numpy.ndarray) or images.dtype != numpy.uint8 or \
            images.ndim != 2 or images.shape[1] != 3 * 32 * 32 or \
            images.shape[0] > MAX_CIFAR_IMAGES:
        raise DatasetError(f"{path}: CIFAR data must be uint8 of shape (N, 3072), N <= "
                           f"{MAX_CIFAR_IMAGES}, got {_describe(images)}")
    labels = _int_labels(labels, path)
    if len(images) != len(labels):
        raise DatasetError(f"{path}: {len(images)} images but {len(labels)} labels")
    if num_classes is not None:
        check_labels(labels, num_classes, path)
    # (N, 3072) -> (N, 3, 32, 32): each row is the red plane, then green, then blue
    return images.reshape(-1, 3, 32, 32), labels


def _describe(value) -> str:
    if isinstance(value, numpy.ndarray):
        return f"{value.dtype} {value.shape}"
    return type(value).__name__


def _int_labels(labels, path: str) -> numpy.ndarray:
    """A list of ints (or an int array) -> int64 (N,); DatasetError otherwise."""
    if isinstance(labels, numpy.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetError(f"{path}: CIFAR labels must be a list of ints, got "
                               f"{_describe(labels)}")
        return labels.astype(numpy.int64)
    if not isinstance(labels, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise DatasetError(f"{path}: CIFAR labels must be a list of ints, got "
                           f"{type(labels).__name__}")
    if any(not -2**63 <= v < 2**63 for v in labels):
        raise DatasetError(f"{path}: CIFAR labels must be a list of ints in int64's range")
    return numpy.asarray(labels, dtype=numpy.int64).reshape(-1)


def check_labels(labels, num_classes: int, path: str) -> None:
    """DatasetError naming ``path`` and the first label outside [0, num_classes)."""
    bad = numpy.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        i = int(bad[0])
        raise DatasetError(f"{path}: label {int(labels[i])} at index {i} is outside "
                           f"[0, {num_classes}) ({len(bad)} bad labels); the file is "
                           "corrupt or belongs to another dataset")


def _read_cifar_meta(path: str, key: str, num_classes: int) -> list:
    try:
        meta = restricted_load(_read_bytes(path))
        names = _key(meta, key) if isinstance(meta, dict) else None
    except (pickle.UnpicklingError, KeyError) as e:
        raise DatasetError(f"{path}: unreadable CIFAR meta file ({e})") from None
    if not isinstance(names, list) or len(names) != num_classes or not all(
            isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{path}: CIFAR meta {key!r} must be a list of "
                           f"{num_classes} names")
    try:
        return [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: CIFAR class names are not UTF-8 ({e})") from None


# ------------------------------------------------------------- the catalogue
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# The official files' sizes and SHA-256 digests ("checksums": file -> (bytes, sha256)).
# MNIST and Fashion-MNIST: the digests used by Keras/torchvision-style loaders of
# the official files (Fashion-MNIST also publishes MD5s in its README, which match);
# CIFAR: the archives' SHA-256 (Keras pins the same), cross-checked with the MD5s
# on the CIFAR page (c58f3010... for CIFAR-10, eb9058c3... for CIFAR-100).
MNIST_CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (
        9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (
        28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (
        1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (
        4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
FASHION_MNIST_CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (
        26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte.gz": (
        29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte.gz": (
        4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte.gz": (
        5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}

DATASETS = {
    "mnist": {
        "format": "idx", "files": MNIST_FILES,
        "urls": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"],
        "classes": [str(i) for i in range(10)],
        "apt": None,
        "checksums": MNIST_CHECKSUMS,
    },
    "fashion-mnist": {
        "format": "idx", "files": MNIST_FILES,
        "urls": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                    "Shirt", "Sneaker", "Bag", "Ankle boot"],
        "apt": "dataset-fashion-mnist",
        "checksums": FASHION_MNIST_CHECKSUMS,
    },
    "cifar10": {
        "format": "cifar", "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"), "label_key": "labels",
        "urls": ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
        "checksums": {"cifar-10-python.tar.gz": (
            170498071, "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")},
    },
    "cifar100": {
        "format": "cifar", "folder": "cifar-100-python",
        "train": ["train"], "test": ["test"],
        "meta": ("meta", "fine_label_names"), "label_key": "fine_labels",
        "urls": ["https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"],
        "checksums": {"cifar-100-python.tar.gz": (
            169001437, "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7")},
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
def _fetch(url: str, timeout: float = 30.0, limit: int = 200 << 20) -> bytes:
    """GET ``url``, at most ``limit`` bytes (tests replace this to serve local bytes)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"more than {limit} bytes; not the official file")
    return data


def _verify_download(name: str, filename: str, data: bytes) -> str | None:
    """None if ``data`` has the pinned size and SHA-256 of ``filename``, else why not."""
    size, sha256 = DATASETS[name]["checksums"][filename]
    if len(data) != size:
        return f"{len(data)} bytes, the official {filename} has {size}"
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        return f"checksum sha256 {digest} != the official {filename}'s {sha256}"
    return None


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
                    wrong = _verify_download(name, stem + ".gz", data)
                    if wrong:
                        errors.append(f"{url}: {wrong}")
                        continue
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
        wrong = _verify_download(name, url.rsplit("/", 1)[-1], data)
        if wrong:
            errors.append(f"{url}: {wrong}")
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
        check_labels(labels, len(DATASETS[name]["classes"]), lpath)
        # (N, H, W) -> (N, 1, H, W): one grey channel
        splits.append((images[:, None], labels.astype(numpy.int64)))
    return DatasetArrays(splits[0][0], splits[0][1], splits[1][0], splits[1][1],
                         list(DATASETS[name]["classes"]), name, folder)


def _load_cifar_dataset(name: str, download_ok: bool) -> DatasetArrays:
    spec = DATASETS[name]
    folder = _locate(name, _cifar_folder, download_ok)
    parts = {}
    for split in ("train", "test"):
        n_classes = 10 if name == "cifar10" else 100
        batches = [read_cifar_batch(os.path.join(folder, f), spec["label_key"], n_classes)
                   for f in spec[split]]
        parts[split] = (numpy.concatenate([b[0] for b in batches]),
                        numpy.concatenate([b[1] for b in batches]))
    meta_path = os.path.join(folder, spec["meta"][0])
    n_classes = 10 if name == "cifar10" else 100
    if os.path.isfile(meta_path):
        classes = _read_cifar_meta(meta_path, spec["meta"][1], n_classes)
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

