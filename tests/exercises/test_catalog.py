"""Integrity of the grades: every skeleton fails every test with "not implemented yet",
every reference solution (tests/exercises/solutions/) passes, and planted mistakes fail
with the hint meant for them."""
import os
import shutil

import pytest

from minicnn import exercises

SOLUTIONS = os.path.join(os.path.dirname(__file__), "solutions")

# (exercise, text of the solution, the planted mistake, the test that must fail,
#  words of its hint)
PLANTED = [
    ("linear", "gw = gy.T @ x", "gw = x.T @ gy", "shapes and dtypes", "transpose"),
    ("linear", "gb = gy.sum(axis=0)", "gb = gy.mean(axis=0)", "backward values",
     "batch size"),
    ("linear", "return x @ w.T + b", "return x @ w + b", "shapes and dtypes",
     "line 6 of linear.py"),
    ("relu", "return gy * (x > 0)", "return gy * (x >= 0)", "edge cases", "x == 0"),
    ("relu", "return gy * (x > 0)", "return gy * (gy > 0)", "backward values",
     "not from gy"),
    ("softmax_cross_entropy", "    glogits /= N\n", "", "gradient values", "batch size"),
    ("softmax_cross_entropy", "shifted = logits - logits.max(axis=1, keepdims=True)",
     "shifted = logits", "edge cases", "subtract each row's maximum"),
    ("conv_naive", "OH = (H + 2 * padding - KH) // stride + 1\n"
     "    OW = (W + 2 * padding - KW) // stride + 1\n    xpad",
     "OH = (H + 2 * padding - KH) // stride\n    OW = (W + 2 * padding - KW) // stride\n"
     "    xpad", "shapes and dtypes", "off-by-one in the output size"),
    ("conv_naive", "gw += np.tensordot(g, xpad[:, :, rows, cols], axes=([0], [0]))",
     "gw += np.tensordot(g, xpad[:, :, rows, cols], axes=([0], [0])) / N",
     "backward values", "batch size"),
    ("conv_naive", "y[:, :, i, j] = np.tensordot(window, w,",
     "y[:, :, i, j] = np.tensordot(window, w[:, :, ::-1, ::-1],", "forward values",
     "flipped the kernel"),
    ("im2col", "+= cols[:, :, p, q]", "= cols[:, :, p, q]", "col2im values", "+="),
    ("im2col", "return cols.reshape(N, C * kh * kw, OH * OW)",
     "return cols.transpose(0, 2, 3, 1, 4, 5).reshape(N, C * kh * kw, OH * OW)",
     "im2col values", "c*kh*kw + p*kw + q"),
    ("max_pool", "first = window.reshape(N, C, -1).argmax(axis=2)",
     "first = window.reshape(N, C, -1).shape[2] - 1 - window.reshape(N, C, -1)[:, :, ::-1]"
     ".argmax(axis=2)", "edge cases", "FIRST maximum"),
    ("max_pool", "gx[n, c, i * stride + p, j * stride + q] += gy[:, :, i, j]",
     "gx[n, c, i * stride + p, j * stride + q] = gy[:, :, i, j]", "backward values",
     "add the gradients with +="),
    ("batch_norm", "var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)",
     "var = x.var(axis=(0, 2, 3), keepdims=True, ddof=1)", "forward values",
     "biased variance"),
    ("batch_norm", "gx = s / M * (M * g - g.sum(axis=(0, 2, 3), keepdims=True)\n"
     "                  - xhat * (g * xhat).sum(axis=(0, 2, 3), keepdims=True))",
     "gx = g * s", "backward values", "through the mean and the variance"),
    ("dropout", "return x * mask / (1 - p), mask", "return x * mask, mask", "values",
     "1/(1-p)"),
    ("dropout", "mask = rng.random(x.shape) >= p", "mask = rng.random(x.shape) < p",
     "drop rate", "probability of DROPPING"),
    ("dropout", "mask = rng.random(x.shape) >= p", "mask = np.random.random(x.shape) >= p",
     "uses rng", "rng argument"),
    ("sgd_momentum", "velocity = momentum * velocity + g\n",
     "velocity = momentum * velocity - lr * g\n    g = -velocity\n", "momentum",
     "accumulates gradients"),
    ("sgd_momentum", "g = grad + weight_decay * param", "g = grad", "weight decay",
     "weight_decay * param"),
    ("sgd_momentum", "        g = g + momentum * velocity\n", "        g = velocity\n",
     "nesterov", "nesterov"),
    ("lrn", "scale = k + alpha / size * _window_sum(x * x, size // 2, (size - 1) // 2)\n"
     "    return", "scale = k + alpha * _window_sum(x * x, size // 2, (size - 1) // 2)\n"
     "    return", "forward values", "divides alpha by size"),
    ("lrn", "return gy * scale ** -beta - 2 * alpha * beta / size * x * mirrored",
     "return gy * scale ** -beta", "backward values", "window term"),
]


def _result(report, test_name):
    return next(t for t in report["tests"] if t["name"] == test_name)


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_skeleton_fails_every_test_as_not_implemented(name, tmp_path):
    exercises.start(name, str(tmp_path))
    report = exercises.check(name, str(tmp_path))
    assert not report["passed"]
    for t in report["tests"]:
        assert t["status"] == "not_implemented", t
        assert t["message"].startswith("not implemented yet: TODO")
        assert f"of {name}.py)" in t["message"]
    exercises.validate(report)


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_reference_solution_passes(name, tmp_path):
    shutil.copy(os.path.join(SOLUTIONS, f"{name}.py"), tmp_path)
    report = exercises.check(name, str(tmp_path))
    failed = [(t["name"], t["message"], t["hint"]) for t in report["tests"]
              if t["status"] != "passed"]
    assert report["passed"], failed
    for t in report["tests"]:
        assert t["max_rel_error"] is None or t["max_rel_error"] <= t["threshold"]


def test_every_exercise_has_two_planted_mistakes():
    counts = {name: 0 for name in exercises.EXERCISES}
    for name, *_ in PLANTED:
        counts[name] += 1
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("name, right, wrong, test_name, hint", PLANTED,
                         ids=[f"{p[0]}-{p[3]}-{i}" for i, p in enumerate(PLANTED)])
def test_planted_mistake_fails_with_its_hint(name, right, wrong, test_name, hint, tmp_path):
    with open(os.path.join(SOLUTIONS, f"{name}.py"), encoding="utf-8") as f:
        source = f.read()
    assert right in source, f"the planted edit no longer applies to {name}.py"
    (tmp_path / f"{name}.py").write_text(source.replace(right, wrong), encoding="utf-8")
    report = exercises.check(name, str(tmp_path))
    assert not report["passed"]
    result = _result(report, test_name)
    assert result["status"] in ("failed", "error"), result
    assert hint in (result["hint"] or "") + result["message"], result
    assert result["case"] is not None or result["status"] == "error"
