"""Atomic file writes: a crash never leaves a half-written checkpoint, cache or plot.

Every file minicnn writes goes through ``atomic_write``: the data goes to a
temporary file in the destination's directory, is flushed and fsync'ed, then
renamed over the destination with ``os.replace`` (atomic on POSIX and Windows),
and the directory is fsync'ed so the rename itself survives a power cut. Until
the rename, readers see the old file; on any error the temporary file is
removed and the old file is untouched.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile

__all__ = ["atomic_write", "write_json", "save_figure", "new_file_mode"]


def new_file_mode(path: str) -> int:
    """Keep an existing file's permissions; a new file gets 0o666 minus the umask
    (what a plain ``open()`` gives: mkstemp's temporary files are 0o600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None, verify=None):
    """``with atomic_write(path) as f: f.write(...)`` replaces ``path`` all at once.

    Args:
        path: the destination (its directory must exist).
        mode: 'wb' or 'w' (text, with ``encoding``).
        verify: optional ``verify(temp_path)`` run after the data is on disk and
            before the rename; raising there keeps the old file (downloads use it).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    permissions = new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def write_json(obj, path, indent: int = 2) -> None:
    """Write ``obj`` as indented JSON, atomically (creating the directory)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def save_figure(fig, path, dpi: int = 100) -> str:
    """Save a matplotlib figure as PNG, atomically (creating the directory)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    return os.fspath(path)
