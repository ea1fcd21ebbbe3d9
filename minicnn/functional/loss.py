"""Losses: cross_entropy (fused softmax + NLL), nll_loss, mse_loss.

Cross-entropy of logits z (N, K) against integer labels y (N,), with label
smoothing eps spreading eps/K of the target mass over every class:

    log p_i  = log_softmax(z_i) = z_i - m_i - log sum_c e^(z_ic - m_i),  m_i = max_c z_ic
    q_i      = (1 - eps) onehot(y_i) + eps / K
    loss_i   = -sum_c q_ic log p_ic

Fused, its gradient is simply  d loss_i / d z_i = p_i - q_i  (softmax minus
target), much cheaper and more accurate than back-propagating through
softmax and log separately, and finite for logits of any size.

Class weights w (K,) scale each term, loss_i = -sum_c q'_ic log p_ic with
q'_i = (1 - eps) w_{y_i} onehot(y_i) + eps / K * w; 'mean' divides by the sum
of w_{y_i} over the samples that count (ignore_index drops a sample), exactly
as PyTorch.

The unweighted hot path goes through ``minicnn.backend.kernel``:
``softmax_cross_entropy_forward`` and ``softmax_cross_entropy_backward``, with
the plain references below.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

import numbers

import numpy

from minicnn import ops
from minicnn.autograd import Function, Tensor, as_tensor
from minicnn.backend import get_array_module, kernel

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "SoftmaxCrossEntropy",
    "SoftTargetCrossEntropy", "softmax_cross_entropy_forward_reference",
    "softmax_cross_entropy_backward_reference",
]

REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------- kernels
def _log_softmax_rows(z):
    """Stable log_softmax over the last axis of z (N, K)."""
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)            # every exponent <= 0
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy_forward_reference(logits, target, label_smoothing):
    """Kernel ``softmax_cross_entropy_forward -> (loss (N,), probs (N, K))``.

    logits: (N, K); target: (N,) int64 in [0, K); label_smoothing: eps.
    loss_i = -(1 - eps) log p_{i, y_i} - eps/K sum_c log p_ic.
    """
    xp = get_array_module(logits)
    N, K = logits.shape
    logp = _log_softmax_rows(logits)                          # (N, K)
    picked = logp[xp.arange(N), target]                       # (N,) log p_{i, y_i}
    loss = -(1 - label_smoothing) * picked
    if label_smoothing:
        loss = loss - (label_smoothing / K) * logp.sum(axis=1)
    return loss.astype(logits.dtype, copy=False), xp.exp(logp)


def softmax_cross_entropy_backward_reference(probs, target, label_smoothing, gloss):
    """Kernel ``softmax_cross_entropy_backward -> glogits (N, K)``.

    glogits_i = gloss_i * (p_i - q_i),  q_i = (1 - eps) onehot(y_i) + eps/K.
    """
    xp = get_array_module(probs)
    N, K = probs.shape
    g = probs - label_smoothing / K                           # p - eps/K everywhere
    g[xp.arange(N), target] -= 1 - label_smoothing            # ... - (1 - eps) at y_i
    return (g * gloss[:, None]).astype(probs.dtype, copy=False)


# ------------------------------------------------------------- the Functions
def _reduce(loss, valid_weight, reduction):
    """Reduce per-sample losses (N,); 'mean' divides by sum(valid_weight).

    An empty batch, or one whose every label is ignore_index, has nothing to
    average: 'mean' is NaN then (PyTorch's answer, without NumPy's 0/0
    RuntimeWarning) and its gradient is zero, as PyTorch's; 'sum' is 0.
    """
    if reduction == "none":
        return loss, None
    if reduction == "sum":
        return loss.sum(), None
    denom = valid_weight.sum()
    if denom == 0:
        return loss.sum() * float("nan"), denom  # 0/0, said on purpose
    return loss.sum() / denom, denom


def _gloss(gy, N, denom, reduction, xp, dtype):
    """The gradient of the reduced loss with respect to each sample's loss (N,)."""
    if reduction == "none":
        return gy
    g = xp.broadcast_to(gy, (N,)).astype(dtype)
    if reduction == "mean" and denom == 0:
        return xp.zeros(N, dtype=dtype)  # no sample counts: nothing to move
    return g / denom if reduction == "mean" else g


