"""Exercise im2col: unfold image patches into columns, and fold them back.

    x: (N, C, H, W)  ->  cols: (N, C*KH*KW, OH*OW)
    OH = (H + 2*padding - KH) // stride + 1  (OW likewise)

Column ``i*OW + j`` holds the patch under output pixel (i, j); row
``c*KH*KW + p*KW + q`` holds tap (p, q) of channel c: the layout of
``minicnn.functional.im2col`` and ``torch.nn.functional.unfold``. With it a
convolution is one matrix product: ``w.reshape(OC, -1) @ cols``.

Check your work with ``minicnn exercise check im2col``.
"""
import numpy as np  # noqa: F401  (you will need it)


def im2col(x, kh, kw, stride, padding):
    """Copy every KH x KW patch of the zero-padded x into one column.

    Args:
        x: (N, C, H, W) float64.
        kh, kw: the patch size.
        stride: int >= 1; padding: int >= 0 (zeros on every side).
    Returns:
        cols: (N, C*kh*kw, OH*OW) float64.
    """
    raise NotImplementedError("TODO: im2col: pad, then copy each patch into a column")


def col2im(cols, x_shape, kh, kw, stride, padding):
    """The adjoint of im2col: add every column entry back onto its pixel.

    Args:
        cols: (N, C*kh*kw, OH*OW) float64.
        x_shape: (N, C, H, W), the shape of the image to rebuild.
        kh, kw, stride, padding: as for im2col.
    Returns:
        x: (N, C, H, W) float64. A pixel that several patches share receives
        the sum of all its copies; entries that fell on the padding are dropped.

    Hint: this is the backward of im2col (im2col copies, so the gradient of a
    pixel is the sum of the gradients of its copies): use ``+=``, never ``=``.
    """
    raise NotImplementedError("TODO: col2im: add each column entry back onto its pixel")
