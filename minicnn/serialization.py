"""Weight files: ``save(obj, path)`` and ``load(path)``, in NumPy's .npz format.

``obj`` is a state dict, or any nesting of dicts, lists and tuples of them, as a
training checkpoint is:

    minicnn.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
                  'epoch': 3}, 'checkpoint.npz')
    ckpt = minicnn.load('checkpoint.npz')
    model.load_state_dict(ckpt['model'])

Leaves may be arrays (NumPy; CuPy arrays are copied to the host; a minicnn
Tensor stores its data), NumPy scalars, Python numbers, bools, strings and None.

The file is a plain .npz archive (a zip of .npy files). Every array is one
member, named by its path in the structure joined with '/' (a flat state dict
keeps its own keys, so ``numpy.load(path)['conv1.weight']`` works anywhere);
everything else (the nesting, the dict keys, the numbers and strings) is one
JSON document stored as a uint8 array under ``__minicnn__`` (strict JSON: a
non-finite Python float is stored as ``{"float": "nan"}``, ``"inf"`` or
``"-inf"``). Loading never unpickles: a weights file is data, and opening one
never runs code. Object arrays are refused on save and on load.

Loading an untrusted file is bounded: only regular files are opened (a FIFO
or device is refused, not waited on); each member's .npy header is read
first, and its dtype must be a plain (non-object) one and its shape times
the item size must equal the size the zip directory declares for it, which
is all the reader will ever decompress; the declared sizes together must not
exceed ``max_bytes`` (1 GiB by default). A zip bomb or a lying header is
refused before the memory is allocated, with a ValueError naming the file.

The file is written atomically: into a temporary file in the same directory,
flushed and fsync'ed, then renamed over ``path`` with ``os.replace``; a crash
mid-write leaves the old file whole and no temporary behind. The file is
written to exactly ``path`` (unlike ``numpy.savez``, no ``.npz`` is appended).
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy

from minicnn.autograd import Tensor
from minicnn.backend import is_cupy_array
from minicnn.runtime.fileio import atomic_write

__all__ = ["save", "load"]

_META_KEY = "__minicnn__"
_FORMAT = "minicnn-state-v1"
DEFAULT_MAX_BYTES = 1 << 30
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# ------------------------------------------------------------------ encoding
class _Encoder:
    """Split ``obj`` into a JSON tree and a dict of arrays (npz member -> array).

    JSON nodes: a plain JSON number/bool/string/null is that Python value;
    ``{"dict": [[key, node], ...]}`` keeps int keys apart from str keys;
    ``{"list": [...]}``, ``{"tuple": [...]}``; ``{"array": member}`` an array;
    ``{"scalar": member}`` a NumPy scalar (stored as a 0-d array).
    """

    def __init__(self):
        self.arrays: dict[str, numpy.ndarray] = {}

    def _member_name(self, where: list) -> str:
        name = "/".join(str(part) for part in where) or "_"
        unique, n = name, 0
        while unique in self.arrays or unique == _META_KEY:
            n += 1
            unique = f"{name}~{n}"  # two paths that join to the same name
        return unique

    def _array(self, array, where: list):
        if is_cupy_array(array):
            array = array.get()  # the file holds host arrays
        if array.dtype.hasobject:
            raise TypeError(f"save: the array at {_show(where)} has dtype {array.dtype}; "
                            "object arrays would need pickle and cannot be saved")
        name = self._member_name(where)
        self.arrays[name] = array
        return name

    def encode(self, obj, where: list):
        # NumPy first: numpy.float64 is also a Python float, and must keep its type
        if isinstance(obj, numpy.generic):
            return {"scalar": self._array(numpy.asarray(obj), where)}
        if isinstance(obj, numpy.ndarray) or is_cupy_array(obj):
            return {"array": self._array(obj, where)}
        if isinstance(obj, Tensor):
            return {"array": self._array(obj.data, where)}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            if not math.isfinite(obj):  # JSON has no NaN: keep it strict
                return {"float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
            return float(obj)
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"save: dict keys must be str or int, got "
                                    f"{type(key).__name__} {key!r} at {_show(where)}")
                items.append([key, self.encode(value, where + [key])])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {kind: [self.encode(v, where + [i]) for i, v in enumerate(obj)]}
        raise TypeError(
            f"save: cannot store a {type(obj).__name__} at {_show(where)}; expected "
            "arrays, Tensors, numbers, bools, strings, None, and dicts/lists/tuples of them")


def _show(where: list) -> str:
    return "the top level" if not where else "'" + "/".join(str(p) for p in where) + "'"


def _write_npz(f, arrays: dict) -> None:
    """Write ``arrays`` as an uncompressed .npz into the open binary file ``f``.

    This is what ``numpy.savez`` does, without its keyword arguments, so a
    state-dict key such as 'file' cannot collide with them.
    """
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                numpy.lib.format.write_array(member, numpy.asanyarray(array),
                                             allow_pickle=False)


def save(obj, path) -> None:
    """Write ``obj`` (a state dict, possibly nested) to ``path``, atomically.

    Args:
        obj: a dict (or list/tuple) of arrays, Tensors, numbers, strings, None
            and nested dicts/lists/tuples of them. Dict keys: str or int.
        path: str or os.PathLike; the file is written to exactly this path.
    Raises:
        TypeError: for a value that cannot be stored (it names where it is);
            nothing is written then.
    """
    path = os.fspath(path)
    encoder = _Encoder()
    tree = encoder.encode(obj, [])  # every TypeError comes before any file exists
    document = json.dumps({"format": _FORMAT, "tree": tree}, allow_nan=False).encode("utf-8")
    arrays = {_META_KEY: numpy.frombuffer(document, dtype=numpy.uint8)}
    arrays.update(encoder.arrays)

    with atomic_write(path) as f:
        _write_npz(f, arrays)


# ------------------------------------------------------------------ decoding
class _Corrupt(Exception):
    """Raised inside ``load`` for a structural problem; becomes a ValueError."""


def _decode(node, arrays: dict):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise _Corrupt(f"unexpected entry {node!r:.80} in the structure document")
    (kind, value), = node.items()
    if kind == "float":
        if value not in _NON_FINITE:
            raise _Corrupt(f"unknown float {value!r:.40} in the structure document")
        return _NON_FINITE[value]
    if kind in ("array", "scalar"):
        if not isinstance(value, str) or value not in arrays:
            raise _Corrupt(f"the structure refers to an array {value!r} that the "
                           "archive does not hold")
        return arrays[value] if kind == "array" else arrays[value][()]
    if kind == "dict":
        out = {}
        if not isinstance(value, list):
            raise _Corrupt(f"malformed dict {value!r:.80}")
        for item in value:
            if not isinstance(item, list) or len(item) != 2:
                raise _Corrupt(f"malformed dict item {item!r:.80}")
            if isinstance(item[0], bool) or not isinstance(item[0], (str, int)):
                raise _Corrupt(f"malformed dict key {item[0]!r:.80}")
            out[item[0]] = _decode(item[1], arrays)
        return out
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [_decode(v, arrays) for v in value]
        return tuple(items) if kind == "tuple" else items
    raise _Corrupt(f"unknown entry kind {kind!r} in the structure document")


def _member_header(archive, info):
    """(shape, dtype, header length) of the .npy member ``info``, reading only its header."""
    with archive.open(info) as member:
        version = numpy.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = numpy.lib.format.read_array_header_2_0(member)
        else:
            raise _Corrupt(f"its member {info.filename!r} has .npy version {version}")
        return shape, dtype, member.tell(), fortran


def _read_archive(f, path: str, max_bytes: int) -> dict:
    """All members of the .npz in the open file ``f``, as {name: array}, each checked
    header-first (see the module docstring) before its data is read."""
    magic = f.read(6)
    f.seek(0)
    if len(magic) == 0:
        raise _Corrupt("the file is empty")
    if magic == b"\x93NUMPY":
        raise _Corrupt("it holds a single .npy array, not an .npz archive")
    if not magic.startswith(b"PK"):
        # numpy.load would take it for a pickle; say what it really is not
        raise _Corrupt(f"it is not an .npz (zip) archive: it starts with {magic!r}")
    arrays = {}
    with zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes:
            raise _Corrupt(f"its members declare {declared} bytes uncompressed, more than "
                           f"max_bytes={max_bytes} (a zip bomb, or pass a larger max_bytes "
                           "if you trust the file)")
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise _Corrupt(f"its member {name!r} is not a .npy array")
            shape, dtype, header, fortran = _member_header(archive, info)
            if dtype.hasobject:
                raise ValueError("allow_pickle: object arrays are never loaded")
            if not all(isinstance(d, int) and d >= 0 for d in shape):
                raise _Corrupt(f"its member {name!r} has a bad shape {shape!r:.80}")
            size = math.prod(shape) * dtype.itemsize
            if header + size != info.file_size:
                raise _Corrupt(f"its member {name!r} says shape {shape} of {dtype} "
                               f"({size} bytes) but the archive declares "
                               f"{info.file_size - header} bytes of data")
            with archive.open(info) as member:
                member.seek(header)
                data = member.read(size)
            if len(data) != size:
                raise _Corrupt(f"its member {name!r} is truncated")
            array = numpy.frombuffer(data, dtype=dtype)
            arrays[name[:-4]] = array.reshape(shape, order="F" if fortran else "C").copy(
                order="K")
    return arrays


def load(path, max_bytes: int = DEFAULT_MAX_BYTES):
    """Read a file written by ``save`` (or any .npz of plain arrays) back.

    ``max_bytes`` bounds the total uncompressed size the archive may declare
    (default 1 GiB); every member is checked header-first before it is read.

    Returns the saved structure: dicts (with their str and int keys), lists,
    tuples, NumPy arrays of the saved dtypes and shapes (0-d ones included),
    NumPy scalars, numbers, strings, None. A .npz made by ``numpy.savez``
    loads as a dict of its arrays.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, not an .npz archive, not a
            regular file, larger than ``max_bytes`` uncompressed, or holds
            pickled (object) arrays, which are never loaded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"load: no such weights file: {path!r}", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"load: {path!r} is a directory, "
                                "not a weights file", path)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"load: {path!r} is not a regular file (a FIFO, socket or device); "
                         "weights are read from regular files only")
    try:
        with open(path, "rb") as f:
            arrays = _read_archive(f, path, max_bytes)
        if _META_KEY not in arrays:
            return arrays  # a plain .npz of named arrays
        meta = arrays.pop(_META_KEY)
        if meta.dtype != numpy.uint8 or meta.ndim != 1:
            raise _Corrupt(f"its {_META_KEY} entry is {meta.dtype} {meta.shape}, "
                           "expected a uint8 vector")
        document = json.loads(meta.tobytes().decode("utf-8"))
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            found = document.get("format") if isinstance(document, dict) else None
            raise _Corrupt(f"unknown format {found!r} (this minicnn reads {_FORMAT!r})")
        obj = _decode(document.get("tree"), arrays)
    except PermissionError:
        raise
    except _Corrupt as e:
        raise ValueError(f"load: {path!r} is not a valid minicnn weights file: {e}") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError(
                f"load: {path!r} holds pickled data (an object array); weights files are "
                "loaded with allow_pickle=False and pickled data is never loaded") from None
        raise ValueError(f"load: {path!r} is not a valid minicnn weights file: it is "
                         f"corrupt ({type(e).__name__}: {e})") from None
    except MemoryError:
        raise ValueError(f"load: {path!r} is not a valid minicnn weights file: it asks for "
                         "more memory than is available") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, KeyError,
            struct.error, UnicodeDecodeError, RecursionError, NotImplementedError,
            OverflowError, TypeError, SyntaxError) as e:
        raise ValueError(f"load: {path!r} is not a valid minicnn weights file: it is "
                         f"truncated or corrupt ({type(e).__name__}: {e})") from None
    return obj
