"""Tests of minicnn/tools/explain.py and `minicnn explain`: the arrays behind the
pictures against the ops' own index arithmetic (im2col, col2im, BatchNorm2d)."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import nn
from minicnn.functional.conv import col2im_array, im2col_array
from minicnn.testing import conv_geometries
from minicnn.tools import cli, explain


def geometries():
    """One conv's geometry, as explain describes it (batch and channels do not matter)."""
    return conv_geometries(max_groups=1, max_batch=1).map(
        lambda g: explain.conv_geometry(g[2], g[3], *g[5:13]))   # H, W, KH ... DW


def args(g):
    return (g["KH"], g["KW"], g["SH"], g["SW"], g["PH"], g["PW"], g["DH"], g["DW"])


@given(geometries())
def test_index_map_is_what_im2col_copies(g):
    # im2col of the image 1 .. H*W: entry - 1 is the pixel index, -1 the zero padding
    image = numpy.arange(1, g["H"] * g["W"] + 1, dtype=numpy.float64)
    cols = im2col_array(image.reshape(1, 1, g["H"], g["W"]), *args(g))
    numpy.testing.assert_array_equal(explain.im2col_index_map(g), cols[0] - 1)


@given(geometries())
def test_overlap_counts_are_col2im_of_im2col_of_ones(g):
    ones = numpy.ones((1, 1, g["H"], g["W"]))
    counts = col2im_array(im2col_array(ones, *args(g)), ones.shape, *args(g))[0, 0]
    numpy.testing.assert_array_equal(explain.col2im_overlap(g), counts)


@given(geometries(), st.data())
def test_receptive_field_is_the_one_hot_gradient_of_the_output_pixel(g, data):
    oh = data.draw(st.integers(0, g["OH"] - 1))
    ow = data.draw(st.integers(0, g["OW"] - 1))
    # the pixels output (oh, ow) reads = where col2im puts a gradient put on that output
    gcols = numpy.zeros((1, g["KH"] * g["KW"], g["OH"] * g["OW"]))
    gcols[0, :, oh * g["OW"] + ow] = 1
    padded = dict(g, H=g["Hp"], W=g["Wp"], PH=0, PW=0)
    reach = col2im_array(gcols, (1, 1, g["Hp"], g["Wp"]), *args(padded))[0, 0]
    field = explain.receptive_field(g, oh, ow)
    # taps of a window are distinct pixels, so each is read once
    numpy.testing.assert_array_equal(field, reach)
    assert field.sum() == g["KH"] * g["KW"]


def test_output_size_steps_show_the_numbers():
    g = explain.conv_geometry(7, 7, 3, 3, 2, 2, 1, 1)
    steps = explain.output_size_steps(g)
    assert "   = (7 + 2*1 - 1*(3-1) - 1) // 2 + 1" in steps
    assert "   = 6 // 2 + 1 = 3 + 1 = 4" in steps


def test_algorithm_choice_uses_the_switch():
    pytest.importorskip("numba")
    from minicnn.kernels.cpu.direct_conv import direct_conv_pays
    lenet_conv2 = explain.conv_geometry(14, 14, 5, 5)
    choice = explain.conv_algorithm_choice(6, 16, lenet_conv2)
    assert choice["algorithm"] == "direct"
    assert direct_conv_pays(6, 16, 14, 5, 5, 1, 1, 0, 0, 1, 1, 1)
    assert explain.conv_algorithm_choice(256, 256, lenet_conv2)["algorithm"] == "im2col"
    strided = explain.conv_algorithm_choice(6, 16, explain.conv_geometry(14, 14, 3, 3, 2, 2))
    assert strided["algorithm"] == "im2col" and "stride (2, 2)" in strided["reason"]
    pointwise = explain.conv_geometry(4, 4, 1, 1)
    assert explain.conv_algorithm_choice(3, 3, pointwise)["algorithm"] == "pointwise GEMM"


def test_algorithm_choice_says_winograd_where_choose_algorithm_does(monkeypatch):
    pytest.importorskip("numba")
    from minicnn.kernels.cpu import conv, winograd
    monkeypatch.setattr(winograd, "WINOGRAD_FROM", 4096)  # as measured it is never taken
    resnet50_3x3 = explain.conv_geometry(28, 28, 3, 3, 1, 1, 1, 1)
    choice = explain.conv_algorithm_choice(128, 128, resnet50_3x3)
    assert choice["algorithm"] == conv.choose_algorithm(128, 128, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1)
    assert choice["algorithm"] == "winograd" and "3x3) runs" in choice["reason"]
    with conv.conv_algorithm("im2col"):
        assert explain.conv_algorithm_choice(128, 128, resnet50_3x3)["algorithm"] != "winograd"


def test_batch_norm_statistics_match_the_layer():
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2, 5)) * 2 + 1
    s = explain.batch_norm_statistics(x, momentum=0.1)
    bn = nn.BatchNorm2d(3).double()
    y = bn(minicnn.Tensor(x)).numpy()
    numpy.testing.assert_allclose(s["y_train"], y, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(s["running_mean"], numpy.asarray(bn.running_mean), rtol=1e-12)
    numpy.testing.assert_allclose(s["running_var"], numpy.asarray(bn.running_var), rtol=1e-12)
    bn.eval()
    numpy.testing.assert_allclose(s["y_eval"], bn(minicnn.Tensor(x)).numpy(), rtol=1e-10)


def test_cli_explain_writes_the_pictures(tmp_path, capsys):
    code = cli.main(["explain", "conv2d", "--input", "1,7,7", "--kernel", "3", "--stride",
                     "2", "--padding", "1", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "= 6 // 2 + 1 = 3 + 1 = 4" in out and "numba backend:" in out
    for name in ("conv2d_receptive_field.png", "conv2d_im2col_index.png",
                 "conv2d_col2im_overlap.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    assert cli.main(["explain", "max_pool2d", "--input", "1,6,6", "--out", str(tmp_path)]) == 0
    assert cli.main(["explain", "batch_norm", "--input", "2,3,3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "max_pool2d_overlap.png" in out and "batch_norm.png" in out and "run var" in out


@pytest.mark.parametrize("argv, message", [
    (["explain", "conv2d", "--input", "1,2,2", "--kernel", "3"], "larger than the padded"),
    (["explain", "conv2d", "--input", "3,5,5", "--groups", "2"], "divisible by groups"),
    (["explain", "conv2d", "--stride", "0"], "--stride must be >= 1"),
])
def test_cli_explain_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
