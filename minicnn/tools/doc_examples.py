"""Run the Python examples of Markdown files: the tutorial's figures, and the docs test.

    python -m minicnn.tools.doc_examples docs/tutorial/*.md --cwd docs/tutorial
    python -m minicnn.tools.doc_examples README.md              # in a temporary directory

The rules (the same as tests/docs/test_examples.py, so ``make docs`` runs
exactly what the test runs):

- a fence whose info string is ``python`` (or ``py``, ``python3``) is run; a
  fence is three or more backticks or tildes, may be indented (inside a list
  item; its lines lose that indent), and is closed by a line of the same
  character, at least as many, and nothing else; ``bash``, ``text`` and
  unlabelled blocks are not Python;
- a block whose fence is preceded, on the line just before it, by
  ``<!-- illustrative: reason -->`` is skipped, and the blocks after it run
  without it;
- one file's blocks run in order in one namespace (a chapter builds on its
  earlier blocks), with the working directory set to ``cwd`` (a fresh
  temporary directory when none is given), so relative paths such as
  ``images/ch3_receptive_field.png`` land there;
- each block may take at most ``timeout`` seconds (where SIGALRM exists).

Matplotlib is switched to its non-interactive Agg backend, so figures are
written without a display. The command line runs each file in its own Python
process, so one file's seeds, backend switches and imports cannot leak into the
next.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

__all__ = ["Block", "extract_blocks", "run_blocks", "DocExampleError", "main",
           "BLOCK_TIMEOUT_S"]

BLOCK_TIMEOUT_S = 180
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
ILLUSTRATIVE = re.compile(r"^\s*<!--\s*illustrative:\s*(?P<reason>.*?)\s*-->\s*$")
PYTHON_INFO = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    """One ```python block: its source, the 1-based line of its opening fence, and
    the reason given by an ``<!-- illustrative: reason -->`` line (None: it runs)."""
    source: str
    line: int
    illustrative: str | None = None

    @property
    def skip(self) -> bool:
        return self.illustrative is not None


class DocExampleError(RuntimeError):
    """A code block of a Markdown file raised, or ran past its time limit."""


def extract_blocks(markdown_path, text: str | None = None) -> list:
    """The ```python blocks of a Markdown file (or of ``text``), in order, as Blocks."""
    if text is None:
        with open(markdown_path, encoding="utf-8") as f:
            text = f.read()
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if opening["info"].lower() in PYTHON_INFO:
            body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip()
                    for ln in lines[i + 1:end]]
            marker = ILLUSTRATIVE.match(lines[i - 1]) if i > 0 else None
            blocks.append(Block("\n".join(body) + "\n", i + 1,
                                marker["reason"] if marker else None))
        i = end + 1
    return blocks


@contextlib.contextmanager
def _time_limit(seconds, what):
    """Raise DocExampleError after ``seconds`` (main thread with SIGALRM only)."""
    usable = (seconds and hasattr(signal, "SIGALRM")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise DocExampleError(f"{what}: ran past its time limit of {seconds} s; make the "
                              "example smaller (fewer steps, a smaller subset)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_blocks(markdown_path, cwd=None, timeout: float | None = BLOCK_TIMEOUT_S) -> dict:
    """Run a Markdown file's ```python blocks in order, in one namespace, in ``cwd``.

    Args:
        markdown_path: the .md file.
        cwd: the working directory for the blocks; None runs them in a fresh
            temporary directory that is removed afterwards.
        timeout: seconds each block may take (None: no limit).
    Returns:
        the namespace the blocks filled (so a test can look at their results).
    Raises:
        DocExampleError naming the file, the block's line and the exception.
    """
    markdown_path = os.path.abspath(os.fspath(markdown_path))
    blocks = extract_blocks(markdown_path)
    os.environ.setdefault("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    with contextlib.ExitStack() as stack:
        if cwd is None:
            cwd = stack.enter_context(tempfile.TemporaryDirectory(prefix="minicnn-docs-"))
        os.makedirs(cwd, exist_ok=True)
        stack.enter_context(_working_directory(cwd))
        for block in blocks:
            if block.skip:
                continue
            where = f"{markdown_path}:{block.line}"
            # Padded so that tracebacks give the Markdown file's own line numbers.
            code = compile("\n" * block.line + block.source, markdown_path, "exec")
            try:
                with _time_limit(timeout, where):
                    exec(code, namespace)
            except DocExampleError:
                raise
            except Exception as e:
                raise DocExampleError(f"{where}: the block raised {type(e).__name__}: "
                                      f"{e}") from e
    return namespace


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minicnn.tools.doc_examples",
        description="Run the ```python blocks of Markdown files, each file in order in "
                    "one namespace and its own process (blocks after an "
                    "'<!-- illustrative: ... -->' line are skipped).")
    parser.add_argument("files", nargs="+", help="Markdown files")
    parser.add_argument("--cwd", default=None,
                        help="working directory for the blocks (default: a fresh "
                             "temporary directory per file); figures land under it")
    parser.add_argument("--timeout", type=float, default=BLOCK_TIMEOUT_S,
                        help=f"seconds each block may take (default {BLOCK_TIMEOUT_S})")
    parser.add_argument("--in-process", action="store_true",
                        help="run the files in this process instead of one process each")
    args = parser.parse_args(argv)
    cwd = os.path.abspath(args.cwd) if args.cwd else None
    failed = 0
    for path in args.files:
        start = time.perf_counter()
        if not args.in_process:
            # The child prints the file's ok/FAILED line itself.
            command = [sys.executable, "-m", "minicnn.tools.doc_examples", path,
                       "--timeout", str(args.timeout), "--in-process"]
            if cwd:
                command += ["--cwd", cwd]
            failed += subprocess.run(command).returncode != 0
            continue
        try:
            run_blocks(path, cwd, args.timeout)
        except (DocExampleError, OSError) as e:
            print(f"FAILED {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"ok     {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