class SoftmaxCrossEntropy(Function):
    """Fused log_softmax + NLL for logits (N, K) and integer targets (N,).

    ``sample_weight`` (N,) is w_{y_i} for weighted losses (0 for ignored
    samples), ``class_weight`` (K,) or None.
    """

    def __init__(self, target, valid, class_weight, reduction, label_smoothing):
        self.target, self.valid = target, valid
        self.class_weight = class_weight
        self.reduction, self.eps = reduction, label_smoothing

    def forward(self, logits):
        xp = get_array_module(logits)
        N, K = logits.shape
        valid = self.valid.astype(logits.dtype)                   # (N,) 1 or 0 (ignored)
        if self.class_weight is None:
            loss, self.probs = kernel(
                "softmax_cross_entropy_forward", softmax_cross_entropy_forward_reference,
                like=logits)(logits, self.target, self.eps)
            loss = loss * valid
            sample_weight = valid
        else:
            # q'_i = (1 - eps) w_{y_i} onehot(y_i) + eps/K w, zero for ignored rows
            w = self.class_weight
            logp = _log_softmax_rows(logits)
            self.probs = xp.exp(logp)
            sample_weight = w[self.target] * valid                 # (N,)
            self.q = (self.eps / K) * w[None, :] * valid[:, None]  # (N, K)
            self.q[xp.arange(N), self.target] += (1 - self.eps) * sample_weight
            loss = -(self.q * logp).sum(axis=1)
        out, self.denom = _reduce(loss, sample_weight, self.reduction)
        return out

    def backward(self, gy):
        xp = get_array_module(gy)
        N = self.probs.shape[0]
        gloss = _gloss(gy, N, self.denom, self.reduction, xp, self.probs.dtype)
        if self.class_weight is None:
            gloss = gloss * self.valid                            # ignored rows: 0
            return kernel("softmax_cross_entropy_backward",
                          softmax_cross_entropy_backward_reference, like=gy)(
                self.probs, self.target, self.eps, gloss)
        # loss_i = -sum_c q'_ic log p_ic  =>  d loss_i/dz_i = (sum_c q'_ic) p_i - q'_i
        total = self.q.sum(axis=1, keepdims=True)
        return gloss[:, None] * (total * self.probs - self.q)


class SoftTargetCrossEntropy(Function):
    """Cross-entropy against class probabilities: logits, target both (N, K).

    loss_i = -sum_c w_c q_ic log p_ic with q = (1 - eps) target + eps/K;
    'mean' divides by N (PyTorch's rule for probability targets).
    """

    def __init__(self, class_weight, reduction, label_smoothing):
        self.class_weight, self.reduction, self.eps = (class_weight, reduction,
                                                      label_smoothing)

    def forward(self, logits, target):
        xp = get_array_module(logits)
        N, K = logits.shape
        self.logp = _log_softmax_rows(logits)
        w = xp.ones(K, dtype=logits.dtype) if self.class_weight is None else (
            self.class_weight)
        self.w = w[None, :]                                       # (1, K)
        self.wq = self.w * ((1 - self.eps) * target + self.eps / K)   # (N, K)
        loss = -(self.wq * self.logp).sum(axis=1)
        out, self.denom = _reduce(loss, xp.ones(N, dtype=logits.dtype), self.reduction)
        return out

    def backward(self, gy):
        # d loss_i/dz_i = (sum_c w_c q_ic) p_i - w q_i;  d loss_i/dt_ic = -(1-eps) w_c log p_ic
        xp = get_array_module(gy)
        N = self.logp.shape[0]
        gloss = _gloss(gy, N, self.denom, self.reduction, xp, self.logp.dtype)[:, None]
        glogits = gloss * (self.wq.sum(axis=1, keepdims=True) * xp.exp(self.logp) - self.wq)
        gtarget = None
        if self.needs_grad[1]:
            gtarget = -gloss * (1 - self.eps) * self.w * self.logp
        return glogits, gtarget


# --------------------------------------------------------------- validation
def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")


def _to_rows(op, input):
    """Logits (N, K, d1, ...) as rows (N*d1*..., K), with the (N, d1, ...) shape.

    Unbatched (K,) input is one row. Returns (rows, sample_shape).
    """
    if input.ndim == 1:
        return input.reshape(1, input.shape[0]), ()
    if input.ndim == 2:
        return input, (input.shape[0],)
    N, K = input.shape[0], input.shape[1]
    rest = input.shape[2:]
    order = (0,) + tuple(range(2, input.ndim)) + (1,)
    rows = input.permute(*order).reshape(-1, K)      # (N, K, d...) -> (N*d..., K)
    return rows, (N,) + rest


def _int_target(op, target, input, ignore_index):
    """Check integer labels: shape (N, d1, ...), values in [0, K) or ignore_index."""
    xp = get_array_module(input.data)
    K = input.shape[1] if input.ndim > 1 else input.shape[0]
    expected = (input.shape[0],) + input.shape[2:] if input.ndim > 1 else ()
    if target.shape != expected:
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape "
                         f"{input.shape}: expected target of shape {expected} (one class "
                         "index per sample)")
    labels = xp.asarray(target).astype(xp.int64).reshape(-1)
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= K))
    if bool(bad.any()):
        first = int(labels[bad][0])
        raise ValueError(f"{op}: target contains label {first}, out of range for "
                         f"K={K} classes (valid labels are 0..{K - 1}, or "
                         f"ignore_index={ignore_index})")
    # ignored samples get label 0 so indexing stays in range; their weight is 0
    return xp.where(valid, labels, 0), valid


