"""Helpers for the zoo tests: fast model building, torchvision counts, parity checks."""
import numpy
import pytest

import minicnn
from minicnn.nn import init


@pytest.fixture
def fast_init(monkeypatch):
    """Skip random initialisation while building (for parameter counts, and for models
    whose weights a test overwrites): VGG's 102M-weight fc6 takes seconds to draw."""
    def keep(tensor, *args, **kwargs):
        return tensor
    for name in ("uniform_", "normal_", "constant_"):
        monkeypatch.setattr(init, name, keep)


@pytest.fixture
def torchvision_count():
    """Parameter count of a torchvision model, built on the 'meta' device (no memory)."""
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")

    def count(name, **kwargs):
        with torch.device("meta"):
            model = getattr(models, name)(**kwargs)
        return sum(p.numel() for p in model.parameters())
    return count


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.fixture
def assert_logits_match():
    """Load torch weights into ``ours``, run both in eval mode on the same batch and
    compare the logits (max error <= rtol * max |logit|) and the top-5 order."""
    torch = pytest.importorskip("torch")
    from minicnn.zoo import from_torch

    def check(ours, theirs, shape, rtol=1e-3, seed=0):
        from_torch(ours, theirs.state_dict())
        ours.eval()
        theirs.eval()
        x = numpy.random.default_rng(seed).standard_normal(shape).astype(numpy.float32)
        with minicnn.no_grad():
            a = _logits(ours(minicnn.Tensor(x))).numpy()
        with torch.no_grad():
            b = _logits(theirs(torch.from_numpy(x))).numpy()
        assert a.shape == b.shape
        assert numpy.max(numpy.abs(a - b)) <= rtol * numpy.max(numpy.abs(b))
        top5_a = numpy.argsort(-a, axis=1)[:, :5]
        top5_b = numpy.argsort(-b, axis=1)[:, :5]
        numpy.testing.assert_array_equal(top5_a, top5_b)
    return check


@pytest.fixture
def assert_train_grads_match():
    """float64, training mode: the cross-entropy loss and every parameter gradient of
    ``ours`` (weights loaded from ``theirs``) agree with torch to ``rtol``."""
    torch = pytest.importorskip("torch")
    import minicnn.functional as F
    from minicnn.zoo import from_torch

    def check(ours, theirs, shape, num_classes, rtol=1e-6, seed=0):
        theirs = theirs.double().train()
        from_torch(ours, theirs.state_dict())
        ours = ours.double().train()
        rng = numpy.random.default_rng(seed)
        x = rng.standard_normal(shape)
        y = rng.integers(0, num_classes, size=shape[0])
        loss = F.cross_entropy(_logits(ours(minicnn.Tensor(x))), y)
        loss.backward()
        loss_t = torch.nn.functional.cross_entropy(
            _logits(theirs(torch.from_numpy(x))), torch.from_numpy(y))
        loss_t.backward()
        numpy.testing.assert_allclose(loss.item(), loss_t.item(), rtol=rtol)
        ours_params = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            g = ours_params[name].grad
            assert g is not None, name
            scale = max(float(p.grad.abs().max()), 1e-12)
            err = float(numpy.max(numpy.abs(g - p.grad.numpy())))
            assert err <= rtol * scale + 1e-12, (
                f"{name}: max error {err:.3g}, max |grad| {scale:.3g}")
    return check


@pytest.fixture
def forward_backward():
    """Train-mode forward and backward of ``model`` on a random batch; every parameter
    that took part gets a finite gradient of its own shape. Returns the output."""
    import minicnn.functional as F

    def run(model, shape, num_classes, seed=0):
        model.train()
        rng = numpy.random.default_rng(seed)
        x = minicnn.Tensor(rng.standard_normal(shape).astype(numpy.float32))
        out = model(x)
        logits = _logits(out)
        assert logits.shape == (shape[0], num_classes)
        y = rng.integers(0, num_classes, size=shape[0])
        loss = F.cross_entropy(logits, y)
        if isinstance(out, tuple):
            for aux in out[1:]:
                loss = loss + 0.3 * F.cross_entropy(aux, y)
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, f"{name} got no gradient"
            assert p.grad.shape == p.shape, name
            assert numpy.all(numpy.isfinite(p.grad)), name
        return out
    return run
