"""Run the Python examples of Markdown files: the tutorial's figures, and the docs test.

    python -m minicnn.tools.doc_examples docs/tutorial/*.md --cwd docs/tutorial
    python -m minicnn.tools.doc_examples README.md              # in a temporary directory

The rules (the same for ``make docs`` and for the test that runs the docs):

- every fenced block that opens with a line ```` ```python ```` is run, up to the
  closing ```` ``` ```` line; other fences (```` ```bash ````, plain ```` ``` ````)
  are text;
- a block whose previous non-blank line is an HTML comment starting
  ``<!-- illustrative:`` (followed by the reason) is skipped;
- one file's blocks run in order in one namespace (a chapter builds on its
  earlier blocks), with the working directory set to ``cwd`` (a fresh
  temporary directory when none is given), so relative paths such as
  ``images/ch3_receptive_field.png`` land there;
- a file may take at most ``timeout`` seconds (where SIGALRM exists).

Matplotlib is switched to its non-interactive Agg backend, so figures are
written without a display.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

__all__ = ["Block", "extract_blocks", "run_blocks", "DocExampleError", "main"]

ILLUSTRATIVE = "<!-- illustrative:"
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass
class Block:
    """One ```python block: its source, the 1-based line of its opening fence,
    and whether an ``<!-- illustrative: ... -->`` comment marks it as not run."""
    source: str
    line: int
    skip: bool


class DocExampleError(RuntimeError):
    """A code block of a Markdown file raised, or the file ran past its time limit."""


def extract_blocks(markdown_path) -> list:
    """The ```python blocks of a Markdown file, in order, as ``Block`` objects."""
    with open(markdown_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, i, previous = [], 0, ""
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, fence, language = match.groups()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            # Strip the fence's own indent (blocks inside list items).
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1  # the closing fence
        if language == "python":
            skip = previous.startswith(ILLUSTRATIVE)
            blocks.append(Block("\n".join(body) + "\n", start + 1, skip))
        previous = fence
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


def run_blocks(markdown_path, cwd=None, timeout: float | None = None) -> dict:
    """Run a Markdown file's ```python blocks in order, in one namespace, in ``cwd``.

    Args:
        markdown_path: the .md file.
        cwd: the working directory for the blocks; None runs them in a fresh
            temporary directory that is removed afterwards.
        timeout: seconds the whole file may take (None: no limit).
    Returns:
        the namespace the blocks filled (so a test can look at their results).
    Raises:
        DocExampleError naming the file, the block's line and the exception.
    """
    markdown_path = os.path.abspath(os.fspath(markdown_path))
    blocks = extract_blocks(markdown_path)
    os.environ.setdefault("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__", "__file__": markdown_path}
    with contextlib.ExitStack() as stack:
        if cwd is None:
            cwd = stack.enter_context(tempfile.TemporaryDirectory(prefix="minicnn-docs-"))
        os.makedirs(cwd, exist_ok=True)
        stack.enter_context(_working_directory(cwd))
        stack.enter_context(_time_limit(timeout, markdown_path))
        for block in blocks:
            if block.skip:
                continue
            where = f"{markdown_path}:{block.line}"
            code = compile(block.source, where, "exec")
            try:
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
                    "one namespace (blocks after an '<!-- illustrative: ... -->' comment "
                    "are skipped).")
    parser.add_argument("files", nargs="+", help="Markdown files")
    parser.add_argument("--cwd", default=None,
                        help="working directory for the blocks (default: a fresh "
                             "temporary directory per file); figures land under it")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds each file may take (default: no limit)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        start = time.perf_counter()
        try:
            run_blocks(path, args.cwd, args.timeout)
        except (DocExampleError, OSError) as e:
            print(f"FAILED {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok     {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
