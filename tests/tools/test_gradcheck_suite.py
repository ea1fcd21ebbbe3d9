"""minicnn/tools/gradcheck_suite.py and the `minicnn gradcheck` command: the op list in
--help, a student's FILE.py:FUNCTION, and --localize on a zoo model."""
import textwrap

import pytest

from minicnn.functional.activation import ReLUFunction
from minicnn.tools import cli
from minicnn.tools.gradcheck_suite import OPS, GradcheckUsageError, check_file


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_op(capsys):
    code, out, _ = run(["gradcheck", "--help"], capsys)
    assert code == 0
    listed = out.split("ops: ", 1)[1].replace("\n", " ")
    assert [name.strip(", ") for name in listed.split()] == list(OPS)
    assert "FILE.py:FUNCTION" in out and "--localize" in out


STUDENT = '''
import numpy
from minicnn import Function, Tensor


class MySigmoid(Function):
    def forward(self, x):
        self.y = 1 / (1 + numpy.exp(-x))
        return self.y

    def backward(self, gy):
        return gy * self.y * ({factor} - self.y)   # correct with factor 1


def my_sigmoid(x):
    return MySigmoid()(x)


def scaled_sum(a, b):
    return (a * 2 + b).sum(axis=1)


def function_inputs():
    return [Tensor(numpy.random.default_rng(0).standard_normal((3, 4)))]
'''


@pytest.fixture
def student(tmp_path, monkeypatch):
    def write(factor=1, name="layers.py"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(STUDENT.format(factor=factor)))
        return path
    monkeypatch.chdir(tmp_path)
    return write


def test_a_students_function_with_its_inputs_companion(student, capsys):
    student()
    code, out, err = run(["gradcheck", "layers.py:my_sigmoid"], capsys)
    assert code == 0, err
    assert out.startswith("gradcheck PASSED: max relative error")
    assert "0      3x4           float64        12       0" in out


def test_a_students_function_with_shapes(student, capsys):
    student()
    code, out, err = run(["gradcheck", "layers.py:scaled_sum", "--shape", "2,3",
                          "--shape", "3"], capsys)
    assert code == 0, err
    assert "2x3" in out and "\n1      3 " in out


def test_a_students_wrong_backward_fails_with_one_line(student, capsys):
    student(factor=1.0002)
    code, out, err = run(["gradcheck", "layers.py:my_sigmoid"], capsys)
    assert code == 1
    assert out.startswith("gradcheck FAILED")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("gradcheck failed: input 0 (shape (3, 4)): 12 of 12 elements")


@pytest.mark.parametrize("argv,expected", [
    (["gradcheck", "nowhere.py:f"], "no file 'nowhere.py'; give the path of your Python file"),
    (["gradcheck", "layers.py:nosuch"], "layers.py has no function 'nosuch'; it defines: "
                                        "MySigmoid, function_inputs, my_sigmoid, scaled_sum"),
    (["gradcheck", "layers.py:scaled_sum"], "scaled_sum(a, b) cannot take the 1 input(s) "
                                            "given by function_inputs()"),
    (["gradcheck", "layers.py"], "is not FILE.py:FUNCTION; write e.g."),
    (["gradcheck", "layers.py:scaled_sum", "--shape", "2,x"], "bad --shape '2,x'"),
    (["gradcheck", "conv2d", "--shape", "2"], "--shape gives the inputs of FILE.py:FUNCTION"),
    (["gradcheck", "all", "--localize"], "--localize checks a zoo model"),
    (["gradcheck", "nosuchnet", "--localize"], "unknown model 'nosuchnet'"),
])
def test_one_line_errors(student, capsys, argv, expected):
    student()
    code, out, err = run(argv, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expected in lines[0]


def test_a_missing_companion_says_how_to_give_inputs(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("def square(x):\n    return x * x\n")
    with pytest.raises(GradcheckUsageError, match=r"has no square_inputs\(\) or "
                                                  r"function_inputs\(\).*--shape 2,3"):
        check_file(f"{path}:square")
    assert check_file(f"{path}:square", shapes=[(2, 3)]).passed


def test_a_per_function_companion_comes_first(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(textwrap.dedent('''
        from minicnn import Tensor
        def product(a, b):
            return a * b
        def product_inputs():
            return [Tensor([[1.0, 2.0]], dtype="float64"), Tensor([3.0, 4.0], dtype="float64")]
        def function_inputs():
            raise AssertionError("product_inputs() is the one to use")
    '''))
    result = check_file(f"{path}:product")
    assert result.passed and [c.shape for c in result.inputs] == [(1, 2), (2,)]


def test_localize_a_correct_model(capsys):
    code, out, err = run(["gradcheck", "lenet5", "--variant", "modern", "--localize",
                          "--input-shape", "1,16,16"], capsys)
    assert code == 0, err
    assert "MaxPool2dFunction" in out and "nodes pass" in out


def test_localize_names_a_planted_wrong_backward(capsys, monkeypatch):
    right = ReLUFunction.backward
    monkeypatch.setattr(ReLUFunction, "backward", lambda self, gy: right(self, gy) * 1.0002)
    code, out, err = run(["gradcheck", "lenet5", "--variant", "modern", "--localize",
                          "--input-shape", "1,16,16"], capsys)
    assert code == 1
    assert "first failure: node 1, ReLUFunction" in out
    assert err.strip() == "first wrong backward: node 1, ReLUFunction"
