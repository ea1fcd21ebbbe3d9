"""Untrusted files: crafted CIFAR pickles, zip bombs, lying headers, and hypothesis-mutated
IDX, CIFAR and .npz files. Each must end in one error naming the file: never a crash,
a hang, code execution or an allocation beyond what the file justifies.

The attacks that could crash or exhaust memory run in a subprocess under an address
space limit (RLIMIT_AS), so a failure is a failed test, not a dead test runner.
"""
import gzip
import io
import os
import pickle
import resource
import subprocess
import sys
import textwrap
import zipfile

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn.data.datasets import (
    DatasetError,
    idx_bytes,
    read_cifar_batch,
    read_idx,
    restricted_load,
)

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space for the isolated reader


def run_limited(code: str, *args, limit: int = MEMORY_LIMIT, timeout: float = 60):
    """Run ``code`` in a fresh Python under RLIMIT_AS=limit; returns the CompletedProcess."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, preexec_fn=cap,
                          env=env)


def assert_one_line_error(result, *expected):
    """The isolated reader exited normally and printed one error line with ``expected``."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-800:]}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    for text in expected:
        assert text in lines[0], lines[0]


CIFAR_READER = """
    import sys
    from minicnn.data.datasets import DatasetError, read_cifar_batch
    try:
        read_cifar_batch(sys.argv[1])
        print("LOADED")
    except DatasetError as e:
        print(str(e).replace("\\n", " | "))
"""


# ------------------------------------------------------------ crafted pickles
class ObjectDtype:
    """numpy.dtype('O8') with __setstate__ flags 0: the object dtype, safety flags cleared."""

    def __reduce__(self):
        return (numpy.dtype, ("O8", False, True), (3, "|", None, None, None, 8, 8, 0))


class PointerArray:
    """An 'object' array whose elements are raw bytes 0x41...: forged pointers."""

    def __reduce__(self):
        return (numpy.ndarray.__reduce__(numpy.zeros(1))[0],
                (numpy.ndarray, (0,), b"b"),
                (1, (4,), ObjectDtype(), False, b"\x41" * 32))


class IntoFrozenset:
    """frozenset(forged array): iterating it would dereference the forged pointers."""

    def __reduce__(self):
        return (frozenset, (PointerArray(),))


class System:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


class CodecsTrick:
    """_codecs.encode asked for another codec than latin-1."""

    def __reduce__(self):
        import _codecs
        return (_codecs.encode, ("payload", "rot13"))


def nested(depth):
    """The forged array deep inside dicts, tuples and lists."""
    value = [PointerArray()]
    for _ in range(depth):
        value = {b"x": (value, {1, 2})}
    return {b"data": value, b"labels": [1]}


@pytest.mark.parametrize("payload,expected", [
    ({b"data": IntoFrozenset(), b"labels": [0]}, "not a safe CIFAR batch"),
    ({b"data": PointerArray(), b"labels": [0, 1, 2, 3]}, "refused dtype 'O8'"),
    ({b"data": [PointerArray()], b"labels": [0]}, "refused dtype 'O8'"),
    ({b"data": System(), b"labels": [0]}, "refused global"),
    ({b"data": CodecsTrick(), b"labels": [0]}, "refused _codecs.encode"),
    (nested(5), "refused dtype 'O8'"),
    (nested(100), "nested deeper than 64"),
], ids=["object-dtype-into-frozenset", "object-dtype-array", "nested-in-list", "os-system",
        "codecs-rot13", "nested-containers", "nested-too-deep"])
def test_crafted_cifar_pickles_are_refused_without_crashing(tmp_path, payload, expected):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    result = run_limited(CIFAR_READER, str(path), timeout=120)
    assert_one_line_error(result, str(path), expected)
    assert not (tmp_path / "pwned.txt").exists() and not os.path.exists("pwned.txt")


@pytest.mark.parametrize("state", [
    (3, "|", None, None, None, 8, 8, 63),       # the object dtype's own flags
    (3, "|", None, ("a",), {"a": 1}, 1, 1, 0),  # a structured dtype
    "not-a-tuple",
])
def test_dtype_states_other_than_plain_numbers_are_refused(state):
    class Dtype:
        def __reduce__(self):
            return (numpy.dtype, ("u1", False, True), state)

    class Array:
        def __reduce__(self):
            return (numpy.ndarray.__reduce__(numpy.zeros(1))[0], (numpy.ndarray, (0,), b"b"),
                    (1, (2,), Dtype(), False, b"\x00\x01"))
    with pytest.raises(pickle.UnpicklingError, match="refused dtype state"):
        restricted_load(pickle.dumps({"a": Array()}, protocol=2))


def test_array_byte_count_must_match_its_shape():
    good = pickle.dumps(numpy.zeros((2, 3), numpy.uint8), protocol=2)
    lying = good.replace(b"K\x02K\x03", b"K\x20K\x30")  # shape (2, 3) -> (32, 48)
    assert lying != good
    with pytest.raises(pickle.UnpicklingError, match=r"needs 1536 bytes, the pickle holds 6"):
        restricted_load(lying)


