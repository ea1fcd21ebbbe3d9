"""Atomic file writes: a crash never leaves a half-written checkpoint, cache or plot.

Every file minicnn writes goes through ``atomic_write``: the data goes to a
temporary file in the destination's directory, is flushed and fsync'ed, then
renamed over the destination with ``os.replace`` (atomic on POSIX and Windows),
and the directory is fsync'ed so the rename itself survives a power cut. Until
the rename, readers see the old file; on any error the temporary file is
removed and the old file is untouched. The temporary file is named
``.NAME.XXXXXXXX.tmp`` beside ``NAME``; a process killed with SIGKILL cannot
remove it, so ``remove_stale_temporaries`` lets the next run in that directory
clear the ones of its own names (and nothing else).

JSON is written strictly (RFC 8259): a non-finite float, which Python's json
would write as the bare token ``NaN`` that other parsers reject, is written as
the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (``float()`` reads
each back).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile

__all__ = ["atomic_write", "write_json", "strict_json", "save_figure", "new_file_mode",
           "remove_stale_temporaries"]


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


def strict_json(obj):
    """``obj`` with every non-finite float replaced by "NaN", "Infinity" or "-Infinity"
    (NumPy scalars become Python numbers), so ``json.dumps(allow_nan=False)`` takes it."""
    if isinstance(obj, dict):
        return {key: strict_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(value) for value in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # a NumPy scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def write_json(obj, path, indent: int = 2) -> None:
    """Write ``obj`` as indented strict JSON, atomically (creating the directory)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(strict_json(obj), indent=indent, allow_nan=False)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def remove_stale_temporaries(directory, names) -> list:
    """Delete the leftover temporary files of ``atomic_write`` for ``names`` in ``directory``.

    Only regular files named exactly ``.NAME.XXXXXXXX.tmp`` (mkstemp's 8
    random characters) for a NAME in ``names`` are removed; returns their paths.
    Call it when a run starts, before the run writes anything.
    """
    pattern = re.compile(r"\.(" + "|".join(re.escape(n) for n in names)
                         + r")\.[A-Za-z0-9_]{8}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                os.unlink(entry.path)
                removed.append(entry.path)
        except FileNotFoundError:
            continue
    return removed


def save_figure(fig, path, dpi: int = 100) -> str:
    """Save a matplotlib figure as PNG, atomically (creating the directory)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    return os.fspath(path)
