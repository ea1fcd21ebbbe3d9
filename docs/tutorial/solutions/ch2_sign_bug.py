"""Chapter 2, exercise 2: a wrong local derivative is caught by both checks."""
import numpy as np

import minicnn


class BadSigmoid(minicnn.Function):
    def forward(self, x):
        xp = minicnn.get_array_module(x)
        self.y = 1 / (1 + xp.exp(-x))
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 + self.y)       # BUG: the sign


def good(t):
    return 1 / (1 + (-t).exp())                 # built from primitives: a correct gradient


x = np.random.default_rng(0).standard_normal((5, 5))
t = minicnn.Tensor(x, requires_grad=True)
BadSigmoid()(t).sum().backward()                # the all-ones check
numeric = minicnn.numerical_grad(good, [x])[0]
print("all-ones check, max difference:", np.abs(t.grad - numeric).max())
assert not np.allclose(t.grad, numeric, atol=1e-6)

result = minicnn.gradcheck(lambda u: BadSigmoid()(u), [x], raise_on_failure=False)
print(result)
assert not result.passed
