"""ImageNet ResNets (zoo/resnet.py): torchvision counts, logits, float64 gradients."""
import sys

import numpy
import pytest

import minicnn
from minicnn import zoo

DEPTHS = [18, 34, 50, 101, 152]


@pytest.fixture(scope="module")
def tv():
    models = pytest.importorskip("torchvision.models")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = getattr(models, name)()
        return cache[name]
    return get


@pytest.mark.parametrize("depth", DEPTHS)
def test_counts_equal_torchvision(fast_init, torchvision_count, depth):
    name = f"resnet{depth}"
    assert getattr(zoo, name)().num_parameters() == torchvision_count(name)


def test_resnet50_count_and_layout(fast_init):
    model = zoo.resnet50()
    assert model.num_parameters() == 25_557_032
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert model.layer2[0].conv2.stride == (2, 2)          # v1.5: stride in the 3x3


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_logits_match_torchvision(fast_init, assert_logits_match, tv, depth):
    name = f"resnet{depth}"
    assert_logits_match(getattr(zoo, name)(), tv(name), (1, 3, 64, 64))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [101, 152])
def test_deep_logits_match_torchvision(fast_init, assert_logits_match, tv, depth):
    name = f"resnet{depth}"
    assert_logits_match(getattr(zoo, name)(), tv(name), (1, 3, 32, 32))


@pytest.mark.slow
def test_float64_training_gradients_match_torchvision(fast_init, assert_train_grads_match):
    models = pytest.importorskip("torchvision.models")
    assert_train_grads_match(zoo.resnet18(num_classes=10), models.resnet18(num_classes=10),
                             (2, 3, 32, 32), 10)


def test_zero_init_residual_starts_blocks_as_identity():
    model = zoo.resnet18(zero_init_residual=True)
    assert all(not numpy.any(b.bn2.weight.data) for layer in
               (model.layer1, model.layer2) for b in layer)
    block = model.layer1[0].eval()
    x = minicnn.Tensor(numpy.random.default_rng(0).standard_normal((1, 64, 8, 8))
                       .astype(numpy.float32))
    with minicnn.no_grad():
        y = block(x)
    numpy.testing.assert_allclose(y.numpy(), numpy.maximum(x.numpy(), 0), rtol=1e-6)
    assert not numpy.any(zoo.resnet50(zero_init_residual=True).layer3[1].bn3.weight.data)


def test_forward_backward_resnet18(forward_backward):
    forward_backward(zoo.resnet18(num_classes=10, in_channels=1), (2, 1, 32, 32), 10)


@pytest.mark.slow
def test_resnet152_backpropagates_without_recursion(forward_backward):
    # The graph is ~1,000 ops deep; backward walks it iteratively, so even a small
    # recursion limit is enough.
    model = zoo.resnet152(num_classes=10)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        forward_backward(model, (2, 3, 32, 32), 10)
    finally:
        sys.setrecursionlimit(limit)
