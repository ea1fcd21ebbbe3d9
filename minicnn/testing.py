"""Test tools that ship with the package: a PyTorch parity oracle.

``assert_torch_parity`` runs one expression in minicnn and in PyTorch on the
same numbers, back-propagates the same random upstream gradient through both,
and compares the outputs and every input gradient:

    assert_torch_parity(
        lambda x, w: F.conv2d(x, w, stride=2),
        lambda x, w: torch.nn.functional.conv2d(x, w, stride=2),
        [x_array, w_array])

PyTorch is imported lazily: minicnn itself never needs it.
"""
from __future__ import annotations

import numpy

from minicnn.autograd import Tensor

__all__ = ["assert_torch_parity", "assert_kernel_close", "default_tolerance", "KERNEL_RTOL",
           "to_torch", "from_torch", "conv_geometries", "winograd_geometries"]


def default_tolerance(dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing against PyTorch: tight in float64, loose in float32."""
    if numpy.dtype(dtype) == numpy.float64:
        return 1e-9, 1e-12
    return 1e-4, 1e-5


# a fast kernel against its NumPy reference (the bound the kernel contract promises)
KERNEL_RTOL = {numpy.dtype(numpy.float32): 1e-5, numpy.dtype(numpy.float64): 1e-12}


def assert_kernel_close(actual, expected, dtype) -> None:
    """A kernel's output against its NumPy reference: same shape and dtype, and
    agreement to KERNEL_RTOL[dtype] relative, with the absolute tolerance scaled
    by the largest reference entry (sums of many terms cancel)."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    tol = KERNEL_RTOL[numpy.dtype(dtype)]
    scale = max(1.0, float(numpy.abs(expected).max(initial=0)))
    numpy.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def to_torch(array, requires_grad=False):
    import torch
    t = torch.from_numpy(numpy.array(array, copy=True))
    if requires_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t


def from_torch(tensor) -> numpy.ndarray:
    return tensor.detach().cpu().numpy()


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def assert_torch_parity(fn, torch_fn, inputs, rtol=None, atol=None, seed=0,
                        grad_inputs=None):
    """Compare ``fn(*Tensors)`` with ``torch_fn(*torch_tensors)``, forward and backward.

    Args:
        fn / torch_fn: the same computation in minicnn and in PyTorch.
        inputs: NumPy arrays; float ones get gradients, integer ones (labels) not.
        rtol, atol: tolerances; default from the first float input's dtype.
        grad_inputs: indices of the inputs whose gradients are compared
            (default: every float input).
    Returns:
        (minicnn outputs, torch outputs) as lists of NumPy arrays.
    """
    floats = [i for i, a in enumerate(inputs) if numpy.asarray(a).dtype.kind == "f"]
    if grad_inputs is None:
        grad_inputs = floats
    d_rtol, d_atol = default_tolerance(numpy.asarray(inputs[floats[0]]).dtype if floats
                                       else numpy.float64)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol

    ours = [Tensor(numpy.array(a, copy=True), requires_grad=i in grad_inputs)
            for i, a in enumerate(inputs)]
    theirs = [to_torch(a, requires_grad=i in grad_inputs) for i, a in enumerate(inputs)]
    out_ours = _as_tuple(fn(*ours))
    out_theirs = _as_tuple(torch_fn(*theirs))
    if len(out_ours) != len(out_theirs):
        raise AssertionError(f"minicnn returned {len(out_ours)} outputs, torch "
                             f"{len(out_theirs)}")
    rng = numpy.random.default_rng(seed)
    loss_ours, loss_theirs = None, None
    for k, (a, b) in enumerate(zip(out_ours, out_theirs)):
        b_np = from_torch(b)
        if a.shape != b_np.shape:
            raise AssertionError(f"output {k}: minicnn shape {a.shape}, torch {b_np.shape}")
        numpy.testing.assert_allclose(a.numpy(), b_np, rtol=rtol, atol=atol,
                                      err_msg=f"forward output {k}")
        if a.dtype.kind == "f" and a.requires_grad:
            g = rng.standard_normal(a.shape).astype(a.dtype)
            term_ours = (a * Tensor(g)).sum()
            term_theirs = (b * to_torch(g)).sum()
            loss_ours = term_ours if loss_ours is None else loss_ours + term_ours
            loss_theirs = term_theirs if loss_theirs is None else loss_theirs + term_theirs
    if loss_ours is not None and grad_inputs:
        loss_ours.backward()
        loss_theirs.backward()
        for i in grad_inputs:
            g_ours, g_theirs = ours[i].grad, theirs[i].grad
            if g_theirs is None:
                g_theirs = numpy.zeros(inputs[i].shape, dtype=inputs[i].dtype)
            else:
                g_theirs = from_torch(g_theirs)
            if g_ours is None:
                g_ours = numpy.zeros_like(g_theirs)
            numpy.testing.assert_allclose(numpy.asarray(g_ours), g_theirs, rtol=rtol,
                                          atol=atol, err_msg=f"gradient of input {i}")
    return [a.numpy() for a in out_ours], [from_torch(b) for b in out_theirs]


def conv_geometries(max_size: int = 9, max_kernel: int = 4, max_stride: int = 3,
                    max_groups: int = 3, max_batch: int = 3, max_per_group: int = 2):
    """A hypothesis strategy for small convolutions whose output is at least 1x1:
    tuples ``(N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, groups)``.

    Padding is 0..2 and dilation 1..2 on each axis; C and OC are multiples of
    ``groups``. Needs hypothesis (a test dependency, imported here only).
    """
    from hypothesis import strategies as st  # test-only dependency

    @st.composite
    def draw_geometry(draw):
        groups = draw(st.integers(1, max_groups))
        C = groups * draw(st.integers(1, max_per_group))
        OC = groups * draw(st.integers(1, max_per_group + 1))
        KH, KW = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
        SH, SW = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
        PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        # the dilated kernel must fit the padded image: H + 2*PH >= DH*(KH-1) + 1
        H = draw(st.integers(max(1, DH * (KH - 1) + 1 - 2 * PH), max_size))
        W = draw(st.integers(max(1, DW * (KW - 1) + 1 - 2 * PW), max_size))
        N = draw(st.integers(1, max_batch))
        return N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, groups

    return draw_geometry()


def winograd_geometries(max_channels: int = 8, max_size: int = 12):
    """A hypothesis strategy for the layers Winograd F(m x m, 3x3) computes: 3x3,
    stride 1, dilation 1, one group, padding 0..2 on each axis, an output of at
    least 1x1. Tuples ``(N, C, OC, H, W, PH, PW)``, N, C and OC in
    1..``max_channels``, H and W up to ``max_size`` (so sizes that are not a
    multiple of the tile come up)."""
    from hypothesis import strategies as st  # test-only dependency

    @st.composite
    def draw_geometry(draw):
        PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        H = draw(st.integers(max(1, 3 - 2 * PH), max_size))
        W = draw(st.integers(max(1, 3 - 2 * PW), max_size))
        N, C, OC = (draw(st.integers(1, max_channels)) for _ in range(3))
        return N, C, OC, H, W, PH, PW

    return draw_geometry()
