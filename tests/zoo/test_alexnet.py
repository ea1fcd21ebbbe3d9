"""AlexNet (zoo/alexnet.py): torchvision parity and the paper's 60,965,224 parameters."""
import pytest

from minicnn import nn
from minicnn.zoo import alexnet


def test_torchvision_variant_count(fast_init, torchvision_count):
    assert alexnet().num_parameters() == torchvision_count("alexnet") == 61_100_840


def test_paper_variant_matches_the_papers_table(fast_init):
    model = alexnet(variant="paper")
    assert model.num_parameters() == 60_965_224
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]          # the two GPU towers
    lrns = [m for m in model.features if isinstance(m, nn.LocalResponseNorm)]
    # the paper's k=2, n=5, alpha=1e-4 in PyTorch's convention (alpha / n)
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrns] == [(5, 5e-4, 0.75, 2.0)] * 2


def test_logits_match_torchvision(assert_logits_match):
    models = pytest.importorskip("torchvision.models")
    assert_logits_match(alexnet(), models.alexnet(), (2, 3, 63, 63))


@pytest.mark.parametrize("variant", ["torchvision", "paper"])
def test_forward_backward(forward_backward, variant):
    model = alexnet(num_classes=10, variant=variant, input_size=67)
    forward_backward(model, (2, 3, 67, 67), 10)


def test_paper_input_too_small():
    with pytest.raises(ValueError, match="too small"):
        alexnet(variant="paper", input_size=40)