def _class_weight(op, weight, input):
    if weight is None:
        return None
    K = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = weight.data if isinstance(weight, Tensor) else weight
    xp = get_array_module(input.data)
    w = xp.asarray(w)
    if w.shape != (K,):
        raise ValueError(f"{op}: weight must have shape ({K},), one weight per class, "
                         f"got {tuple(w.shape)}")
    return w.astype(input.dtype, copy=False)


def _check_input(op, input):
    input = as_tensor(input)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point input (logits), got dtype "
                        f"{input.dtype}")
    if input.ndim < 1:
        raise ValueError(f"{op}: expected input of shape (N, K) or (N, K, d1, ...), got "
                         f"a 0-D tensor")
    return input


# ---------------------------------------------------------------- wrappers
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between logits and targets (log_softmax + NLL, fused).

    Args:
        input: logits (N, K), (N, K, d1, ...) or unbatched (K,).
        target: class indices (N,) / (N, d1, ...) as an int array or Tensor, or
            class probabilities with input's shape (float).
        weight: (K,) class weights, or None.
        ignore_index: label whose samples contribute nothing (index targets).
        reduction: 'mean' | 'sum' | 'none' ('none' gives (N,) / (N, d1, ...)).
            An empty batch, or every label equal to ignore_index, gives NaN
            for 'mean' (as PyTorch; no warning) with a zero gradient.
        label_smoothing: eps in [0, 1]; the target becomes (1 - eps) target + eps/K.
    """
    op = "cross_entropy"
    input = _check_input(op, input)
    _check_reduction(op, reduction)
    if not isinstance(label_smoothing, numbers.Real) or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    w = _class_weight(op, weight, input)
    t = target.data if isinstance(target, Tensor) else target
    if not hasattr(t, "dtype"):
        t = numpy.asarray(t)                  # a list of labels
    kind = t.dtype.kind
    rows, sample_shape = _to_rows(op, input)
    if kind == "f":
        target = as_tensor(target, like=input)
        if target.shape != input.shape:
            hint = ""
            if input.ndim >= 2 and target.shape == input.shape[:1] + input.shape[2:]:
                hint = ("; these look like class labels stored as floats: convert them "
                        "with labels.astype(numpy.int64)")
            raise ValueError(f"{op}: float targets are class probabilities and must have "
                             f"the input's shape {input.shape}, got {target.shape}{hint}")
        t_rows, _ = _to_rows(op, target)
        loss = SoftTargetCrossEntropy(w, reduction, float(label_smoothing))(rows, t_rows)
    elif kind in "iu":
        labels, valid = _int_target(op, t, input, int(ignore_index))
        loss = SoftmaxCrossEntropy(labels, valid, w, reduction,
                                   float(label_smoothing))(rows)
    else:
        raise TypeError(f"{op}: target must hold integer class indices or float class "
                        f"probabilities, got dtype {t.dtype}")
    if reduction == "none":
        return loss.reshape(sample_shape)     # (N*d...,) -> (N, d1, ...)
    return loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` at the target classes.

        loss_i = -w_{y_i} input[i, y_i]   ('mean': sum / sum of w_{y_i})

    input: (N, K), (N, K, d1, ...) or (K,); target: class indices, as for
    cross_entropy. ``cross_entropy(z, y) == nll_loss(log_softmax(z, 1), y)``.
    Built from primitives (indexing, multiply, sum): its gradient comes free.
    """
    op = "nll_loss"
    input = _check_input(op, input)
    _check_reduction(op, reduction)
    w = _class_weight(op, weight, input)
    t = target.data if isinstance(target, Tensor) else target
    if not hasattr(t, "dtype"):
        t = numpy.asarray(t)                  # a list of labels
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype}")
    labels, valid = _int_target(op, t, input, int(ignore_index))
    xp = get_array_module(input.data)
    rows, sample_shape = _to_rows(op, input)
    sample_weight = valid.astype(input.dtype)                      # (M,)
    if w is not None:
        sample_weight = sample_weight * w[labels]
    picked = rows[xp.arange(rows.shape[0]), labels]                # (M,) input[i, y_i]
    loss = -picked * sample_weight
    if reduction == "none":
        return loss.reshape(sample_shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / sample_weight.sum()


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: (input - target)^2, reduced by 'mean' | 'sum' | 'none'.

    input and target must have the same shape; both get gradients.
    """
    op = "mse_loss"
    input = _check_input(op, input)
    _check_reduction(op, reduction)
    target = as_tensor(target, like=input)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target shape {target.shape} differs from input shape "
                         f"{input.shape}; they must be equal")
    d = input - target
    sq = d * d
    if reduction == "none":
        return sq
    if reduction == "sum":
        return ops.sum(sq)
    return ops.mean(sq)
