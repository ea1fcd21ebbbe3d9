"""summary() (minicnn/tools/summary.py): Keras-like totals that match the Keras tutorials'
model.summary() printouts (docs/references.md)."""
import pytest

from minicnn import nn, zoo
from minicnn.tools.summary import ModelSummary, summary

# (builder, input shape, Keras total, trainable, non-trainable), as the tutorials print them.
KERAS_SUMMARIES = [
    (zoo.cifar_cnn, (3, 32, 32), 325_956, 325_956, 0),
    (zoo.fashion_mnist_cnn, (1, 28, 28), 2_589_834, 2_588_106, 1_728),
    (zoo.cifar10_bn_cnn, (3, 32, 32), 652_874, 652_426, 448),
]


@pytest.mark.parametrize("build,shape,total,trainable,frozen", KERAS_SUMMARIES)
def test_totals_equal_the_keras_summaries(capsys, build, shape, total, trainable,
                                                frozen):
    info = summary(build(), shape)
    assert (info.total_params, info.trainable_params, info.non_trainable_params) == (
        total, trainable, frozen)
    assert sum(r.params for r in info.rows) == total
    printed = capsys.readouterr().out
    assert f"Total params: {total:,}" in printed
    assert f"Trainable params: {trainable:,}" in printed
    assert f"Non-trainable params: {frozen:,}" in printed


def test_keras_vgg16_cifar100(capsys):
    info = summary(zoo.vgg16(cifar=True), (3, 32, 32))
    assert info.total_params == info.trainable_params == 34_006_948
    assert "Total params: 34,006,948 (129.73 MB)" in capsys.readouterr().out
    assert info.rows[-1].output_shape == (1, 100)


def test_rows_shapes_params_and_macs():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.BatchNorm2d(8),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3, groups=2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 5))
    info = summary(model, (3, 8, 8), print_fn=None)
    assert [r.name for r in info.rows] == ["0", "1", "2", "3", "4", "5", "6"]
    assert [r.type for r in info.rows][:2] == ["Conv2d", "BatchNorm2d"]
    assert [r.output_shape for r in info.rows] == [
        (1, 8, 8, 8), (1, 8, 8, 8), (1, 8, 8, 8), (1, 8, 4, 4), (1, 4, 2, 2), (1, 16),
        (1, 5)]
    bn = info.rows[1]
    assert (bn.params, bn.trainable_params, bn.non_trainable_params) == (32, 16, 16)
    # conv: OC*OH*OW * (C/groups)*KH*KW; linear: in*out; the rest 0
    assert [r.macs for r in info.rows] == [8 * 8 * 8 * 3 * 9, 0, 0, 0, 4 * 2 * 2 * 4 * 9, 0,
                                           16 * 5]
    assert info.total_macs == sum(r.macs for r in info.rows)
    assert info.activation_bytes == 4 * (3 * 512 + 128 + 16 + 16 + 5)
    assert info.to_dict()["rows"][0]["output_shape"] == [1, 8, 8, 8]


def test_batch_size_scales_macs_and_memory():
    model = zoo.lenet5()
    one = summary(model, (1, 32, 32), print_fn=None)
    four = summary(model, (1, 32, 32), batch_size=4, print_fn=None)
    assert four.total_macs == 4 * one.total_macs
    assert four.activation_bytes == 4 * one.activation_bytes
    assert four.rows[0].output_shape == (4, 6, 28, 28)


def test_shared_module_counts_its_weights_once():
    model = zoo.lenet5(variant="modern")                   # one ReLU and one pool, reused
    info = summary(model, (1, 28, 28), print_fn=None)
    assert [r.name for r in info.rows].count("pool") == 2
    assert info.total_params == sum(r.params for r in info.rows) == 107_786


def test_resnet18_stem_macs_and_batchnorm_counts():
    # the stem conv: 64*16*16 outputs at 32x32, each a 3*7*7 dot product
    info = summary(zoo.resnet18(), (3, 32, 32), print_fn=None)
    assert info.rows[0].name == "conv1" and info.rows[0].macs == 64 * 16 * 16 * 3 * 49
    # num_batches_tracked is a counter, not a parameter: BN adds 4C, 2C trainable.
    bn_channels = sum(m.num_features for m in zoo.resnet18().modules()
                      if isinstance(m, nn.BatchNorm2d))
    assert info.total_params == 11_689_512 + 2 * bn_channels
    assert info.non_trainable_params == 2 * bn_channels


def test_model_is_left_as_found():
    model = zoo.googlenet(num_classes=10)                  # training mode, aux heads
    model.train()
    info = summary(model, (3, 32, 32), print_fn=None)
    assert all(m.training for m in model.modules())
    assert all("forward" not in vars(m) for m in model.modules())
    # eval mode skips the aux heads: their weights count in the totals only
    assert info.total_params > sum(r.params for r in info.rows)
    assert "did not run" in str(info)


def test_module_summary_delegates(capsys):
    info = zoo.cifar_cnn().summary((3, 32, 32))
    assert isinstance(info, ModelSummary) and info.total_params == 325_956
    assert "Total params: 325,956" in capsys.readouterr().out


def test_float64_model_runs_in_float64():
    info = summary(zoo.lenet5().double(), (1, 32, 32), print_fn=None)
    assert info.input_bytes == 32 * 32 * 8
    assert info.param_bytes == 61_706 * 8


@pytest.mark.parametrize("shape", [(), (3, 0, 4), "3x32x32", (3.0, 32, 32)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="summary: input_shape"):
        summary(zoo.lenet5(), shape, print_fn=None)


def test_not_a_module():
    with pytest.raises(TypeError, match="summary: model"):
        summary(lambda x: x, (1, 32, 32))
    with pytest.raises(ValueError, match="batch_size"):
        summary(zoo.lenet5(), (1, 32, 32), batch_size=0)
