"""The SGD-momentum update in place on the GPU (elementwise.cu and its Numba twin)."""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["sgd_step"]


@register_kernel("cuda", "sgd_step")
def sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """PyTorch's SGD rule, updating ``param`` and ``buf`` in place:

        d = grad + weight_decay * param
        buf = d (first step) or momentum * buf + (1 - dampening) * d
        d = d + momentum * buf (nesterov) or buf
        param -= lr * d

    ``buf`` (param's shape) is None when momentum is 0. The arithmetic is
    in param's dtype, as PyTorch and the NumPy reference do it.
    """
    xp = get_array_module(param)
    real = param.dtype.type
    use_momentum = buf is not None  # None: momentum 0, no buffer (as the reference)
    # The kernel writes through flat views: work on contiguous arrays and copy
    # back where the caller's array is not contiguous (a view would be a copy).
    p = param if param.flags.c_contiguous else xp.ascontiguousarray(param)
    b = xp.zeros(1, dtype=param.dtype)  # never read without momentum
    if use_momentum:
        b = buf if buf.flags.c_contiguous else xp.ascontiguousarray(buf)
    blocks, threads = grid_for(param.size, on_gpu(param))
    launch("elementwise", "sgd_step", blocks, threads,
           (p.reshape(-1), flat(grad, param.dtype), b.reshape(-1), param.size,
            real(lr), real(momentum), real(1 - dampening), real(weight_decay),
            use_momentum, bool(nesterov), bool(first)), param.dtype)
    if p is not param:
        param[...] = p
    if use_momentum and b is not buf:
        buf[...] = b

