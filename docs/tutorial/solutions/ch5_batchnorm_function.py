"""Chapter 5, exercise 2: BatchNorm over N as a Function, and why a sum check is vacuous."""
import numpy as np

import minicnn


class BatchNorm1dOverN(minicnn.Function):
    """x: (N, C), gamma, beta: (C,) -> y: (N, C), normalised over N."""

    def __init__(self, eps=1e-5, zero_gx=False):
        self.eps = eps
        self.zero_gx = zero_gx         # plant a bug: backward returns gx = 0

    def forward(self, x, gamma, beta):
        xp = minicnn.get_array_module(x)
        mu = x.mean(0)                                       # (C,)
        self.s = xp.sqrt(x.var(0) + self.eps)                # (C,)
        self.xhat = (x - mu) / self.s                        # (N, C)
        self.gamma = gamma
        return gamma * self.xhat + beta

    def backward(self, gy):
        gxhat = gy * self.gamma                              # (N, C)
        gx = (gxhat - gxhat.mean(0) - self.xhat * (gxhat * self.xhat).mean(0)) / self.s
        if self.zero_gx:
            gx = gx * 0
        return gx, (gy * self.xhat).sum(0), gy.sum(0)


def sum_check(fn, inputs):
    """The vacuous check: the gradient of sum(y) against finite differences."""
    x = minicnn.Tensor(inputs[0], requires_grad=True)
    fn(x, *inputs[1:]).sum().backward()
    eps = 1e-6
    numeric = np.zeros_like(inputs[0])
    for i in np.ndindex(*inputs[0].shape):
        plus, minus = inputs[0].copy(), inputs[0].copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (float(fn(minicnn.Tensor(plus), *inputs[1:]).sum().item())
                      - float(fn(minicnn.Tensor(minus), *inputs[1:]).sum().item())) / (2 * eps)
    return np.allclose(x.grad, numeric, atol=1e-6)


rng = np.random.default_rng(1)  # not 0: gradcheck draws its upstream gradient with seed 0
x = rng.standard_normal((8, 4)) * 2 + 1
gamma, beta = rng.standard_normal(4), rng.standard_normal(4)


def good(*t):
    return BatchNorm1dOverN()(*t)


def bad(*t):
    return BatchNorm1dOverN(zero_gx=True)(*t)


assert minicnn.gradcheck(good, [x, gamma, beta])
try:
    minicnn.gradcheck(bad, [x, gamma, beta])
except minicnn.GradcheckError as e:
    print("random-upstream check catches the bug:", str(e)[:80], "...")
else:
    raise AssertionError("the zeroed gradient should fail gradcheck")

# sum(y) = sum(beta) * N whatever x is, so d sum(y) / dx = 0: a zero gx passes.
assert sum_check(good, [x, gamma, beta])
assert sum_check(bad, [x, gamma, beta])
print("the all-ones (sum) check passes both the correct and the zeroed backward")
