"""minicnn/distributed/sync_batchnorm.py: SyncBatchNorm on 2 ranks equals BatchNorm on
the concatenated batch (forward, running statistics, and the gradients of the
global mean loss); the conversion helper; single-process behaviour."""
import numpy
import pytest

from minicnn import nn
from minicnn.autograd import Tensor
from minicnn.distributed import SyncBatchNorm


def _single_process_reference():
    """BatchNorm2d on the whole 7-image batch of the 'syncbn' scenario, float64."""
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((7, 3, 4, 5)) * 2 + 1
    R = rng.standard_normal(x.shape)
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data[...] = [1.5, -0.5, 2.0]
    bn.bias.data[...] = [0.1, 0.2, -0.3]
    xt = Tensor(x, requires_grad=True)
    y = bn(xt)
    ((y * Tensor(R)).sum() / 7).backward()
    return y.data, xt.grad, bn


def test_sync_batchnorm_on_two_ranks_is_batchnorm_on_the_whole_batch(run_worker):
    ranks = run_worker(2, "syncbn")
    y, gx, bn = _single_process_reference()
    gw = numpy.zeros(3)
    gb = numpy.zeros(3)
    for r in ranks:
        assert str(r["kind"]) == "SyncBatchNorm"
        idx = r["idx"]
        w_r = len(idx) / 7                     # the DDP weight of this rank's gradients
        numpy.testing.assert_allclose(r["y"], y[idx], rtol=1e-12, atol=1e-12)
        numpy.testing.assert_allclose(r["gx"] * w_r, gx[idx], rtol=1e-10, atol=1e-12)
        numpy.testing.assert_allclose(r["running_mean"], bn.running_mean, rtol=1e-12)
        numpy.testing.assert_allclose(r["running_var"], bn.running_var, rtol=1e-12)
        gw += r["gw"] * w_r
        gb += r["gb"] * w_r
    numpy.testing.assert_allclose(gw, bn.weight.grad, rtol=1e-10)
    numpy.testing.assert_allclose(gb, bn.bias.grad, rtol=1e-10)
    assert len(ranks[0]["idx"]) != len(ranks[1]["idx"])    # unequal shards: 4 + 3


def test_convert_replaces_every_batchnorm_and_keeps_its_state():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2),
                          nn.Sequential(nn.Flatten(), nn.BatchNorm1d(8)))
    bn2 = model[1]
    bn2.running_mean[...] = [0.5, -0.5]
    model.eval()
    converted = SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert type(model[1]) is SyncBatchNorm and type(model[2][1]) is SyncBatchNorm
    assert model[1].weight is bn2.weight
    numpy.testing.assert_array_equal(model[1].running_mean, [0.5, -0.5])
    assert not model[1].training
    alone = SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(4))
    assert isinstance(alone, SyncBatchNorm) and alone.num_features == 4


def test_without_init_sync_batchnorm_is_batchnorm():
    import minicnn.distributed as dist
    if dist.is_initialized():
        pytest.skip("this process already joined MPI")
    x = numpy.random.default_rng(1).standard_normal((4, 3, 2, 2)).astype(numpy.float32)
    a, b = nn.BatchNorm2d(3), SyncBatchNorm(3)
    numpy.testing.assert_array_equal(a(Tensor(x)).data, b(Tensor(x)).data)
    numpy.testing.assert_array_equal(a.running_var, b.running_var)
    with pytest.raises(ValueError, match="SyncBatchNorm"):
        b(Tensor(numpy.ones((4, 5, 2, 2), numpy.float32)))
