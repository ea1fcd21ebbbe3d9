"""Run a student's functions in a child process, one call at a time.

The grader never imports the student's file itself. A child process loads it
in a fresh module namespace (never entered in ``sys.modules``) and answers
calls by name; the grader computes the references (from the engine) and the
verdicts in its own process. So a student's file cannot change the grader or
the references, a function that hangs is killed after the time limit, one
that prints writes into a buffer instead of the report, and one that crashes
the interpreter (or calls ``sys.exit``) fails one test instead of the check.

Replies come back as JSON plus ``.npy`` arrays read with ``allow_pickle=False``:
the child runs untrusted code, so nothing it sends may run code in the grader.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import multiprocessing
import os
import sys
import traceback

import numpy

__all__ = ["StudentProcess", "StudentError", "StudentNotImplemented", "StudentTimeout",
           "FromForward"]

PRINT_KEEP = 2000  # characters of the student's printed output kept for the report


class StudentError(Exception):
    """The student's function raised (the message names its line in their file)."""


class StudentNotImplemented(StudentError):
    """The student's function still raises NotImplementedError."""


class StudentTimeout(StudentError):
    """The student's function ran past the time limit."""


class FromForward:
    """In ``StudentProcess.chain``: stands for item ``index`` of the forward's result
    (the cache of batch_norm), which stays in the child."""

    def __init__(self, index: int):
        self.index = index


# --------------------------------------------------------------- encoding
def _encode(obj, arrays: list):
    """A JSON-able skeleton of ``obj``; arrays go to ``arrays`` (replaced by their index)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, numpy.generic):
        obj = numpy.asarray(obj)
    if isinstance(obj, numpy.ndarray):
        if obj.dtype.kind not in "biuf":
            return {"unsupported": f"an array of dtype {obj.dtype}"}
        arrays.append(obj)
        return {"array": len(arrays) - 1}
    if isinstance(obj, (tuple, list)):
        return {"tuple": [_encode(v, arrays) for v in obj]}
    return {"unsupported": f"a {type(obj).__name__}"}


class Unsupported:
    """A returned value the grader does not accept (not an array, number or tuple)."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self):
        return self.what


def _decode(skeleton, arrays):
    if isinstance(skeleton, dict):
        if "array" in skeleton:
            return arrays[skeleton["array"]]
        if "tuple" in skeleton:
            return tuple(_decode(v, arrays) for v in skeleton["tuple"])
        return Unsupported(skeleton["unsupported"])
    return skeleton


def _pack(obj) -> bytes:
    arrays: list = []
    skeleton = _encode(obj, arrays)
    buffer = io.BytesIO()
    numpy.savez(buffer, *arrays)
    head = json.dumps(skeleton).encode()
    return len(head).to_bytes(8, "little") + head + buffer.getvalue()


def _unpack(data: bytes):
    n = int.from_bytes(data[:8], "little")
    skeleton = json.loads(data[8:8 + n].decode())
    with numpy.load(io.BytesIO(data[8 + n:]), allow_pickle=False) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    return _decode(skeleton, arrays)


