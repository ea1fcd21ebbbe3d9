"""optimize_for_inference: BatchNorm folded into the conv before it, and the ReLU
after a conv fused into it (nn.ConvReLU2d), change no output; the result records
no graph."""
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


def count_type(model, cls):
    return sum(type(m) is cls for m in model.modules())


@pytest.mark.parametrize("name", list_models())
def test_folded_zoo_model_matches_unfolded(name):
    model, x = build(name)
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    with minicnn.no_grad():
        want = model(Tensor(x)).numpy()
    out = folded(Tensor(x))          # no no_grad() here: the folded model records nothing
    assert out.grad_fn is None and not out.requires_grad
    got = out.numpy()
    # float32: the fold reorders one multiply per weight, so outputs agree to a few
    # ulps of the largest logit, relative 1e-4.
    scale = max(1.0, float(numpy.abs(want).max()))
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)
    assert count_bn(folded) == KEEPS_BN.get(name, 0)
    assert not folded.training
    assert not any(p.requires_grad for p in folded.parameters())
    # every zoo model but LeNet-5 (tanh) has a ReLU right after some convolution
    assert (count_type(folded, nn.ConvReLU2d) > 0) == (name != "lenet5")
    assert count_type(folded, nn.ConvReLU2d) + count_type(folded, nn.Conv2d) == count_type(
        model, nn.Conv2d)


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


def test_relus_after_convs_are_fused_and_a_shared_relu_is_left_alone():
    model, x = build("resnet20")
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    # the stem's own ReLU follows its conv only: fused, and replaced by Identity
    assert type(folded.conv1) is nn.ConvReLU2d and type(folded.relu) is nn.Identity
    # a block's self.relu also runs on the residual sum: the module and its convs stay
    block = folded.layer1[0]
    assert type(block.relu) is nn.ReLU and type(block.conv1) is nn.Conv2d
    assert "ConvReLU2d(3, 16, kernel_size=(3, 3)" in repr(folded.conv1)


def _small_conv_relu_model(share_relu):
    relu = nn.ReLU()
    second = relu if share_relu else nn.ReLU()
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), relu,
                         nn.Conv2d(3, 4, 3), second, nn.Flatten())


@pytest.mark.parametrize("share_relu", [False, True])
def test_sequential_relu_slots_are_fused_even_when_one_module_fills_both(share_relu):
    minicnn.manual_seed(0)
    model = _small_conv_relu_model(share_relu).eval()
    randomize_bn(model, numpy.random.default_rng(1))
    x = numpy.random.default_rng(2).normal(size=(2, 2, 6, 6)).astype(numpy.float32)
    folded = minicnn.optimize_for_inference(model)   # Sequential neighbours: no trace needed
    assert [type(m).__name__ for m in folded] == [
        "ConvReLU2d", "Identity", "Identity", "ConvReLU2d", "Identity", "Flatten"]
    with minicnn.no_grad():
        numpy.testing.assert_allclose(folded(Tensor(x)).numpy(), model(Tensor(x)).numpy(),
                                      rtol=1e-5, atol=1e-6)
    assert folded.state_dict().keys() == {k: v for k, v in model.state_dict().items()
                                          if not k.startswith("1.")}.keys()


class _AttributePair(nn.Module):
    """conv -> relu through attributes; ``read_twice`` also adds the conv's output."""

    def __init__(self, read_twice):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.relu = nn.ReLU(inplace=True)
        self.read_twice = read_twice

    def forward(self, x):
        z = self.conv(x)
        if self.read_twice:
            return z * 2.0 + self.relu(z)   # z * 2 read z before the in-place ReLU
        return self.relu(z)


@pytest.mark.parametrize("read_twice", [False, True])
def test_attribute_relu_is_fused_only_when_it_alone_reads_the_conv(read_twice):
    minicnn.manual_seed(0)
    model = _AttributePair(read_twice).eval()
    x = numpy.random.default_rng(2).normal(size=(2, 2, 5, 5)).astype(numpy.float32)
    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    fused = type(folded.conv) is nn.ConvReLU2d
    assert fused == (not read_twice)
    assert type(folded.relu) is (nn.ReLU if read_twice else nn.Identity)
    with minicnn.no_grad():
        numpy.testing.assert_allclose(folded(Tensor(x)).numpy(), model(Tensor(x)).numpy(),
                                      rtol=1e-5, atol=1e-6)


def test_conv_relu2d_is_a_conv2d_then_relu():
    minicnn.manual_seed(0)
    layer = nn.ConvReLU2d(3, 4, 3, padding=1, bias=False)
    x = Tensor(numpy.random.default_rng(0).normal(size=(1, 3, 4, 4)).astype(numpy.float32))
    plain = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    plain.load_state_dict(layer.state_dict())
    numpy.testing.assert_allclose(layer(x).numpy(), minicnn.functional.relu(plain(x)).numpy(),
                                  rtol=1e-6, atol=1e-6)
    assert repr(layer) == ("ConvReLU2d(3, 4, kernel_size=(3, 3), stride=(1, 1), "
                           "padding=(1, 1), bias=False)")
    with pytest.raises(TypeError, match="ConvReLU2d.from_conv: expected an nn.Conv2d, got ReLU"):
        nn.ConvReLU2d.from_conv(nn.ReLU())
