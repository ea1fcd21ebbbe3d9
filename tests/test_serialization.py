"""minicnn.serialization: save/load round trips, atomic writes, refusing bad files."""
import os
import pathlib
import zipfile

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import serialization
from minicnn.autograd import Tensor
from minicnn.serialization import load, save

DTYPES = [numpy.float16, numpy.float32, numpy.float64, numpy.int8, numpy.int32,
          numpy.int64, numpy.uint8, numpy.bool_, numpy.complex128]


def assert_same(a, b, where="top"):
    """Equal values, equal types, equal dtypes and shapes, recursively."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}/{i}")
    elif isinstance(a, (numpy.ndarray, numpy.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        numpy.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and numpy.isnan(a):
        assert numpy.isnan(b), where
    else:
        assert a == b, where


def checkpoint():
    rng = numpy.random.default_rng(0)
    model = {"conv1.weight": rng.standard_normal((4, 1, 3, 3)).astype(numpy.float32),
             "bn1.running_mean": numpy.zeros(4, dtype=numpy.float32),
             "bn1.num_batches_tracked": numpy.array(7, dtype=numpy.int64)}
    optimizer = {"state": {0: {"step": 3, "exp_avg": rng.standard_normal((4, 1, 3, 3))}},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False,
                                   "params": [0, 1]}]}
    return {"model": model, "optimizer": optimizer, "epoch": 3, "best": float("inf"),
            "nan": float("nan"), "note": "run 1", "none": None,
            "rng": {"seed": 2**40, "state": rng.integers(0, 2**32, 8, dtype=numpy.uint64)},
            "scalar": numpy.float32(0.25), "history": [0.5, numpy.float64(0.25), (1, "a")]}


def test_checkpoint_round_trip_is_exact(tmp_path):
    obj = checkpoint()
    save(obj, tmp_path / "ckpt.npz")
    back = load(tmp_path / "ckpt.npz")
    assert_same(obj, back)
    assert back["model"]["bn1.num_batches_tracked"].shape == ()  # 0-d stays an array


def test_flat_state_dict_keeps_its_keys_in_the_npz(tmp_path):
    sd = checkpoint()["model"]
    save(sd, str(tmp_path / "w.npz"))
    with numpy.load(tmp_path / "w.npz", allow_pickle=False) as plain:
        assert set(plain.files) == set(sd) | {"__minicnn__"}
        numpy.testing.assert_array_equal(plain["conv1.weight"], sd["conv1.weight"])


def test_tensor_values_are_stored_as_their_data(tmp_path):
    t = Tensor(numpy.arange(6.0).reshape(2, 3), requires_grad=True)
    save({"w": t}, tmp_path / "t.npz")
    back = load(tmp_path / "t.npz")["w"]
    assert isinstance(back, numpy.ndarray) and back.dtype == numpy.float64
    numpy.testing.assert_array_equal(back, t.data)


def test_awkward_keys(tmp_path):
    """Keys that join to the same member name, numpy.savez's own argument names,
    the metadata's name, int keys next to equal str keys."""
    obj = {"a/b": numpy.ones(1), "a": {"b": numpy.zeros(1)}, "file": numpy.ones(2),
           "__minicnn__": numpy.ones(3), 1: numpy.full(1, 5.0), "1": numpy.full(1, 6.0),
           "": numpy.ones(4), "allow_pickle": True}
    save(obj, tmp_path / "k.npz")
    assert_same(obj, load(tmp_path / "k.npz"))


@given(st.lists(st.tuples(st.sampled_from(DTYPES),
                          st.lists(st.integers(0, 3), min_size=0, max_size=3)),
                min_size=1, max_size=4),
       st.booleans())
def test_round_trip_drawn_dtypes_and_shapes(tmp_path_factory, specs, nested):
    rng = numpy.random.default_rng(len(specs))
    arrays = {f"p{i}": numpy.asarray(rng.standard_normal(shape) * 100).astype(dtype)
              for i, (dtype, shape) in enumerate(specs)}
    obj = {"outer": [arrays, {"k": 1}]} if nested else arrays
    path = tmp_path_factory.mktemp("drawn") / "x.npz"
    save(obj, path)
    assert_same(obj, load(path))


def test_path_is_used_exactly(tmp_path):
    save({"a": numpy.ones(2)}, tmp_path / "weights.bin")
    save({"a": numpy.ones(2)}, pathlib.PurePath(tmp_path / "noext"))
    assert sorted(os.listdir(tmp_path)) == ["noext", "weights.bin"]
    numpy.testing.assert_array_equal(load(str(tmp_path / "weights.bin"))["a"], numpy.ones(2))


