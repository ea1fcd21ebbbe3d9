"""minicnn/gradient_check.py: finite differences, the coursework result, its calibration,
and gradcheck_graph's node-by-node search for a wrong backward."""
import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import Tensor, nn
from minicnn.autograd import Function
from minicnn.functional.activation import ReLUFunction
from minicnn.gradient_check import (
    DEFAULT_EPS,
    DEFAULT_RTOL,
    GradcheckResult,
    InputCheck,
    relative_error,
)
from minicnn.tools.gradcheck_suite import OPS, op_inputs


def test_numerical_grad_of_a_square():
    x = Tensor(numpy.array([1.0, -2.0, 3.0]))
    (g,) = minicnn.numerical_grad(lambda t: t * t, [x])
    numpy.testing.assert_allclose(g, [2.0, -4.0, 6.0], rtol=1e-8)


def test_numerical_grad_of_float32_warns_and_still_answers():
    x = Tensor(numpy.array([1.0, 2.0], dtype=numpy.float32))
    with pytest.warns(UserWarning, match="float32; finite differences lose precision"):
        (g,) = minicnn.numerical_grad(lambda t: t * t, [x], eps=1e-2)
    numpy.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-3)


# ------------------------------------------------------------- the result
def test_result_fields_on_a_correct_function(rng):
    a = Tensor(rng.standard_normal((3, 4)))
    b = Tensor(rng.standard_normal(4))
    result = minicnn.gradcheck(lambda a, b: (a.exp() * b).sum(axis=1), [a, b])
    assert isinstance(result, GradcheckResult) and isinstance(result, minicnn.GradcheckResult)
    assert result.passed is True and bool(result)
    assert isinstance(result.max_rel_error, float) and 0 <= result.max_rel_error <= DEFAULT_RTOL
    assert [c.index for c in result.inputs] == [0, 1]
    first = result.inputs[0]
    assert isinstance(first, InputCheck)
    assert (first.n_checked, first.n_failed) == (12, 0)
    assert result.max_rel_error == max(c.max_rel_error for c in result.inputs)
    assert len(first.worst_index) == 2
    assert all(type(i) is int for i in first.worst_index)


