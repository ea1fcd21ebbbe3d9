"""optimize_for_inference: BatchNorm folded into the conv before it changes no output."""
import copy

import numpy
import pytest
import torch

import minicnn
from minicnn import Tensor, nn
from minicnn.zoo import get_model, list_models

# name -> (builder kwargs, input shape): each model's smallest sensible input. The
# ImageNet VGGs use their CIFAR head (same conv features, no 100M-weight classifier).
SETUPS = {
    "lenet5": ({}, (2, 1, 32, 32)),
    "fashion_mnist_cnn": ({}, (2, 1, 28, 28)),
    "cifar_cnn": ({}, (2, 3, 32, 32)),
    "cifar10_bn_cnn": ({}, (2, 3, 32, 32)),
    "alexnet": ({}, (1, 3, 64, 64)),
    "googlenet": ({}, (1, 3, 64, 64)),
}
for _name in list_models():
    if _name.startswith("vgg"):
        SETUPS[_name] = ({"cifar": True}, (1, 3, 32, 32))
    elif _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        SETUPS[_name] = ({}, (1, 3, 64, 64))
    elif _name.startswith("resnet"):
        SETUPS[_name] = ({}, (2, 3, 32, 32))
# BatchNorm2d layers that must stay: cifar10_bn_cnn and fashion_mnist_cnn put their
# BNs after the ReLU (conv -> relu -> bn); in resnet164 the pre-activation bn1 of
# blocks 2-54 and the final bn normalise a residual sum (block 1's bn1 reads the
# stem conv's output and does fold); googlenet's two auxiliary heads do not run
# in eval mode. Every other zoo BN follows a conv and must be gone.
KEEPS_BN = {"cifar10_bn_cnn": 3, "fashion_mnist_cnn": 2, "resnet164": 54, "googlenet": 2}