# ------------------------------------------------------------------ zip bombs
NPZ_READER = """
    import sys
    import minicnn
    try:
        minicnn.load(sys.argv[1])
        print("LOADED")
    except (ValueError, OSError) as e:
        print(str(e).replace("\\n", " | "))
"""


@pytest.mark.slow
def test_npz_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    count = 1_200_000_000 // 8  # 1.2 GB of float64 zeros, streamed into the archive
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("model.npy", "w", force_zip64=True) as member:
            numpy.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (count,)})
            chunk = bytes(1 << 24)
            for _ in range(count * 8 // len(chunk)):
                member.write(chunk)
            member.write(bytes(count * 8 % len(chunk)))
    assert path.stat().st_size < 8_000_000  # a few MB that would grow to 1.2 GB
    result = run_limited(NPZ_READER, str(path))
    assert_one_line_error(result, "bomb.npz", "declare", "max_bytes")


def test_npz_member_whose_header_lies_about_its_size(tmp_path):
    path = tmp_path / "liar.npz"
    buf = io.BytesIO()
    numpy.lib.format.write_array(buf, numpy.zeros(4))
    data = buf.getvalue().replace(b"(4,)", b"(400000000,)".ljust(4))  # header claims 3.2 GB
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", data)
    result = run_limited(NPZ_READER, str(path))
    assert_one_line_error(result, "liar.npz", "says shape (400000000,)")


@pytest.mark.slow
def test_gzip_bomb_idx_reads_only_what_the_header_justifies(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"\x00\x00\x08\x01" + (100).to_bytes(4, "big"))  # says: 100 labels
        chunk = bytes(1 << 24)
        for _ in range(48):                                     # then 768 MiB of zeros
            f.write(chunk)
    assert path.stat().st_size < 6_000_000  # more than the reader's whole memory limit
    code = """
        import sys
        from minicnn.data.datasets import DatasetError, read_idx
        try:
            read_idx(sys.argv[1])
            print("LOADED")
        except DatasetError as e:
            print(e)
    """
    result = run_limited(code, str(path), limit=512 << 20)
    assert_one_line_error(result, "train-labels-idx1-ubyte.gz", "wrong length",
                          "100 data bytes")


def test_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "weights.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="weights.npz' is not a regular file"):
        minicnn.load(str(fifo))
    with pytest.raises(DatasetError, match="weights.npz: not a regular file"):
        read_idx(str(fifo))


def test_huge_npy_header_is_a_value_error(tmp_path):
    path = tmp_path / "header.npz"
    header = b"\x93NUMPY\x02\x00" + (1_000_000).to_bytes(4, "little") + b"{" + b" " * 999_999
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", header)
    with pytest.raises(ValueError, match="header.npz"):
        minicnn.load(str(path))


# --------------------------------------------------------- mutated files (fuzz)
def valid_idx() -> bytes:
    return gzip.compress(idx_bytes(numpy.arange(2 * 3 * 4).reshape(2, 3, 4)), mtime=0)


def valid_cifar() -> bytes:
    batch = {b"data": numpy.arange(2 * 3072, dtype=numpy.uint64).astype(numpy.uint8)
             .reshape(2, 3072), b"labels": [1, 2]}
    return pickle.dumps(batch, protocol=2)


def valid_npz() -> bytes:
    buf = io.BytesIO()
    minicnn.serialization._write_npz(buf, {"__minicnn__": numpy.frombuffer(
        b'{"format": "minicnn-state-v1", "tree": {"dict": [["w", {"array": "w"}]]}}',
        numpy.uint8), "w": numpy.ones((2, 2), numpy.float32)})
    return buf.getvalue()


def mutations(original: bytes):
    """A valid file with a few bytes overwritten, a chunk cut out, or cut short."""
    n = len(original)
    flips = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1,
                     max_size=6)

    def flip(pairs):
        data = bytearray(original)
        for i, v in pairs:
            data[i] = v
        return bytes(data)
    cut = st.integers(0, n - 1).map(lambda k: original[:k])
    splice = st.tuples(st.integers(0, n - 1), st.integers(1, 64)).map(
        lambda t: original[:t[0]] + original[t[0] + t[1]:])
    return st.one_of(flips.map(flip), cut, splice)


READERS = {
    "idx": (valid_idx, "train-images-idx3-ubyte.gz", read_idx, (DatasetError,)),
    "cifar": (valid_cifar, "data_batch_1", read_cifar_batch, (DatasetError,)),
    "npz": (valid_npz, "weights.npz", minicnn.load, (ValueError,)),
}


@pytest.mark.parametrize("kind", sorted(READERS))
@given(data=st.data())
def test_mutated_files_load_or_fail_in_one_line_naming_the_file(tmp_path_factory, kind, data):
    make, name, reader, errors = READERS[kind]
    blob = data.draw(mutations(make()))
    path = tmp_path_factory.mktemp(kind) / name
    path.write_bytes(blob)
    try:
        reader(str(path))
    except errors as e:
        message = str(e)
        assert name in message, message
        assert len(message.strip().splitlines()) == 1, message