class WrongSquare(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x  # the bug: should be 2 * x


def test_a_wrong_backward_raises_with_the_result_attached():
    x = Tensor(numpy.array([[1.0, 2.0, 3.0]]))
    with pytest.raises(minicnn.GradcheckError, match=r"input 0 .* relative error") as info:
        minicnn.gradcheck(lambda t: WrongSquare()(t), [x])
    result = info.value.result
    assert not result.passed and not bool(result)
    (check,) = result.inputs
    assert check.n_failed == 3 and check.n_checked == 3
    assert check.max_rel_error == pytest.approx(1 / 3, rel=1e-6)  # |x - 2x| / (x + 2x)
    assert all(type(i) is int for i in check.worst_index)
    assert "(0, " in str(check.worst_index)  # prints as (0, 2), not (np.int64(0), ...)


class OneWrongElement(Function):
    """y = 3x, with a backward wrong at flat element 4 only."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        gx = 3 * gy
        gx.reshape(-1)[4] *= 2
        return gx


def test_n_failed_counts_elements_and_worst_index_is_plain_ints():
    x = Tensor(numpy.arange(1.0, 7.0).reshape(2, 3))
    result = minicnn.gradcheck(lambda t: OneWrongElement()(t), [x], raise_on_failure=False)
    (check,) = result.inputs
    assert (check.n_checked, check.n_failed) == (6, 1)
    assert check.worst_index == (1, 1) and all(type(i) is int for i in check.worst_index)
    assert check.analytic == pytest.approx(2 * check.numerical, rel=1e-6)


def test_str_is_a_table_a_student_can_paste():
    x = Tensor(numpy.array([[1.0, 2.0, 3.0]]))
    result = minicnn.gradcheck(lambda t: WrongSquare()(t), [x], raise_on_failure=False)
    text = str(result)
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck FAILED: max relative error 3.33e-01")
    assert "max rel. error" in lines[1] and "worst index" in lines[1]
    assert lines[3].split()[:5] == ["0", "1x3", "float64", "3", "3"]
    assert "gradcheck PASSED" in str(minicnn.gradcheck(lambda t: t * t, [x]))


def test_integer_inputs_are_held_fixed_and_shown(rng):
    logits = Tensor(rng.standard_normal((4, 5)))
    target = Tensor(numpy.array([0, 3, 1, 4]))
    result = minicnn.gradcheck(F.cross_entropy, [logits, target])
    assert result.inputs[1].checked is False
    assert "not checked (integer, held fixed)" in str(result)


class BrokenCenter(Function):
    """y = x - mean(x); its outputs always sum to 0, like BatchNorm's."""

    def forward(self, x):
        return x - x.mean()

    def backward(self, gy):
        return gy * 0  # the bug: the true gradient is gy - mean(gy)


def test_random_upstream_gradient_catches_what_a_sum_would_miss():
    x = Tensor(numpy.array([1.0, 2.0, 4.0]))
    # Under a plain sum the true gradient is 0, so this broken backward would pass.
    numeric = minicnn.numerical_grad(lambda t: BrokenCenter()(t), [x])[0]
    numpy.testing.assert_allclose(numeric, 0.0, atol=1e-8)
    with pytest.raises(minicnn.GradcheckError):
        minicnn.gradcheck(lambda t: BrokenCenter()(t), [x])


def test_bad_settings_are_one_line_errors():
    x = Tensor(numpy.ones(2))
    with pytest.raises(ValueError, match=r"^gradcheck: eps must be a positive number"):
        minicnn.gradcheck(lambda t: t * t, [x], eps=0)
    with pytest.raises(ValueError, match=r"^gradcheck: no floating-point input"):
        minicnn.gradcheck(lambda t: t, [Tensor(numpy.array([1, 2]))])


# ----------------------------------------------------------------- float32
def test_float32_is_checked_with_a_warning_and_reported():
    x = Tensor(numpy.random.default_rng(0).standard_normal((3, 4)).astype(numpy.float32))
    with pytest.warns(UserWarning, match=r"input 0 is float32; finite differences lose "
                                         r"precision.*use float64"):
        result = minicnn.gradcheck(F.tanh, [x], raise_on_failure=False)
    assert result.inputs[0].dtype == "float32" and result.inputs[0].n_checked == 12
    # the lesson: the same correct op, in float32, reads far above the threshold
    assert not result.passed and result.max_rel_error > 1e-3


# ------------------------------------------------------------- no mutation
@pytest.mark.parametrize("backward_is_wrong", [False, True])
def test_the_callers_tensors_come_back_as_they_were(backward_is_wrong):
    rng = numpy.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3)))                       # no requires_grad
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)   # with a stale .grad
    stale = numpy.full((2, 3), 7.0)
    w.grad = stale
    x_data, w_data = x.data.copy(), w.data.copy()

    def fn(x, w):
        y = x * w
        return WrongSquare()(y) if backward_is_wrong else y * y
    result = minicnn.gradcheck(fn, [x, w], raise_on_failure=False)
    assert result.passed is not backward_is_wrong
    assert x.requires_grad is False and x.grad is None
    assert w.requires_grad is True and w.grad is stale
    numpy.testing.assert_array_equal(w.grad, 7.0)
    assert numpy.array_equal(x.data, x_data) and numpy.array_equal(w.data, w_data)


def test_a_non_contiguous_input_is_really_perturbed():
    base = numpy.random.default_rng(0).standard_normal((4, 6))
    x = Tensor(base[:, ::2])  # a strided view: reshape(-1) would copy it
    assert minicnn.gradcheck(lambda t: t * t * t, [x])


