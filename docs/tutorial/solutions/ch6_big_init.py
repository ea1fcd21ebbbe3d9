"""Chapter 6, exercise 1: weights 10x too large give an initial loss far above ln 10."""
import math

from _ch6_common import load_subset, make_lenet5, to_tensor

import minicnn
import minicnn.functional as F

minicnn.manual_seed(0)
images, labels = load_subset(500)
x = to_tensor(images, images)
model = make_lenet5()
with minicnn.no_grad():
    normal = F.cross_entropy(model(x), labels).item()
    for p in model.parameters():
        p.data *= 10
    big = F.cross_entropy(model(x), labels).item()
print(f"initial loss: {normal:.3f} (ln 10 = {math.log(10):.3f}); weights x10: {big:.1f}")
assert abs(normal - math.log(10)) < 0.2
assert big > 10 * math.log(10)
