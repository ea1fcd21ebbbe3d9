"""Normalization: batch_norm (Ioffe & Szegedy, 2015) and local_response_norm (AlexNet).

Batch normalization, per channel c, over the M = N*L values of the batch
(L = H*W for images, L = 1 for (N, C) features):

    mean_c = 1/M sum x                  var_c = 1/M sum (x - mean_c)^2  (biased)
    xhat   = (x - mean_c) / sqrt(var_c + eps)
    y      = weight_c * xhat + bias_c

In training the batch statistics are used and the running statistics are
updated in place, as PyTorch (with the *unbiased* variance, M / (M - 1) var):

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

In evaluation the running statistics take their place, and BN becomes a fixed
per-channel affine map y = x * scale_c + shift_c.

Local response normalization divides every activation by a power of the
energy of its neighbouring channels (window of ``size`` channels centred on c,
``size // 2`` before and ``(size - 1) // 2`` after, zero outside):

    scale_c = k + alpha / size * sum_{c' in window(c)} x_c'^2
    y_c     = x_c * scale_c^(-beta)

The hot loops go through ``minicnn.backend.kernel``: ``batch_norm_forward``,
``batch_norm_backward``, ``lrn_forward``, ``lrn_backward``; the functions named
``*_reference`` below are the plain NumPy/CuPy references.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, Tensor, as_tensor
from minicnn.backend import get_array_module, kernel

__all__ = [
    "batch_norm", "batch_norm_call", "local_response_norm", "alexnet_lrn_args",
    "BatchNorm", "BatchNormEval", "LocalResponseNormFunction",
    "batch_norm_forward_reference", "batch_norm_backward_reference",
    "lrn_forward_reference", "lrn_backward_reference",
]


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# ------------------------------------------------------------ batch norm maths
def batch_norm_forward_reference(x3, weight, bias, eps):
    """Kernel ``batch_norm_forward``: training-mode BN with batch statistics.

    x3: (N, C, L); weight, bias: (C,) or None.
    Returns (y3 (N, C, L), mean (C,), var (C,) biased, inv_std (C,)).
    """
    xp = get_array_module(x3)
    mean = x3.mean(axis=(0, 2))                          # (C,)
    xc = x3 - mean[:, None]                              # (N, C, L)
    var = (xc * xc).mean(axis=(0, 2))                    # (C,) biased: divide by M
    inv_std = 1 / xp.sqrt(var + eps)                     # (C,)
    y3 = xc * inv_std[:, None]                           # xhat
    if weight is not None:
        y3 = y3 * weight[:, None]
    if bias is not None:
        y3 = y3 + bias[:, None]
    return y3, mean, var, inv_std


def batch_norm_backward_reference(gy3, x3, mean, inv_std, weight):
    """Kernel ``batch_norm_backward``: the fused training-mode gradient.

    gy3, x3: (N, C, L); mean, inv_std: (C,); weight: (C,) or None.
    Returns (gx3 (N, C, L), gweight (C,), gbias (C,)).

    Per channel, with M = N*L, s = inv_std and sums over the M values:
        y = w xhat + b          =>  gbias = sum gy,  gweight = sum gy xhat,
                                    gxhat = w gy
        xhat = (x - mean) s     depends on x directly and through mean and s:
        d mean / dx_j = 1/M,    d s / dx_j = -s^3 (x_j - mean) / M = -s^2 xhat_j / M
        gx_j = s gxhat_j - s/M sum(gxhat) - s/M xhat_j sum(gxhat xhat)
             = s/M * (M gxhat_j - sum(gxhat) - xhat_j sum(gxhat xhat))
    """
    M = x3.shape[0] * x3.shape[2]
    xhat = (x3 - mean[:, None]) * inv_std[:, None]       # (N, C, L)
    gbias = gy3.sum(axis=(0, 2))                         # (C,)
    gweight = (gy3 * xhat).sum(axis=(0, 2))              # (C,)
    gxhat = gy3 if weight is None else gy3 * weight[:, None]
    sum_gxhat = gxhat.sum(axis=(0, 2))[:, None]          # (C, 1)
    sum_gxhat_xhat = (gxhat * xhat).sum(axis=(0, 2))[:, None]
    gx3 = (inv_std[:, None] / M) * (M * gxhat - sum_gxhat - xhat * sum_gxhat_xhat)
    return gx3, gweight, gbias


def _split_params(has_weight, has_bias, params):
    """(weight, bias) from the inputs after x3, None for the absent ones."""
    params = list(params)
    weight = params.pop(0) if has_weight else None
    bias = params.pop(0) if has_bias else None
    return weight, bias


def _as_x3(x):
    """(N, C, ...) -> (N, C, L), L = the product of the trailing sizes (1 for (N, C))."""
    return x.reshape(x.shape[0], x.shape[1], -1)


class BatchNorm(Function):
    """Training-mode batch norm on x (N, C, ...), normalized as x3 (N, C, L), with
    optional weight and bias.

    The inputs are ``x`` then whichever of weight and bias exist (a Function
    takes no None inputs). When running statistics are given, forward updates
    them in place. Saved for backward: x, mean, inv_std, weight (not the output,
    so an in-place op on the output leaves backward intact).
    """

    def __init__(self, has_weight, has_bias, eps, running_mean, running_var, momentum):
        self.has_weight, self.has_bias, self.eps = has_weight, has_bias, eps
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum = momentum

    def forward(self, x, *params):
        weight, bias = _split_params(self.has_weight, self.has_bias, params)
        self.x, self.weight = x, weight
        x3 = _as_x3(x)
        y3, self.mean, var, self.inv_std = self._normalize(x3, weight, bias)
        if self.running_mean is not None:
            m = self.momentum
            M = x3.shape[0] * x3.shape[2]
            unbiased = var * (M / (M - 1))
            # slice assignment writes into the caller's arrays (in place)
            self.running_mean[...] = (1 - m) * self.running_mean + m * self.mean
            self.running_var[...] = (1 - m) * self.running_var + m * unbiased
        return y3.reshape(x.shape)

    def _normalize(self, x3, weight, bias):
        """(y3, mean, var, inv_std) of the kernel ``batch_norm_forward``."""
        return kernel("batch_norm_forward", batch_norm_forward_reference, like=x3)(
            x3, weight, bias, self.eps)

    def _gradient(self, gy3, x3):
        """(gx3, gweight, gbias) of the kernel ``batch_norm_backward``."""
        return kernel("batch_norm_backward", batch_norm_backward_reference, like=gy3)(
            gy3, x3, self.mean, self.inv_std, self.weight)

    def backward(self, gy):
        x3 = _as_x3(self.x)
        gx3, gweight, gbias = self._gradient(gy.reshape(x3.shape), x3)
        grads = [gx3.reshape(self.x.shape)]
        if self.has_weight:
            grads.append(gweight.astype(gy.dtype, copy=False))
        if self.has_bias:
            grads.append(gbias.astype(gy.dtype, copy=False))
        return tuple(grads)


class BatchNormEval(Function):
    """Evaluation-mode batch norm: a per-channel affine map with fixed statistics.

    y = (x - running_mean) * inv_std * weight + bias = xhat * weight + bias,
    inv_std = 1 / sqrt(running_var + eps); x (N, C, ...) is normalized as
    x3 (N, C, L). Saved for backward: xhat and the scale (not the output).
    """

    def __init__(self, has_weight, has_bias, running_mean, running_var, eps):
        self.has_weight, self.has_bias = has_weight, has_bias
        self.running_mean, self.running_var, self.eps = running_mean, running_var, eps

    def forward(self, x, *params):
        xp = get_array_module(x)
        weight, bias = _split_params(self.has_weight, self.has_bias, params)
        x3 = _as_x3(x)
        inv_std = 1 / xp.sqrt(self.running_var + self.eps)            # (C,)
        self.xhat = (x3 - self.running_mean[:, None]) * inv_std[:, None]
        self.scale = inv_std if weight is None else inv_std * weight   # (C,)
        y3 = self.xhat if weight is None else self.xhat * weight[:, None]
        if bias is not None:
            y3 = y3 + bias[:, None]
        return y3.reshape(x.shape)

    def backward(self, gy):
        # the statistics are constants here: gx = gy * weight * inv_std,
        # gweight = sum gy xhat, gbias = sum gy (sums over N and L)
        gy3 = gy.reshape(self.xhat.shape)
        grads = [(gy3 * self.scale[:, None]).reshape(gy.shape)]
        if self.has_weight:
            grads.append((gy3 * self.xhat).sum(axis=(0, 2)))
        if self.has_bias:
            grads.append(gy3.sum(axis=(0, 2)))
        return tuple(grads)


def _stat_array(op, name, stat, C, x):
    """A running statistic as the raw array it is (updated in place), checked."""
    if stat is None:
        return None
    array = stat.data if isinstance(stat, Tensor) else stat
    if not hasattr(array, "shape") or tuple(array.shape) != (C,):
        shape = getattr(array, "shape", type(array).__name__)
        raise ValueError(f"{op}: {name} must have shape ({C},) for an input with "
                         f"{C} channels (input shape {x.shape}), got {shape}")
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point array, got dtype "
                        f"{array.dtype}")
    if type(array) is not type(x.data):
        raise TypeError(f"{op}: {name} is a {type(array).__module__} array but the "
                        f"input is on {x.device}; move them to the same device")
    return array


def _param(op, name, p, C, x):
    if p is None:
        return None
    p = as_tensor(p, like=x) if not isinstance(p, Tensor) else p
    if p.shape != (C,):
        raise ValueError(f"{op}: {name} must have shape ({C},) for an input with "
                         f"{C} channels (input shape {x.shape}), got {p.shape}")
    return p


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over N (and L) for every channel C.

    Args:
        x: (N, C), (N, C, L) or (N, C, H, W).
        running_mean, running_var: (C,) arrays (or Tensors) or None. Training
            updates them in place; evaluation normalizes with them.
        weight, bias: (C,) gamma and beta, or None (1 and 0).
        training: use batch statistics (and update the running ones).
        momentum: weight of the new batch in the running averages.
        eps: added to the variance before the square root.
    Returns:
        y, x's shape.

    With ``running_mean``/``running_var`` None the batch statistics are used
    even when ``training`` is False (as ``nn.BatchNorm2d(track_running_stats=
    False)``; ``torch.nn.functional.batch_norm`` raises there instead).
    """
    return batch_norm_call("batch_norm", BatchNorm, BatchNormEval, x, running_mean,
                           running_var, weight, bias, training, momentum, eps)


