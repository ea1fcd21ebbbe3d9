"""The student's code runs in a child process: hangs, prints, exits and globals
cannot take the grader with them."""
import pytest

from minicnn import exercises
from minicnn.exercises.sandbox import (
    StudentError,
    StudentNotImplemented,
    StudentProcess,
    StudentTimeout,
)


def write(tmp_path, source, name="relu"):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return str(path)


def test_an_exception_names_the_line_in_the_students_file(tmp_path):
    path = write(tmp_path, "import numpy as np\n\n\ndef relu_forward(x):\n"
                 "    return x @ np.ones((99, 2))\n")
    with StudentProcess(path) as s:
        with pytest.raises(StudentError, match=r"ValueError: .*line 5 of relu.py: "
                           r"`return x @ np.ones\(\(99, 2\)\)`"):
            s.call("relu_forward", __import__("numpy").ones((3, 4)))


def test_a_hanging_function_times_out_and_the_next_call_still_works(tmp_path):
    path = write(tmp_path, "def relu_forward(x):\n    while True:\n        pass\n\n"
                 "def relu_backward(gy, x):\n    raise NotImplementedError('TODO')\n")
    with StudentProcess(path, time_limit=1.0) as s:
        with pytest.raises(StudentTimeout, match="longer than 1 s"):
            s.call("relu_forward", 1.0)
        with pytest.raises(StudentNotImplemented, match="not implemented yet: TODO"):
            s.call("relu_backward", 1.0, 1.0)


def test_exit_print_and_missing_functions_are_reported(tmp_path):
    path = write(tmp_path, "import sys\n\ndef relu_forward(x):\n    print('debug', x)\n"
                 "    return x\n\ndef relu_backward(gy, x):\n    sys.exit(3)\n")
    with StudentProcess(path) as s:
        assert s.call("relu_forward", 2.0) == 2.0
        assert s.printed == "debug 2.0\n"
        with pytest.raises(StudentError, match="SystemExit"):
            s.call("relu_backward", 1.0, 1.0)
        with pytest.raises(StudentError, match="no function nothing"):
            s.call("nothing")


def test_a_file_that_does_not_load_fails_every_test_without_crashing(tmp_path):
    write(tmp_path, "def relu_forward(x)\n    return x\n")
    report = exercises.check("relu", str(tmp_path))
    assert {t["status"] for t in report["tests"]} == {"error"}
    assert "does not load: SyntaxError" in report["tests"][0]["message"]


def test_globals_of_the_students_file_cannot_skip_tests(tmp_path):
    # a wrong solution that also tries to pass by patching the grader and the references
    write(tmp_path, "import numpy as np\nimport minicnn.exercises.grading as g\n"
          "import minicnn.functional as F\n"
          "g.threshold = lambda: 1e9\nF.relu = lambda x: x\nPASSED = True\n"
          "def relu_forward(x):\n    return x\n\ndef relu_backward(gy, x):\n    return gy\n")
    report = exercises.check("relu", str(tmp_path))
    assert not report["passed"]
    assert report["tests"][1]["status"] == "failed"
    assert report["tests"][1]["threshold"] < 1


def test_unsupported_return_values_are_a_clear_failure(tmp_path):
    write(tmp_path, "def relu_forward(x):\n    return 'x'\n\n"
          "def relu_backward(gy, x):\n    return [1, 2]\n")
    report = exercises.check("relu", str(tmp_path))
    assert "expected a numpy array" in report["tests"][0]["message"]
