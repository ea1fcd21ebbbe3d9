"""Chapter 2, exercise 1: sigmoid as a Function passes gradcheck in float64."""
import numpy as np

import minicnn


class Sigmoid(minicnn.Function):
    def forward(self, x):
        xp = minicnn.get_array_module(x)
        self.y = 1 / (1 + xp.exp(-x))           # saved: the derivative needs only y
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)       # d sigmoid / dx = y (1 - y)


x = np.random.default_rng(0).standard_normal((5, 5))
result = minicnn.gradcheck(lambda t: Sigmoid()(t), [x])
print(result)
assert result.passed and result.max_rel_error < 1e-8
