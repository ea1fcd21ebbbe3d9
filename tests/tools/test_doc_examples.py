"""minicnn/tools/doc_examples.py: which blocks run, in what namespace, where, and the errors."""
import os
import textwrap

import pytest

from minicnn.tools.doc_examples import DocExampleError, extract_blocks, main, run_blocks


def write(tmp_path, text, name="page.md"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


PAGE = """\
    # Title

    ```python
    a = 1
    ```

    ```bash
    not python
    ```

    <!-- illustrative: needs a GPU -->
    ```python
    raise RuntimeError("skipped")
    ```

    ```
    plain fence
    ```

    ```python
    b = a + 1
    with open("out.txt", "w") as f:
        f.write(str(b))
    ```
    """


def test_extract_blocks_keeps_python_fences_and_marks_illustrative_ones(tmp_path):
    blocks = extract_blocks(write(tmp_path, PAGE))
    assert [b.illustrative for b in blocks] == [None, "needs a GPU", None]
    assert [b.skip for b in blocks] == [False, True, False]
    assert blocks[0].source == "a = 1\n"
    assert blocks[0].line == 3
    assert "raise RuntimeError" in blocks[1].source


def test_list_indents_py_fences_and_longer_fences(tmp_path):
    text = ("1. In a list:\n\n   ```py\n   if a:\n       b = 1\n   ```\n\n"
            "~~~~python\ntext = \"\"\"\n```\n\"\"\"\n~~~~\n")
    blocks = extract_blocks(None, text)
    assert [b.line for b in blocks] == [3, 8]
    assert blocks[0].source == "if a:\n    b = 1\n"          # the list's indent removed
    assert blocks[1].source == 'text = """\n```\n"""\n'     # a shorter fence does not close


def test_a_comment_that_is_not_the_line_just_before_does_not_skip(tmp_path):
    page = write(tmp_path, """\
        <!-- illustrative: one blank line away -->

        ```python
        x = 1
        ```
        """)
    assert [b.skip for b in extract_blocks(page)] == [False]


def test_blocks_share_one_namespace_and_run_in_cwd(tmp_path):
    work = tmp_path / "work"
    namespace = run_blocks(write(tmp_path, PAGE), cwd=work)
    assert namespace["b"] == 2
    assert (work / "out.txt").read_text() == "2"
    assert os.getcwd() != str(work)


def test_without_cwd_the_blocks_run_in_a_temporary_directory(tmp_path):
    page = write(tmp_path, """\
        ```python
        import os
        here = os.getcwd()
        ```
        """)
    here = run_blocks(page)["here"]
    assert here != os.getcwd()
    assert not os.path.exists(here)


def test_a_failing_block_names_the_file_and_line(tmp_path):
    page = write(tmp_path, """\
        ```python
        ok = True
        ```

        ```python
        1 / 0
        ```
        """)
    with pytest.raises(DocExampleError,
                       match=r"page\.md:5: the block raised ZeroDivisionError") as info:
        run_blocks(page, cwd=tmp_path)
    # The traceback gives the Markdown file's line of the failing statement.
    assert info.value.__cause__.__traceback__.tb_next.tb_lineno == 6


def test_the_time_limit_stops_a_slow_file(tmp_path):
    page = write(tmp_path, """\
        ```python
        while True:
            pass
        ```
        """)
    with pytest.raises(DocExampleError, match="time limit of 0.5 s"):
        run_blocks(page, cwd=tmp_path, timeout=0.5)


def test_main_reports_failures_in_its_exit_status(tmp_path, capsys):
    good = write(tmp_path, "```python\nx = 1\n```\n", "good.md")
    bad = write(tmp_path, "```python\nraise ValueError('no')\n```\n", "bad.md")
    assert main([str(good), "--cwd", str(tmp_path), "--in-process"]) == 0
    assert main([str(good), str(bad), "--cwd", str(tmp_path), "--in-process"]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_main_runs_each_file_in_its_own_process(tmp_path):
    first = write(tmp_path, "```python\nimport os\nos.environ['LEAK'] = '1'\n```\n", "a.md")
    second = write(tmp_path, "```python\nimport os\nassert 'LEAK' not in os.environ\n```\n",
                   "b.md")
    assert main([str(first), str(second), "--cwd", str(tmp_path)]) == 0
