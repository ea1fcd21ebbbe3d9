"""Chapter 7, exercise 2: BatchNorm after every conv lifts the plain net's early gradients."""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import nn

DEPTH, WIDTH = 24, 8


class Plain(nn.Module):
    """DEPTH x (conv [-> BatchNorm] -> relu), then a linear layer on the flattened maps."""

    def __init__(self, batch_norm):
        super().__init__()
        self.stem = nn.Conv2d(1, WIDTH, 3, padding=1)
        self.convs = nn.ModuleList([nn.Conv2d(WIDTH, WIDTH, 3, padding=1)
                                    for _ in range(DEPTH)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(WIDTH) if batch_norm else nn.Identity()
                                    for _ in range(DEPTH)])
        self.head = nn.Linear(WIDTH * 8 * 8, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))                              # (N, WIDTH, 8, 8)
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
        return self.head(x.reshape(x.shape[0], WIDTH * 8 * 8))  # (N, WIDTH, 8, 8) -> (N, 512)


digits = minicnn.data.load_dataset("digits")
pixels = digits.train_images[:64] / 255.0
images = minicnn.Tensor(((pixels - pixels.mean()) / pixels.std()).astype(np.float32))
labels = digits.train_labels[:64]


def first_over_last(model):
    F.cross_entropy(model(images), labels).backward()
    g = [float(np.linalg.norm(conv.weight.grad)) for conv in model.convs]
    return g[0] / g[-1]


minicnn.manual_seed(1)
without, with_bn = first_over_last(Plain(False)), first_over_last(Plain(True))
print(f"first/last gradient norm: plain {without:.1e}, plain + BatchNorm {with_bn:.1e}")
assert with_bn > 1e4 * without
