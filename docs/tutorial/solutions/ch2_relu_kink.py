"""Chapter 2, exercise 3: ReLU's kink at 0 fails a finite-difference check; avoid it."""
import numpy as np

import minicnn
import minicnn.functional as F

x = np.random.default_rng(0).standard_normal((4, 4))
x[0, :2] = 0.0                                   # exact zeros: ReLU's kink
at_kink = minicnn.gradcheck(F.relu, [x], raise_on_failure=False)
print(at_kink)
assert not at_kink.passed
assert at_kink.inputs[0].worst_index[0] == 0 and at_kink.inputs[0].worst_index[1] < 2
# The central difference at 0 is (eps - 0) / (2 eps) times G: half the right slope.

x[np.abs(x) < 1e-3] = 0.5                       # draw away from the kink
away = minicnn.gradcheck(F.relu, [x])
print(away)
assert away.passed
