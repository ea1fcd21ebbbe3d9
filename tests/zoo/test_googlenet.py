"""GoogLeNet (zoo/googlenet.py): torchvision counts and logits, aux heads, the paper's table."""
import pytest

from minicnn import nn, zoo
from minicnn.zoo.googlenet import INCEPTION_TABLE


@pytest.mark.parametrize("aux", [False, True])
def test_counts_equal_torchvision(fast_init, torchvision_count, aux):
    ours = zoo.googlenet(aux_logits=aux).num_parameters()
    assert ours == torchvision_count("googlenet", aux_logits=aux, init_weights=False)
    assert ours == (13_004_888 if aux else 6_624_904)


def test_paper_variant_has_true_5x5_branches_and_lrn(fast_init):
    model = zoo.googlenet(variant="paper", aux_logits=False)
    assert model.num_parameters() == 6_998_552          # the paper: "about 6.8 million"
    assert model.inception4e.branch3[1].conv.kernel_size == (5, 5)
    assert isinstance(model.lrn1, nn.LocalResponseNorm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    # concatenated widths follow Table 1: #1x1 + #3x3 + #5x5 + pool proj
    assert [t[1] + t[3] + t[5] + t[6] for t in INCEPTION_TABLE.values()] == [
        256, 480, 512, 512, 512, 528, 832, 832, 1024]


@pytest.mark.parametrize("aux", [False, True])
def test_logits_match_torchvision(fast_init, assert_logits_match, aux):
    models = pytest.importorskip("torchvision.models")
    theirs = models.googlenet(aux_logits=aux, init_weights=False)
    assert_logits_match(zoo.googlenet(aux_logits=aux), theirs, (1, 3, 64, 64))


def test_training_returns_aux_logits(forward_backward):
    out = forward_backward(zoo.googlenet(num_classes=10), (2, 3, 64, 64), 10)
    assert isinstance(out, zoo.GoogLeNetOutputs)
    assert out.aux_logits1.shape == out.aux_logits2.shape == (2, 10)


@pytest.mark.slow
def test_paper_variant_forward_backward(forward_backward):
    forward_backward(zoo.googlenet(num_classes=10, variant="paper"), (2, 3, 64, 64), 10)
