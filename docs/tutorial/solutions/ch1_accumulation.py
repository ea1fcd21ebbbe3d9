"""Chapter 1, exercise 3: without zeroing, a second backward adds to .grad."""
import numpy as np

import minicnn

x = minicnn.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
(x * x).sum().backward()
print("after one backward:  x.grad =", x.grad, "(= 2x)")
(x * x).sum().backward()            # a second graph, same leaf, no zero_grad
print("after two backwards: x.grad =", x.grad, "(= 4x: accumulated)")
assert np.array_equal(x.grad, 4 * x.data)
x.grad = None                       # what optimizer.zero_grad() does for each parameter
(x * x).sum().backward()
assert np.array_equal(x.grad, 2 * x.data)
