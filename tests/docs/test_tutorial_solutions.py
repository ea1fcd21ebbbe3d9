"""docs/tutorial/solutions/*.py: every exercise solution runs to the end and its asserts hold.

Each solution runs as a student would run it, ``python solutions/chN_....py``,
in a fresh process (so one solution's seeds and backend settings cannot leak
into the next) from a temporary working directory. The chapters' own code
blocks are run by the docs test; this file checks the solutions, and that
every solution a chapter names exists and every figure it shows is committed.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from minicnn.tools.doc_examples import extract_blocks

TUTORIAL = pathlib.Path(__file__).resolve().parents[2] / "docs" / "tutorial"
SOLUTIONS = sorted((TUTORIAL / "solutions").glob("ch*.py"))   # _*.py are shared helpers
CHAPTERS = sorted(TUTORIAL.glob("[0-9][0-9]_*.md"))


def test_the_tutorial_has_eight_chapters_with_solutions():
    assert [c.name[:2] for c in CHAPTERS] == [f"{i:02d}" for i in range(1, 9)]
    assert len(SOLUTIONS) >= 2 * len(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_solution_a_chapter_names_exists(chapter):
    named = re.findall(r"solutions/(\w+\.py)", chapter.read_text(encoding="utf-8"))
    assert named, f"{chapter.name} names no solution files"
    missing = [name for name in named if not (TUTORIAL / "solutions" / name).is_file()]
    assert not missing, f"{chapter.name} names missing solutions {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_a_chapter_shows_is_committed_and_made_by_its_code(chapter):
    """``make docs`` regenerates what the page shows: each ![..](images/X.png) exists,
    and the chapter's own code writes it (its path appears in a code block)."""
    text = chapter.read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((images/[\w.-]+\.png)\)", text)
    missing = [path for path in shown if not (TUTORIAL / path).is_file()]
    assert not missing, f"{chapter.name} shows figures that are not committed: {missing}"
    code = "".join(block.source for block in extract_blocks(chapter))
    not_made = [path for path in shown if path not in code]
    assert not not_made, f"{chapter.name} shows figures its code does not write: {not_made}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solution_runs_and_its_asserts_hold(solution, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")   # chapter 8's kernels without a GPU
    done = subprocess.run([sys.executable, str(solution)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{solution.name} exited {done.returncode}:\n{done.stdout[-2000:]}\n"
        f"{done.stderr[-4000:]}")