def batch_norm_call(op, train_function, eval_function, x, running_mean, running_var,
                    weight, bias, training, momentum, eps):
    """Check ``batch_norm``'s arguments (errors name ``op``) and call the node:
    ``train_function`` (BatchNorm's arguments) with batch statistics, else
    ``eval_function`` (BatchNormEval's). Shared by batch_norm and batch_norm_relu."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{op}: expected 2-D (N, C), 3-D (N, C, L) or 4-D "
                         f"(N, C, H, W) input, got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not _is_number(momentum) or not _is_number(eps) or eps < 0:
        raise ValueError(f"{op}: momentum and eps must be numbers (eps >= 0), got "
                         f"momentum={momentum!r}, eps={eps!r}")
    N, C = x.shape[0], x.shape[1]
    running_mean = _stat_array(op, "running_mean", running_mean, C, x)
    running_var = _stat_array(op, "running_var", running_var, C, x)
    weight = _param(op, "weight", weight, C, x)
    bias = _param(op, "bias", bias, C, x)
    use_batch_stats = training or running_mean is None
    L = 1
    for n in x.shape[2:]:
        L *= n
    if use_batch_stats and N * L <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when "
                         f"training, got input size {x.shape}")

    params = [p for p in (weight, bias) if p is not None]
    if use_batch_stats:
        fn = train_function(weight is not None, bias is not None, float(eps),
                            running_mean if training else None,
                            running_var if training else None, float(momentum))
    else:
        fn = eval_function(weight is not None, bias is not None,
                           running_mean.astype(x.dtype, copy=False),
                           running_var.astype(x.dtype, copy=False), float(eps))
    return fn(x, *params)


# ------------------------------------------------------------------------ LRN
def _channel_window_sum(a, before, after):
    """For every channel c, the sum of a[:, c - before : c + after + 1] (zero outside).

    a: (N, C, ...) -> (N, C, ...). The channel axis is padded with zeros and
    the ``before + 1 + after`` shifted copies are added up.
    """
    xp = get_array_module(a)
    C = a.shape[1]
    widths = [(0, 0)] * a.ndim
    widths[1] = (before, after)
    padded = xp.pad(a, widths)              # (N, before + C + after, ...)
    total = xp.zeros_like(a)
    for j in range(before + 1 + after):
        total += padded[:, j:j + C]
    return total


def lrn_forward_reference(x, size, alpha, beta, k):
    """Kernel ``lrn_forward(x, size, alpha, beta, k) -> (y, scale)``.

    x: (N, C, ...); scale = k + alpha/size * (window sum of x^2), y = x * scale^-beta.
    """
    scale = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def lrn_backward_reference(gy, x, y, scale, size, alpha, beta, k):
    """Kernel ``lrn_backward(gy, x, y, scale, size, alpha, beta, k) -> gx``.

    y_i = x_i s_i^-beta with s_i = k + alpha/size sum_{m in W(i)} x_m^2, so
        dy_i/dx_m = [i = m] s_i^-beta - 2 alpha beta / size * x_i x_m s_i^(-beta-1)
                    for m in W(i)
        gx_m = gy_m s_m^-beta - 2 alpha beta / size * x_m * sum_{i: m in W(i)} gy_i y_i / s_i
    m is in W(i) = [i - size//2, i + (size-1)//2] exactly when i is in
    [m - (size-1)//2, m + size//2]: the same window, mirrored.
    """
    t = gy * y / scale
    mirrored = _channel_window_sum(t, (size - 1) // 2, size // 2)
    return gy * scale ** -beta - (2 * alpha * beta / size) * x * mirrored


class LocalResponseNormFunction(Function):
    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        self.x = x
        self.y, self.scale = kernel("lrn_forward", lrn_forward_reference, like=x)(
            x, self.size, self.alpha, self.beta, self.k)
        return self.y

    def backward(self, gy):
        return kernel("lrn_backward", lrn_backward_reference, like=gy)(
            gy, self.x, self.y, self.scale, self.size, self.alpha, self.beta, self.k)


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels, as torch.nn.functional.

        y_c = x_c / (k + alpha / size * sum_{c'=c-size//2}^{c+(size-1)//2} x_c'^2)^beta

    x: (N, C, ...) with at least 3 dimensions -> y: the same shape.

    PyTorch divides alpha by ``size``; the AlexNet paper (Krizhevsky et al.,
    2012, section 3.3) does not: b = a / (k + alpha * sum a^2)^beta with
    k=2, n=5, alpha=1e-4, beta=0.75 over the n channels centred on c. The
    paper's layer is therefore

        local_response_norm(x, size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)

    i.e. ``local_response_norm(x, **alexnet_lrn_args())``.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"local_response_norm: expected a floating-point input, got "
                        f"dtype {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3-D or higher input (N, C, ...), "
                         f"got shape {x.shape}")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    for name, v in (("alpha", alpha), ("beta", beta), ("k", k)):
        if not _is_number(v):
            raise TypeError(f"local_response_norm: {name} must be a number, got {v!r}")
    return LocalResponseNormFunction(int(size), float(alpha), float(beta), float(k))(x)


def alexnet_lrn_args(n=5, k=2.0, alpha=1e-4, beta=0.75):
    """The AlexNet paper's LRN constants as ``local_response_norm`` arguments.

    The paper writes alpha without the 1/n that PyTorch applies, so PyTorch's
    alpha is n times the paper's:  {size: n, alpha: n * alpha, beta, k}.
    """
    return {"size": n, "alpha": n * alpha, "beta": beta, "k": k}