# ------------------------------------------------------------ the rule
def test_relative_error_is_cs231n_for_the_large_elements():
    numpy.testing.assert_allclose(relative_error(numpy.array([1.0]), numpy.array([3.0])),
                                  [0.5])
    assert relative_error(numpy.array([0.0]), numpy.array([0.0]))[0] == 0.0


def test_relative_error_judges_a_near_zero_gradient_against_the_floor():
    a = numpy.array([2.0, 1e-12])
    n = numpy.array([2.0, 3e-12])
    # CS231n's plain formula reads 0.5 for the second element; the floor
    # (1e-3 of the largest |a| + |n|, here 4) judges its 2e-12 against 4e-3.
    err = relative_error(a, n)
    assert err[1] == pytest.approx(2e-12 / 4e-3)
    assert err[1] < DEFAULT_RTOL


class ScaledGradient(Function):
    """The identity with a backward wrong by a constant factor."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, y):
        return y

    def backward(self, gy):
        return gy * self.factor


def _draw(name, draw):
    return [t for _, t in op_inputs(name, numpy.random.default_rng(draw))]


@pytest.mark.slow
def test_calibration_every_op_passes_50_draws_and_a_1e4_error_fails():
    """DEFAULT_RTOL and DEFAULT_EPS: every correct op of the suite passes on 50
    draws (inputs and upstream gradient), and the same op with a backward wrong
    by a factor 1.0002 (relative error 1e-4) fails."""
    worst = {}
    for name, (fn, _) in OPS.items():
        for draw in range(50):
            result = minicnn.gradcheck(fn, _draw(name, draw), raise_on_failure=False,
                                       seed=draw)
            assert result.passed, f"{name}, draw {draw}:\n{result}"
            worst[name] = max(worst.get(name, 0.0), result.max_rel_error)

        def wrong(*xs, fn=fn):
            return ScaledGradient(1.0002)(fn(*xs))
        result = minicnn.gradcheck(wrong, _draw(name, 0), raise_on_failure=False)
        assert not result.passed and result.max_rel_error > 10 * DEFAULT_RTOL, name
    # the margin on the correct side, too: a tenth of the threshold
    assert max(worst.values()) < DEFAULT_RTOL / 10, worst


@pytest.mark.slow
def test_calibration_readme_examples_pass_50_draws():
    """The gradcheck examples of README.md's "Checking gradients" section."""
    for draw in range(50):
        rng = numpy.random.default_rng(draw)
        x = Tensor(rng.standard_normal((1, 2, 4, 4)))
        w = Tensor(rng.standard_normal((2, 2, 3, 3)))
        assert minicnn.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), [x, w],
                                 seed=draw)
        z = Tensor(rng.standard_normal((3, 4)))
        assert minicnn.gradcheck(lambda z: 1 / (1 + (-z).exp()), [z], seed=draw)


def test_defaults_are_the_documented_values():
    assert (DEFAULT_EPS, DEFAULT_RTOL) == (1e-5, 1e-6)
    assert minicnn.gradcheck.__defaults__[:2] == (DEFAULT_EPS, None)


# ---------------------------------------------------------- gradcheck_graph
def small_net():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(3 * 2 * 2, 4)).double()


def small_loss(model):
    x = Tensor(numpy.random.default_rng(1).standard_normal((2, 1, 4, 4)))
    return F.cross_entropy(model(x), numpy.array([0, 3]))


def test_gradcheck_graph_passes_a_correct_model_in_forward_order():
    model = small_net()
    report = minicnn.gradcheck_graph(small_loss(model))
    ops = [c.op for c in report]
    assert ops[0] == "Conv2dFunction" and ops[-1] == "SoftmaxCrossEntropy"
    assert ops.index("BatchNorm") < ops.index("ReLUFunction") < ops.index("MaxPool2dFunction")
    assert report.passed and report.first_failure is None
    assert all(c.status == "ok" and c.n_checked > 0 for c in report)
    assert all(isinstance(c.output_shape, tuple) for c in report)
    assert "all " in str(report) and "nodes pass" in str(report)


