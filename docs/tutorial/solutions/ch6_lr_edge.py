"""Chapter 6, exercise 3: the update/weight ratio is proportional to the learning rate;
which rate puts the first convolution at the rule-of-thumb 1e-3?"""
import numpy as np
from _ch6_common import load_subset, make_lenet5, to_tensor

import minicnn
import minicnn.functional as F

images, labels = load_subset(32)
x = to_tensor(images, images)

minicnn.manual_seed(0)
net = make_lenet5()
loss = F.cross_entropy(net(x), labels)
loss.backward()
conv1 = dict(net.named_parameters())["0.weight"]
# The first SGD step (the momentum buffer is still empty) is lr * grad.
ratios = {lr: float(np.linalg.norm(lr * conv1.grad) / np.linalg.norm(conv1.data))
          for lr in (1e-4, 1e-3, 1e-2, 1e-1)}
for lr, r in ratios.items():
    print(f"lr={lr:<7} update/weight ratio of conv1 {r:.2e}")
# Proportional: ten times the rate, ten times the ratio.
assert np.allclose([ratios[1e-3] / ratios[1e-4], ratios[1e-2] / ratios[1e-3]], 10)
lr_for_1e3 = 1e-3 / (ratios[1e-4] / 1e-4)
print(f"the ratio is 1e-3 at lr = {lr_for_1e3:.3f}")
assert 1e-3 < lr_for_1e3 < 1.0
