"""Chapter 1, exercise 1: tanh as a Function, forward and backward side by side."""
import numpy as np

import minicnn


class Tanh(minicnn.Function):
    def forward(self, x):
        xp = minicnn.get_array_module(x)
        self.y = xp.tanh(x)                 # saved for backward
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y ** 2)       # d tanh(x) / dx = 1 - tanh(x)^2


a = minicnn.Tensor(np.linspace(-3, 3, 7), requires_grad=True)
Tanh()(a).sum().backward()
expected = 1 - np.tanh(a.data) ** 2
print("a.grad  =", np.round(a.grad, 6))
print("expected=", np.round(expected, 6))
assert np.allclose(a.grad, expected, rtol=0, atol=1e-15)
assert minicnn.gradcheck(lambda t: Tanh()(t), [np.linspace(-2, 2, 5)])