def test_a_planted_wrong_backward_is_the_first_failure(monkeypatch):
    model = small_net()
    right = ReLUFunction.backward
    monkeypatch.setattr(ReLUFunction, "backward", lambda self, gy: right(self, gy) * 1.0002)
    report = minicnn.gradcheck_graph(small_loss(model))
    failure = report.first_failure
    assert failure is not None and failure.op == "ReLUFunction"
    assert failure.max_rel_error > 10 * DEFAULT_RTOL and not failure.passed
    # the nodes before it pass: the bug is localized, not smeared
    assert all(c.passed for c in report[:failure.position])
    assert f"first failure: node {failure.position}, ReLUFunction" in str(report)


def test_dropout_is_replayed_with_a_pinned_generator():
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    report = minicnn.gradcheck_graph(F.dropout(F.tanh(x), p=0.5) * 2)
    (node,) = [c for c in report if c.op == "DropoutFunction"]
    assert node.status == "ok" and "pinned generator" in node.notes


def test_max_pool_ties_are_kinks_not_failures():
    # after ReLU many windows hold only zeros: a tie in every such window
    x = Tensor(-numpy.abs(numpy.random.default_rng(0).standard_normal((1, 2, 4, 4))),
               requires_grad=True)
    report = minicnn.gradcheck_graph(F.max_pool2d(F.relu(x), 2), max_elements=64)
    (pool,) = [c for c in report if c.op == "MaxPool2dFunction"]
    assert pool.status == "ok" and pool.n_kinks > 0


class Gather(Function):
    """y = x[idx] along the first axis; idx is an integer input."""

    def forward(self, x, idx):
        self.x_shape, self.idx = x.shape, idx
        return x[idx]

    def backward(self, gy):
        gx = numpy.zeros(self.x_shape)
        numpy.add.at(gx, self.idx, gy)
        return gx, None


def test_integer_inputs_of_a_node_are_held_fixed_and_noted():
    x = Tensor(numpy.arange(6.0).reshape(3, 2), requires_grad=True)
    report = minicnn.gradcheck_graph(Gather()(x, Tensor(numpy.array([2, 0, 2]))))
    assert report.passed and "input 1 (int64) held fixed" in report[0].notes


def test_gradcheck_graph_leaves_graph_statistics_and_generator_alone():
    model = small_net()
    loss = small_loss(model)
    bn = model[1]
    running = bn.running_mean.copy() if hasattr(bn.running_mean, "copy") else None
    state = minicnn.rng.get_rng_state()
    minicnn.gradcheck_graph(loss)
    assert minicnn.rng.get_rng_state() == state
    if running is not None:
        numpy.testing.assert_array_equal(numpy.asarray(bn.running_mean), running)
    loss.backward()  # the graph still back-propagates
    assert all(p.grad is not None for p in model.parameters())


def test_gradcheck_graph_errors():
    x = Tensor(numpy.ones((2, 2)), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="before output.backward"):
        minicnn.gradcheck_graph(y)
    with pytest.raises(ValueError, match="no recorded graph"):
        minicnn.gradcheck_graph(Tensor(numpy.ones(2)))


def test_an_input_whose_true_gradient_is_zero_passes(rng):
    """A conv bias just before BatchNorm: the mean subtraction cancels it, so its
    numerical gradient is rounding noise (~1e-12), judged against the floor set by
    the other inputs' gradients (CS231n's plain formula reads ~1 there)."""
    x = Tensor(rng.standard_normal((2, 2, 3, 3)))
    W = Tensor(rng.standard_normal((2, 2, 3, 3)))
    b = Tensor(rng.standard_normal(2))

    def fn(x, W, b):
        return F.batch_norm(F.conv2d(x, W, b, padding=1), None, None, training=True)
    result = minicnn.gradcheck(fn, [x, W, b])
    assert abs(result.inputs[2].numerical) < 1e-9
    assert result.inputs[2].max_rel_error <= DEFAULT_RTOL
