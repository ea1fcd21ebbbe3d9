"""BatchNorm1d, BatchNorm2d and LocalResponseNorm against torch.nn."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn import Tensor, nn

DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@st.composite
def bn_configs(draw):
    return dict(
        momentum=draw(st.sampled_from([0.1, 0.5, None])),
        affine=draw(st.booleans()),
        track_running_stats=draw(st.booleans()),
        eps=draw(st.sampled_from([1e-5, 1e-3])),
        train=draw(st.booleans()),
        dtype=draw(DTYPES),
    )


def _bn_pair(cls_ours, cls_theirs, C, cfg):
    kwargs = dict(momentum=cfg["momentum"], affine=cfg["affine"], eps=cfg["eps"],
                  track_running_stats=cfg["track_running_stats"])
    ours, theirs = cls_ours(C, **kwargs), cls_theirs(C, **kwargs)
    if cfg["affine"]:   # non-trivial gamma and beta
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    if cfg["track_running_stats"]:   # non-trivial running statistics
        theirs.running_mean.uniform_(-0.5, 0.5)
        theirs.running_var.uniform_(0.5, 1.5)
    return ours, theirs


@pytest.mark.usefixtures("kernel_backend")
@given(cfg=bn_configs(), N=st.integers(2, 3), C=st.integers(1, 3),
       L=st.one_of(st.none(), st.integers(1, 3)))
def test_batch_norm1d_matches_torch(layer_parity, cfg, N, C, L):
    """(N, C) and (N, C, L) input; three steps, so running statistics and
    num_batches_tracked (momentum=None: the cumulative average) are compared."""
    ours, theirs = _bn_pair(nn.BatchNorm1d, torch.nn.BatchNorm1d, C, cfg)
    shape = (N, C) if L is None else (N, C, L)
    x = numpy.random.default_rng(5).standard_normal(shape).astype(cfg["dtype"])
    layer_parity(ours, theirs, x, train=cfg["train"], steps=3)
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
@given(cfg=bn_configs(), N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 3),
       W=st.integers(2, 3))
def test_batch_norm2d_matches_torch(layer_parity, cfg, N, C, H, W):
    ours, theirs = _bn_pair(nn.BatchNorm2d, torch.nn.BatchNorm2d, C, cfg)
    x = numpy.random.default_rng(6).standard_normal((N, C, H, W)).astype(cfg["dtype"])
    layer_parity(ours, theirs, x, train=cfg["train"], steps=3)
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
def test_batch_norm_without_bias_matches_torch(layer_parity):
    ours, theirs = nn.BatchNorm2d(3, bias=False), torch.nn.BatchNorm2d(3, bias=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = numpy.random.default_rng(7).standard_normal((2, 3, 2, 2))
    layer_parity(ours, theirs, x, steps=2)
    assert repr(ours) == repr(theirs)


def test_batch_norm_buffers_and_defaults():
    bn = nn.BatchNorm2d(4)
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var",
                           "num_batches_tracked"]
    numpy.testing.assert_array_equal(state["weight"], numpy.ones(4, numpy.float32))
    numpy.testing.assert_array_equal(state["bias"], numpy.zeros(4, numpy.float32))
    numpy.testing.assert_array_equal(state["running_var"], numpy.ones(4, numpy.float32))
    nbt = state["num_batches_tracked"]
    assert nbt.shape == () and nbt.dtype == numpy.int64 and int(nbt) == 0
    x = Tensor(numpy.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype("f"))
    bn(x)
    bn(x)
    assert int(bn.num_batches_tracked) == 2 and bn.state_dict()["num_batches_tracked"] is nbt
    bn.eval()
    mean_before = bn.running_mean.copy()
    bn(x)
    assert int(bn.num_batches_tracked) == 2
    numpy.testing.assert_array_equal(bn.running_mean, mean_before)
    bn.double()
    assert bn.running_mean.dtype == numpy.float64
    assert bn.num_batches_tracked.dtype == numpy.int64
    bn.reset_running_stats()
    assert int(bn.num_batches_tracked) == 0 and not bn.running_mean.any()


def test_batch_norm_untracked_has_no_buffers():
    bn = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert bn.state_dict() == {}
    assert list(bn.parameters()) == []
    assert bn.running_mean is None and bn.weight is None


def test_batch_norm_validates_input():
    bn2 = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3, .*\): expected 4-D "
                                         r"\(N, C, H, W\) input, got shape \(2, 3\)"):
        bn2(Tensor(numpy.zeros((2, 3), dtype=numpy.float32)))
    with pytest.raises(ValueError, match=r"expected input with 3 features \(channels\), "
                                         r"got shape \(2, 4, 5, 5\)"):
        bn2(Tensor(numpy.zeros((2, 4, 5, 5), dtype=numpy.float32)))
    bn1 = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"expected 2-D \(N, C\) or 3-D \(N, C, L\) input, "
                                         r"got shape \(2, 3, 4, 4\)"):
        bn1(Tensor(numpy.zeros((2, 3, 4, 4), dtype=numpy.float32)))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when "
                                         "training"):
        bn1(Tensor(numpy.zeros((1, 3), dtype=numpy.float32)))
    bn1.eval()
    assert bn1(Tensor(numpy.zeros((1, 3), dtype=numpy.float32))).shape == (1, 3)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_features=0), ValueError, "BatchNorm2d: num_features must be >= 1"),
    (dict(num_features=3, momentum=1.5), ValueError, r"BatchNorm2d: momentum must be in"),
    (dict(num_features=3, eps=-1.0), ValueError, "BatchNorm2d: eps must be in"),
    (dict(num_features=3, affine="yes"), TypeError, "BatchNorm2d: affine must be True or"),
])
def test_batch_norm_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.BatchNorm2d(**kwargs)


@pytest.mark.usefixtures("kernel_backend")
@given(size=st.integers(1, 5), C=st.integers(1, 6), dtype=DTYPES,
       params=st.sampled_from([(1e-4, 0.75, 1.0), (5e-4, 0.75, 2.0), (0.5, 0.5, 1.5)]),
       spatial=st.sampled_from([(3,), (2, 3)]))
def test_local_response_norm_matches_torch(layer_parity, size, C, dtype, params, spatial):
    alpha, beta, k = params
    ours = nn.LocalResponseNorm(size, alpha, beta, k)
    theirs = torch.nn.LocalResponseNorm(size, alpha, beta, k)
    x = numpy.random.default_rng(8).standard_normal((2, C, *spatial)).astype(dtype)
    layer_parity(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_local_response_norm_validates():
    with pytest.raises(ValueError, match="LocalResponseNorm: size must be >= 1"):
        nn.LocalResponseNorm(0)
    with pytest.raises(ValueError, match=r"expected 3-D or higher input \(N, C, \.\.\.\), "
                                         r"got shape \(2, 3\)"):
        nn.LocalResponseNorm(2)(Tensor(numpy.zeros((2, 3), dtype=numpy.float32)))