# ------------------------------------------------------------------ child
def _where(error: BaseException, path: str, code: bool = True) -> str:
    """' (line 12 of linear.py: `y = x @ w`)' for the deepest frame in the student's file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if os.path.abspath(f.filename) == path]
    if not frames:
        return ""
    f = frames[-1]
    text = f": `{f.line.strip()}`" if f.line and code else ""
    return f" (line {f.lineno} of {os.path.basename(path)}{text})"


def _describe(error: BaseException, path: str) -> dict:
    text = str(error).strip().splitlines()
    if isinstance(error, NotImplementedError):
        message = text[0] if text else "NotImplementedError"
        return {"error": "not_implemented", "message": message + _where(error, path, False)}
    message = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return {"error": "error", "message": message + _where(error, path)}


def _serve(conn, path: str) -> None:
    """The child's loop: load the student's file, then answer calls until told to stop."""
    printed = io.StringIO()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # C-level writes to stdout/stderr go nowhere
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = printed
    sys.stdin = io.StringIO()  # input() gets EOF instead of waiting forever
    namespace = None
    try:
        spec = importlib.util.spec_from_file_location("student_exercise", path)
        namespace = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(namespace)
        conn.send_bytes(_pack(None))
        conn.send({"ok": True})
    except BaseException as e:  # noqa: BLE001 - a broken file is a report, not a crash
        conn.send_bytes(_pack(None))
        conn.send(_describe(e, path) | {"load": True})
        return

    def run(name, args):
        fn = getattr(namespace, name, None)
        if not callable(fn):
            raise LookupError(f"your file has no function {name}()")
        return fn(*args)

    while True:
        request = conn.recv()
        if request is None:
            return
        printed.seek(0)
        printed.truncate()
        try:
            kind = request[0]
            if kind == "call":
                _, name, args, pick = request
                result = run(name, args)
                reply = result if pick is None else _pick(result, pick)
            elif kind == "many":
                _, name, arg_list, pick = request
                reply = [_pick(run(name, args), pick) for args in arg_list]
            else:  # "chain": forward, then backward on the forward's cache
                _, fname, fargs, bname, bargs, keep = request
                forward = run(fname, fargs)
                bargs = [forward[a.index] if isinstance(a, FromForward) else a
                         for a in bargs]
                reply = (_pick(forward, keep), run(bname, bargs))
            status = {"ok": True}
        except LookupError as e:
            reply, status = None, {"error": "error", "message": str(e)}
        except BaseException as e:  # noqa: BLE001 - the student's exception is reported
            reply, status = None, _describe(e, path)
        status["printed"] = printed.getvalue()[:PRINT_KEEP]
        try:
            data = _pack(reply)
        except Exception as e:  # noqa: BLE001
            data, status = _pack(None), {"error": "error",
                                         "message": f"cannot read your result: {e}"}
        conn.send_bytes(data)
        conn.send(status)


def _pick(result, index):
    """Item ``index`` of a tuple result (the whole result when index is None)."""
    if index is None:
        return result
    if not isinstance(result, (tuple, list)) or len(result) <= index:
        return Unsupported(f"{type(result).__name__} (expected a tuple of at least "
                           f"{index + 1} items)")
    return result[index]


# ----------------------------------------------------------------- parent
class StudentProcess:
    """The student's file, loaded in a child process.

    ``call(name, *args)`` runs one function and returns its result (arrays,
    numbers and tuples of them; anything else comes back as ``Unsupported``),
    or raises StudentNotImplemented, StudentError or StudentTimeout.
    ``printed`` holds what the last call printed. Use it as a context manager.
    """

    def __init__(self, path: str, time_limit: float = 30.0):
        self.path = os.path.abspath(path)
        self.time_limit = float(time_limit)
        self.load_error: str | None = None
        self.printed = ""
        self._process = None
        self._conn = None

    def __enter__(self):
        self._start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _context(self):
        methods = multiprocessing.get_all_start_methods()
        # fork starts in milliseconds with numpy already imported
        return multiprocessing.get_context("fork" if "fork" in methods else "spawn")

    def _start(self):
        ctx = self._context()
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, self.path), daemon=True)
        with contextlib.redirect_stdout(io.StringIO()):
            self._process.start()
        child.close()
        self.load_error = None
        _, status = self._receive(self.time_limit, loading=True)
        if status.get("error"):
            self.load_error = status["message"]

    def close(self):
        if self._process is None:
            return
        if self._process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send(None)
            self._process.join(1.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn.close()
        self._process = None

    def _restart(self):
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._conn.close()
            self._process = None
        self._start()

    def _receive(self, limit, loading=False):
        if not self._conn.poll(limit):
            self._restart()
            raise StudentTimeout(
                f"{'loading your file' if loading else 'your function'} ran longer than "
                f"{limit:g} s (an endless loop?); the time limit is --time-limit")
        try:
            data = self._conn.recv_bytes()
            status = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process else None
            self._restart()
            raise StudentError(f"your code ended the Python process (exit code {code}); "
                               "do not call sys.exit or os._exit") from None
        return _unpack(data), status

    def _ask(self, request, limit=None):
        if self.load_error:
            self._raise({"error": "error", "message": f"your file does not load: "
                         f"{self.load_error}"})
        self._conn.send(request)
        reply, status = self._receive(self.time_limit if limit is None else limit)
        self.printed = status.get("printed", "")
        if status.get("error"):
            self._raise(status)
        return reply

    @staticmethod
    def _raise(status):
        if status["error"] == "not_implemented":
            raise StudentNotImplemented(f"not implemented yet: {status['message']}")
        raise StudentError(status["message"])

    def call(self, name: str, *args, pick: int | None = None, limit=None):
        """``name(*args)`` in the child (item ``pick`` of its tuple result if given)."""
        return self._ask(("call", name, args, pick), limit)

    def many(self, name: str, arg_list, pick: int | None = None, limit=None):
        """``[name(*args) for args in arg_list]`` in one round trip."""
        return self._ask(("many", name, list(arg_list), pick), limit)

    def chain(self, fname, fargs, bname, bargs, keep: int = 0, limit=None):
        """(item ``keep`` of ``fname(*fargs)``, ``bname(*bargs)``) with FromForward
        placeholders in ``bargs`` filled from the forward's result in the child."""
        return self._ask(("chain", fname, fargs, bname, bargs, keep), limit)
