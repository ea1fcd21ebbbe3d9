"""Chapter 6, exercise 2: labels reshuffled every step cannot be memorised."""
import math

import numpy as np
from _ch6_common import load_subset, make_lenet5, to_tensor

import minicnn
import minicnn.functional as F
from minicnn import optim

minicnn.manual_seed(0)
rng = np.random.default_rng(0)
images, labels = load_subset(50)
x, y = to_tensor(images, images), labels


def overfit(shuffle_every_step, steps=200):
    model = make_lenet5()
    opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    for step in range(steps):
        target = rng.permutation(y) if shuffle_every_step else y
        loss = F.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with minicnn.no_grad():
        accuracy = float((model(x).data.argmax(1) == y).mean())
    return loss.item(), accuracy


honest = overfit(False)
shuffled = overfit(True)
print(f"fixed labels:    loss {honest[0]:.3f}, accuracy {honest[1]:.2f}")
print(f"shuffled labels: loss {shuffled[0]:.3f}, accuracy {shuffled[1]:.2f}")
assert honest[0] < 0.1 and honest[1] == 1.0
assert shuffled[0] > 0.5 * math.log(10) and shuffled[1] < 0.5
