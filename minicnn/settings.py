"""Every global switch of minicnn, in one place.

Each switch has a function to set it (validated, with a one-line error) and is
read here by the code it steers. Nothing else in minicnn keeps global state,
except grad mode, which is per thread (``minicnn.no_grad()``, in autograd.py),
and two choices made once, when minicnn is imported, for the whole process:
the OpenMP wait policy and Numba's threading layer (minicnn/runtime/threads.py).

``backend`` (default ``'auto'``): who runs the hot loops, read by
    ``minicnn.backend.kernel``; set with ``minicnn.set_backend`` or, for one
    block, ``minicnn.use_backend``.
``workspace_bytes`` (default 256 MiB): the cap on the im2col column buffer;
    convolution processes the batch in chunks that fit. ``minicnn.set_workspace``.
``conv_algorithm`` (default ``'auto'``): how the numba conv2d computes
    (``'direct'``, ``'im2col'``, ``'winograd'``, or ``'auto'``: chosen per layer
    by cost). A forced path runs only on the layers it applies to (direct:
    stride 1, one group; Winograd: 3x3, stride 1, dilation 1, one group,
    padding 0..2) and im2col elsewhere.
    ``minicnn.kernels.cpu.conv.conv_algorithm``.
``cuda_kernel_source`` (default ``'cupy'``): on CuPy arrays, the CUDA C kernels
    (``'cupy'``) or their Numba CUDA twins (``'numba'``).
    ``minicnn.kernels.cuda.launch.set_kernel_source``.

What ``backend`` means, per array type:

| ``backend`` | NumPy (CPU) arrays | CuPy (GPU) arrays |
| --- | --- | --- |
| ``'numpy'`` | the reference code in ``minicnn/functional`` | the same code, run by CuPy |
| ``'numba'`` | the Numba kernels in ``minicnn.kernels.cpu`` | the CUDA kernels |
| ``'cuda'`` | the reference code | the CUDA kernels |
| ``'auto'`` | ``'numba'`` when Numba imports, else the reference | the CUDA kernels |

So ``with minicnn.use_backend('numpy'):`` runs the code a student reads, on any
device.
"""
from __future__ import annotations

__all__ = ["settings", "Settings"]


class Settings:
    """The switches' current values (read them; set them with the functions above)."""

    def __init__(self):
        self.backend = "auto"
        self.workspace_bytes = 256 * 2**20
        self.conv_algorithm = "auto"
        self.cuda_kernel_source = "cupy"

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"Settings({fields})"


settings = Settings()
