"""minicnn/fileio.py: atomic writes keep the old file on any failure."""
import json
import os

import pytest

from minicnn.runtime.fileio import atomic_write, new_file_mode, write_json


def test_atomic_write_replaces_the_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_a_crash_mid_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_a_failed_verification_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def verify(tmp):
        assert open(tmp, "rb").read() == b"bad"
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError, match="checksum"):
        with atomic_write(path, verify=verify) as f:
            f.write(b"bad")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_permissions_are_kept_or_plain(tmp_path):
    path = tmp_path / "f.json"
    write_json({"a": 1}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.stat(path).st_mode & 0o777 == new_file_mode(str(tmp_path / "absent"))
    os.chmod(path, 0o600)
    write_json({"a": 2}, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