def randomize_bn(model, rng):
    """Random running statistics and affine weights, so the fold really moves numbers.
    gamma < 1 keeps deep residual stacks from growing without bound."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            C = m.num_features
            m.running_mean[...] = rng.normal(0.0, 0.5, C)
            m.running_var[...] = rng.uniform(0.5, 2.0, C)
            m.weight.data[...] = rng.uniform(0.3, 0.9, C)
            m.bias.data[...] = rng.normal(0.0, 0.5, C)


def count_bn(model):
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def build(name, dtype=numpy.float32, seed=0):
    kwargs, shape = SETUPS[name]
    minicnn.manual_seed(seed)
    model = get_model(name, num_classes=10, in_channels=shape[1], **kwargs)
    rng = numpy.random.default_rng(seed)
    randomize_bn(model, rng)
    model = model.to(dtype).eval()
    x = rng.normal(size=shape).astype(dtype)
    return model, x


def test_every_zoo_model_has_a_setup():
    assert sorted(SETUPS) == list_models()


@pytest.mark.parametrize("name", list_models())
def test_folded_zoo_model_matches_unfolded(name):
    model, x = build(name)
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    with minicnn.no_grad():
        want = model(Tensor(x)).numpy()
        got = folded(Tensor(x)).numpy()
    # float32: the fold reorders one multiply per weight, so outputs agree to a few
    # ulps of the largest logit, relative 1e-4.
    scale = max(1.0, float(numpy.abs(want).max()))
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)
    assert count_bn(folded) == KEEPS_BN.get(name, 0)
    assert not folded.training


def test_float64_fold_is_exact_to_1e_10():
    model, x = build("resnet20", numpy.float64)
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    with minicnn.no_grad():
        want = model(Tensor(x)).numpy()
        got = folded(Tensor(x)).numpy()
    assert count_bn(folded) == 0
    numpy.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_original_model_is_untouched():
    model, x = build("resnet20")
    before = copy.deepcopy(model.state_dict())
    types = [type(m) for m in model.modules()]
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    assert folded is not model
    assert [type(m) for m in model.modules()] == types
    after = model.state_dict()
    assert sorted(after) == sorted(before)
    for key in before:
        numpy.testing.assert_array_equal(numpy.asarray(after[key]), numpy.asarray(before[key]))


def test_without_example_input_only_sequential_pairs_fold_and_it_warns():
    model, x = build("resnet18")
    with pytest.warns(UserWarning, match="example_input"):
        folded = minicnn.optimize_for_inference(model)
    # the three downsample shortcuts are Sequential(conv1x1, BatchNorm2d)
    assert count_bn(folded) == count_bn(model) - 3
    with minicnn.no_grad():
        numpy.testing.assert_allclose(folded(Tensor(x)).numpy(), model(Tensor(x)).numpy(),
                                      rtol=1e-4, atol=1e-4)


def test_bn_before_conv_is_not_folded():
    # BN -> conv (pre-activation order): nothing to fold, the model is unchanged.
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3)).eval()
    randomize_bn(model, numpy.random.default_rng(1))
    x = numpy.random.default_rng(2).normal(size=(2, 4, 6, 6)).astype(numpy.float32)
    folded = minicnn.optimize_for_inference(model, example_input=x)
    assert count_bn(folded) == 1
    with minicnn.no_grad():
        numpy.testing.assert_array_equal(folded(Tensor(x)).numpy(), model(Tensor(x)).numpy())


def test_conv_output_read_twice_is_not_folded():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            z = self.conv(x)
            return self.bn(z) + z

    minicnn.manual_seed(0)
    model = Twice().eval()
    randomize_bn(model, numpy.random.default_rng(1))
    x = numpy.random.default_rng(2).normal(size=(1, 3, 5, 5)).astype(numpy.float32)
    folded = minicnn.optimize_for_inference(model, example_input=x)
    assert count_bn(folded) == 1
    with minicnn.no_grad():
        numpy.testing.assert_array_equal(folded(Tensor(x)).numpy(), model(Tensor(x)).numpy())


@pytest.mark.parametrize("bias", [True, False])
def test_fold_matches_torch_fuse_conv_bn_eval(bias):
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias).double().eval()
    tbn = torch.nn.BatchNorm2d(5, eps=1e-3).double().eval()
    with torch.no_grad():
        tbn.running_mean.normal_(0, 0.5)
        tbn.running_var.uniform_(0.5, 2.0)
        tbn.weight.uniform_(0.5, 1.5)
        tbn.bias.normal_(0, 0.5)
    tfused = fuse_conv_bn_eval(tconv, tbn)

    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias).to(numpy.float64)
    bn = nn.BatchNorm2d(5, eps=1e-3).to(numpy.float64)
    conv.load_state_dict({k: v.numpy() for k, v in tconv.state_dict().items()})
    bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    folded = minicnn.optimize_for_inference(nn.Sequential(conv, bn))
    assert isinstance(folded[1], nn.Identity)
    numpy.testing.assert_allclose(folded[0].weight.numpy(), tfused.weight.detach().numpy(),
                                  rtol=1e-6, atol=1e-6)
    numpy.testing.assert_allclose(folded[0].bias.numpy(), tfused.bias.detach().numpy(),
                                  rtol=1e-6, atol=1e-6)
    x = numpy.random.default_rng(0).normal(size=(2, 3, 7, 7))
    with minicnn.no_grad():
        got = folded(Tensor(x)).numpy()
    numpy.testing.assert_allclose(got, tfused(torch.from_numpy(x)).detach().numpy(),
                                  rtol=1e-6, atol=1e-6)


def test_fold_conv_bn_rejects_mismatched_channels():
    with pytest.raises(ValueError, match="num_features must equal Conv2d.out_channels"):
        nn.fold_conv_bn(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(5))


def test_optimize_for_inference_rejects_a_non_module():
    with pytest.raises(TypeError, match="must be an nn.Module"):
        minicnn.optimize_for_inference({"weight": 1})
