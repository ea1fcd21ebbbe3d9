"""VGG (zoo/vgg.py): torchvision counts and parity, the Keras CIFAR-100 VGG-16."""
import pytest

from minicnn import zoo
from minicnn.zoo.vgg import vgg as build_vgg

VGG_NAMES = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
             "vgg19_bn"]


@pytest.fixture(scope="module")
def tv_vgg11():
    models = pytest.importorskip("torchvision.models")
    return models.vgg11(init_weights=False)


@pytest.mark.parametrize("name", VGG_NAMES)
def test_counts_equal_torchvision(fast_init, torchvision_count, name):
    model = getattr(zoo, name)(init_weights=False)
    assert model.num_parameters() == torchvision_count(name, init_weights=False)


def test_state_dict_keys_and_shapes_equal_torchvision(fast_init):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    ours = zoo.vgg11_bn(init_weights=False).state_dict()
    with torch.device("meta"):
        theirs = models.vgg11_bn(init_weights=False).state_dict()
    assert list(ours) == list(theirs)
    assert all(tuple(ours[k].shape) == tuple(theirs[k].shape) for k in ours)


def test_paper_counts(fast_init):
    assert zoo.vgg16(init_weights=False).num_parameters() == 138_357_544
    assert zoo.vgg19(init_weights=False).num_parameters() == 143_667_240
    assert zoo.vgg16(batch_norm=True, init_weights=False).num_parameters() == 138_365_992


def test_keras_cifar100_vgg16_count():
    model = zoo.vgg16(cifar=True)
    assert model.num_parameters() == 34_006_948
    assert [m.out_features for m in model.classifier if hasattr(m, "out_features")] == [
        4096, 4096, 100]


def test_logits_match_torchvision(fast_init, assert_logits_match, tv_vgg11):
    # 32x32 is legal: the adaptive pool repeats the 1x1 map to 7x7.
    assert_logits_match(zoo.vgg11(init_weights=False), tv_vgg11, (1, 3, 32, 32))


def _narrow_classifier(model, nn_module, width=64, num_classes=10):
    """Swap the 25088-4096-4096 head for 25088-64-64-classes, in place, keeping the
    layout (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear): float64 copies and
    gradients of the 102M-weight fc6 would dominate the test's time."""
    model.classifier[0] = nn_module.Linear(512 * 7 * 7, width)
    model.classifier[3] = nn_module.Linear(width, width)
    model.classifier[6] = nn_module.Linear(width, num_classes)
    return model


@pytest.mark.slow
def test_float64_training_gradients_match_torchvision(fast_init, assert_train_grads_match):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    from minicnn import nn
    theirs = _narrow_classifier(models.vgg11_bn(dropout=0.0, init_weights=False), torch.nn)
    ours = _narrow_classifier(zoo.vgg11_bn(dropout=0.0, init_weights=False), nn)
    assert_train_grads_match(ours, theirs, (2, 3, 32, 32), 10)


def test_forward_backward_keras_cifar_vgg16(forward_backward):
    forward_backward(zoo.vgg16(num_classes=10, cifar=True), (2, 3, 32, 32), 10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        build_vgg(12)
    with pytest.raises(ValueError, match="multiple of 32"):
        zoo.vgg16(cifar=True, input_size=48)
