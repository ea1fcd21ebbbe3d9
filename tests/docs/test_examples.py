"""Every ```python block in README.md and docs/**/*.md runs as written.

One test case per block, named by file and line (``README.md:27``: the line of the
opening fence). The rules:

- **A file's blocks run in order, in one namespace**, like a notebook's cells: a
  block may use the imports and variables of the blocks above it in the same
  file, never those of another file. Each file gets its own fresh Python process
  (tests/docs/block_runner.py), started in an empty temporary directory, so a
  block that writes files or switches the backend touches nothing else.
- **Every block has a time limit** (``BLOCK_TIMEOUT_S``); examples should take
  seconds.
- **A block that cannot run here is marked, visibly, on the line just before its
  fence**: ``<!-- illustrative: why it is not run -->``. It is reported as skipped
  with that reason, and the blocks after it run without it. Keep such blocks rare:
  an example a student cannot run is an example nobody checks.
- A failure reports the block's ``file:line`` and the last lines of its traceback
  and output. When a block fails, the later blocks of that file are skipped (they
  continue it), naming the block that failed.

Only fences whose info string is ``python`` (or ``py``) are run; ``bash``,
``text`` and unlabelled blocks are not Python.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import select
import subprocess
import sys
import tempfile

import pytest

from minicnn.tools.doc_examples import BLOCK_TIMEOUT_S
from minicnn.tools.doc_examples import extract_blocks as extract_markdown_blocks

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = pathlib.Path(__file__).resolve().parent / "block_runner.py"
TAIL_LINES = 25


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced Python block: where it is, its source, and why it is skipped (if it is)."""
    path: pathlib.Path
    line: int                      # 1-based line of the opening fence
    source: str
    illustrative: str | None = None

    @property
    def name(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{where.as_posix()}:{self.line}"


def extract_blocks(path: pathlib.Path, text: str | None = None) -> list[Block]:
    """The ```python blocks of a Markdown file, in order, by the rules of
    ``minicnn.tools.doc_examples`` (the same rules ``make docs`` runs them by)."""
    return [Block(path, b.line, b.source, b.illustrative)
            for b in extract_markdown_blocks(path, text)]


def markdown_files() -> list[pathlib.Path]:
    """README.md, then every Markdown file under docs/, sorted."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


class BlockRunner:
    """One Markdown file's Python process: runs its blocks in order in one namespace.

    Tests may arrive out of order (pytest -k, or pytest-xdist sending a file's
    blocks to different workers); a block whose predecessors this process has not
    run first runs them, and a block asked for again gets a fresh process.
    """

    def __init__(self, blocks: list[Block], workdir: pathlib.Path,
                 timeout_s: float = BLOCK_TIMEOUT_S):
        self.blocks, self.workdir, self.timeout_s = blocks, workdir, timeout_s
        self.process = None
        self.started = False
        self.done = 0                   # blocks[:done] have been dealt with in this process
        self.failed: Block | None = None

    def start(self):
        self.close()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "output.log"
        self.log_path.write_bytes(b"")
        request_read, self.request_write = os.pipe()
        self.reply_read, reply_write = os.pipe()
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
        # One thread each: pytest -n 2 already keeps both cores busy.
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env.setdefault(name, "1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(RUNNER), str(request_read), str(reply_write)],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=(request_read, reply_write))
        os.close(request_read)
        os.close(reply_write)
        self.started, self.done, self.failed = True, 0, None

    def close(self):
        if self.process is not None:
            for fd in (self.request_write, self.reply_read):
                os.close(fd)
            self.process.kill()
            self.process.wait()
            self.process = None

    def _execute(self, block: Block) -> tuple[bool, str]:
        """Run one block; (ok, its output and, on failure, the traceback)."""
        start = self.log_path.stat().st_size
        request = {"path": str(block.path), "line": block.line, "source": block.source}
        os.write(self.request_write, json.dumps(request).encode() + b"\n")
        ready, _, _ = select.select([self.reply_read], [], [], self.timeout_s)
        reply = b""
        while ready and not reply.endswith(b"\n"):
            chunk = os.read(self.reply_read, 65536)
            if not chunk:
                break
            reply += chunk
        output = self.log_path.read_bytes()[start:].decode(errors="replace")
        if not reply:
            exit_code = self.process.poll()
            self.close()
            if not ready:
                return False, f"{output}\ntimed out after {self.timeout_s} s"
            return False, f"{output}\nthe Python process died (exit code {exit_code})"
        answer = json.loads(reply)
        if answer["ok"]:
            return True, output
        return False, f"{output}{answer['error']}"

    def run(self, index: int) -> tuple[bool, str]:
        """Run ``blocks[index]`` after its predecessors (not the illustrative ones).

        (ok, report); not ok without a report when an earlier block failed.
        """
        if not self.started or self.done > index:
            self.start()
        while self.done < index:
            block = self.blocks[self.done]
            if block.illustrative is None and self.failed is None:
                ok, _ = self._execute(block)
                if not ok:
                    self.failed = block
            self.done += 1
        if self.failed is not None:
            return False, ""
        ok, report = self._execute(self.blocks[index])
        if not ok:
            self.failed = self.blocks[index]
        self.done = index + 1
        return ok, report


def tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept)


BLOCKS = [(path, i, block) for path in markdown_files()
          for i, block in enumerate(extract_blocks(path))]


@pytest.fixture(scope="module")
def runners():
    """One BlockRunner per Markdown file, each in its own temporary directory."""
    with tempfile.TemporaryDirectory(prefix="minicnn-docs-") as tmp:
        made = {}

        def get(path: pathlib.Path) -> BlockRunner:
            if path not in made:
                blocks = extract_blocks(path)
                # README.md and docs/README.md get different folders
                folder = path.relative_to(ROOT).as_posix().replace("/", "__")
                made[path] = BlockRunner(blocks, pathlib.Path(tmp) / folder)
            return made[path]
        yield get
        for runner in made.values():
            runner.close()


@pytest.mark.parametrize("path,index,block", BLOCKS, ids=[b.name for _, _, b in BLOCKS])
def test_block_runs(runners, path, index, block):
    if block.illustrative is not None:
        pytest.skip(f"illustrative: {block.illustrative}")
    runner = runners(path)
    ok, report = runner.run(index)
    if ok:
        return
    if runner.failed != block:
        pytest.skip(f"continues {runner.failed.name}, which failed")
    pytest.fail(f"{block.name}: this example fails as written.\n{tail(report)}",
                pytrace=False)


# The checker itself: extraction rules and the runner's behaviour on small files.

SAMPLE = """# Title

```python
a = 2
```

<!-- illustrative: needs a GPU -->
```python
a = gpu_only()
```

```bash
echo not python
```

1. In a list:

   ```py
   if a:
       b = a * 21
   ```

~~~~python
text = \"\"\"
```
\"\"\"
~~~~
"""


def test_extract_blocks_follows_the_rules(tmp_path):
    blocks = extract_blocks(tmp_path / "sample.md", SAMPLE)
    assert [(b.line, b.illustrative) for b in blocks] == [
        (3, None), (8, "needs a GPU"), (18, None), (23, None)]
    assert blocks[0].source == "a = 2\n"
    assert blocks[2].source == "if a:\n    b = a * 21\n"      # list indentation removed
    assert blocks[3].source == 'text = """\n```\n"""\n'       # a shorter fence does not close
    assert blocks[0].name == f"{(tmp_path / 'sample.md').as_posix()}:3"


def test_runner_shares_a_namespace_and_names_the_failing_line(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```python\na = 2\n```\n```python\nprint(a * 21)\n```\n"
                   "```python\nb = 1\nc = b / 0\n```\n```python\nprint(a)\n```\n")
    blocks = extract_blocks(doc)
    runner = BlockRunner(blocks, tmp_path / "work")
    try:
        assert runner.run(0) == (True, "")
        ok, output = runner.run(1)
        assert ok and output.strip() == "42"
        ok, report = runner.run(2)
        assert not ok and runner.failed == blocks[2]
        assert f'File "{doc}", line 9' in report and "c = b / 0" in report
        assert report.rstrip().endswith("ZeroDivisionError: division by zero")
        assert runner.run(3) == (False, "")                 # continues the failed block
        assert runner.run(1)[0]                             # asked again: a fresh process
        assert (tmp_path / "work").is_dir()                 # the blocks ran there
    finally:
        runner.close()


def test_runner_runs_skipped_predecessors_first_and_times_out(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```python\nimport time\n```\n<!-- illustrative: slow -->\n"
                   "```python\nraise SystemExit(1)\n```\n```python\ntime.sleep(60)\n```\n")
    runner = BlockRunner(extract_blocks(doc), tmp_path / "work", timeout_s=1)
    try:
        ok, report = runner.run(2)                          # block 0 runs first, 1 does not
        assert not ok and "timed out after 1 s" in report
    finally:
        runner.close()


def test_the_readme_has_examples():
    assert any(path.name == "README.md" for path, _, _ in BLOCKS)