def test_overwrite_keeps_permissions(tmp_path):
    path = tmp_path / "w.npz"
    save({"a": numpy.ones(1)}, path)
    os.chmod(path, 0o640)
    save({"a": numpy.zeros(1)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert load(path)["a"][0] == 0


def test_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    old = {"a": numpy.arange(5.0)}
    save(old, path)

    def crash(f, arrays):  # write part of an archive, then die
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("power cut")

    monkeypatch.setattr(serialization, "_write_npz", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        save({"a": numpy.zeros(5)}, path)
    assert os.listdir(tmp_path) == ["w.npz"], "the temporary file must be removed"
    assert_same(old, load(path))


def test_failed_rename_removes_the_temp_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(serialization.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        save({"a": numpy.ones(1)}, tmp_path / "w.npz")
    assert os.listdir(tmp_path) == []


def test_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")
                       if os.path.exists("/proc/self/fd") else fd))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(serialization.os, "fsync", fsync)
    monkeypatch.setattr(serialization.os, "replace", replace)
    save({"a": numpy.ones(1)}, tmp_path / "w.npz")
    kinds = [kind for kind, _ in events]
    assert kinds.index("fsync") < kinds.index("replace")
    temp = events[kinds.index("replace")][1]
    assert os.path.dirname(temp) == str(tmp_path), "the temp file must sit beside the target"
    assert events[0] == ("fsync", temp) or not os.path.exists("/proc/self/fd")


def test_unsaveable_values_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="object arrays would need pickle"):
        save({"a": {"b": numpy.array([{}, 1], dtype=object)}}, tmp_path / "o.npz")
    with pytest.raises(TypeError, match="cannot store a set at 'x/0'"):
        save({"x": [{1, 2}]}, tmp_path / "s.npz")
    with pytest.raises(TypeError, match="dict keys must be str or int, got float"):
        save({1.5: numpy.ones(1)}, tmp_path / "f.npz")
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such weights file.*nope.npz"):
        load(tmp_path / "nope.npz")


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.0])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "w.npz"
    save(checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(ValueError, match=r"load: '.*w\.npz' is not a valid minicnn weights "
                                         r"file: (it is truncated or corrupt|the file is empty)"):
        load(path)


def test_flipped_byte_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "w.npz"
    save({"w": numpy.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the array's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt.*CRC"):
        load(path)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "g.npz"
    path.write_bytes(b"not a weights file at all")
    with pytest.raises(ValueError, match="g.npz' is not a valid minicnn weights file: "
                                         "it is not an .npz"):
        load(path)


def test_zip_of_other_things_is_refused(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="member 'readme.txt' is not a .npy array"):
        load(path)


def test_single_npy_is_refused(tmp_path):
    path = tmp_path / "a.npy"
    numpy.save(path, numpy.ones(3))
    with pytest.raises(ValueError, match="single .npy array, not an .npz archive"):
        load(path)


def test_corrupt_structure_document(tmp_path):
    path = tmp_path / "w.npz"
    doc = b'{"format": "minicnn-state-v1", "tree": {"dict": [["w", {"array": "gone"}]]}}'
    numpy.savez(path, __minicnn__=numpy.frombuffer(doc, dtype=numpy.uint8))
    with pytest.raises(ValueError, match="refers to an array 'gone'"):
        load(path)


def test_plain_numpy_npz_loads_as_a_dict(tmp_path):
    numpy.savez(tmp_path / "plain.npz", w=numpy.ones((2, 2)), b=numpy.arange(3))
    back = load(tmp_path / "plain.npz")
    assert sorted(back) == ["b", "w"] and back["b"].dtype == numpy.arange(3).dtype


_unpickled = []


def _mark_unpickled():
    _unpickled.append(True)
    return "boom"


class _Payload:
    """Unpickling this object would run code."""

    def __reduce__(self):
        return (_mark_unpickled, ())


def test_pickle_bearing_npz_is_refused_and_never_executed(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("w.npy", "w") as member:
            numpy.lib.format.write_array(member, numpy.array([_Payload()], dtype=object),
                                         allow_pickle=True)
    with pytest.raises(ValueError, match="evil.npz' holds pickled data"):
        load(path)
    assert _unpickled == []
