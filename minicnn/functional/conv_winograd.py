"""Winograd convolution for 3x3 stride-1 layers: fewer multiplications per output.

A 3x3 convolution spends 9 multiply-adds per output pixel and input channel.
Winograd's minimal filtering algorithm (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks") computes a whole m x m tile of outputs from an
alpha x alpha tile of inputs (alpha = m + 2) with alpha^2 multiplications: 16
instead of 36 for F(2x2, 3x3), 36 instead of 144 for F(4x4, 3x3). The rest is
additions in small fixed transforms.

One dimension first, F(m, 3): m outputs of a 3-tap correlation,
y[k] = sum_i d[k + i] g[i], k < m, read alpha = m + 2 inputs. Their generating
polynomials multiply, and a polynomial product of degree alpha - 1 is fixed by
its values at alpha points (Toom-Cook): evaluate both factors there, multiply
the values (the only alpha multiplications), interpolate back (Lagrange).
The points chosen are 0, 1, -1 for F(2, 3) and 0, 1, -1, 2, -2 for F(4, 3),
plus "infinity" (the leading coefficient) for the last one. Small points keep
the matrices' entries small, and so the float32 rounding: F(4, 3) could take
1/2, -1/2 instead of 2, -2 (the same count, alpha = 6), and F(6, 3) needs
0, +-1, +-2, +-1/2 and infinity. Correlation is
the transpose of that polynomial product, so the matrices swap roles:

    y = A^T [ (G g) * (B^T d) ]        * element-wise
    G   (alpha, 3):     evaluates the filter at the points (with the Lagrange
                        denominators folded in: the 1/2, 1/6, 1/24 entries)
    B^T (alpha, alpha): evaluates/interpolates the input tile
    A^T (m, alpha):     evaluates the products back at the outputs' powers

(the constants, in minicnn/functional/_winograd.py, are checked against that
identity in tests/functional/test_conv_winograd.py). Nesting the 1-D
algorithm along rows and columns gives the 2-D one, on one input tile d
(alpha, alpha) and one filter g (3, 3):

    Y = A^T [ (G g G^T) * (B^T d B) ] A          Y: (m, m)

A layer is many tiles and channels. The output (OH, OW) is cut into
TH x TW tiles of m x m (TH = ceil(OH/m); the last ones stick out and are
cropped). Output tile (th, tw) reads the input tile starting at
(th*m, tw*m) of the padded input, alpha = m + 2 wide, so neighbouring input
tiles overlap by 2 pixels (the filter's reach). The padded input is padded
up to whole tiles (zeros, which also make the cropped outputs harmless).
With U = G g G^T per (output channel o, input channel c) and V = B^T d B per
(channel c, tile t), the sum over input channels happens between the
transforms, position by position: for each of the alpha^2 positions (xi, nu)

    M[xi, nu] = U[xi, nu] @ V[xi, nu]        (OC, C) @ (C, tiles) -> (OC, tiles)
    Y_tile[o, t] = A^T M[:, :, o, t] A

so the layer is alpha^2 independent GEMMs, one batched matmul.

Backward, by the chain rule through those three steps:

    gbias   = sum of gy over n, oh, ow
    gweight: Y = A^T M A gives dM = A dY A^T per tile (dY zero where the tile
             was cropped); M = U V gives dU[xi, nu] = dM[xi, nu] @ V[xi, nu]^T,
             one GEMM per position over the tile axis; U = G g G^T gives
             gweight = G^T dU G.
    gx:      the transposed convolution, gx[n, c, h, w] = sum_{o,i,j}
             weight[o, c, i, j] * gy[n, o, h + P - i, w + P - j], is itself a
             3x3 stride-1 correlation: of gy padded by 2 - P with the filters
             flipped in (i, j) and c and o swapped. So Winograd computes it too.

Notation (NCHW; ``W`` is a width, never the filters):

    x: (N, C, H, W)   weight: (OC, C, 3, 3)   bias: (OC,) or None
    y: (N, OC, OH, OW),  OH = H + 2*PH - 2,  OW = W + 2*PW - 2
    m = tile (2 or 4), alpha = m + 2, TH, TW = ceil(OH/m), ceil(OW/m)

This is the NumPy reference: ``F.conv2d_winograd`` always runs it, written
against ``xp`` so it runs on CuPy data too. The numba backend's fast version
(kernels/cpu/winograd.py) is one of the paths of ``F.conv2d``, chosen by
``minicnn.kernels.cpu.conv.choose_algorithm`` and tested against this file.
Only 3x3, stride 1, dilation 1, one group and padding 0..2 are Winograd's:
``F.conv2d_winograd`` refuses other layers.
"""
from __future__ import annotations

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.functional._geometry import chunk_size, conv_output_hw
from minicnn.functional._winograd import (
    WINOGRAD_TILE,
    WINOGRAD_TILES,
    winograd_applies,
    winograd_matrices,
    winograd_tile_values,
    winograd_tiles,
)
from minicnn.functional.conv import prepare_conv2d

__all__ = ["conv2d_winograd", "Conv2dWinogradFunction", "conv2d_winograd_forward",
           "conv2d_winograd_backward"]


def _matrices(tile, dtype, xp):
    """(B^T, G, A^T) as arrays of ``xp`` in ``dtype``."""
    return tuple(xp.asarray(matrix) for matrix in winograd_matrices(tile, dtype))


def _filter_transform(weight, G):
    """U = G g G^T for every filter: weight (OC, C, 3, 3) -> U (alpha, alpha, OC, C)."""
    U = G @ weight @ G.T                   # (alpha, 3) @ (OC, C, 3, 3) @ (3, alpha)
    return U.transpose(2, 3, 0, 1)         # (OC, C, alpha, alpha) -> (alpha, alpha, OC, C)


def _input_transform(x, PH, PW, TH, TW, BT):
    """V = B^T d B for every channel and input tile d.

    x (B, C, H, W) -> V (alpha, alpha, C, B*TH*TW), tiles ordered (b, th, tw).
    Tile (th, tw) is x_pad[th*m : th*m + alpha, tw*m : tw*m + alpha], x_pad
    being x with PH rows above and PW columns left, and zeros below and right
    up to (TH*m + 2, TW*m + 2). As in im2col, the loop runs over the alpha^2
    positions in a tile, each a strided slice of x_pad across all tiles.
    """
    xp = get_array_module(x)
    B, C, H, W = x.shape
    alpha = BT.shape[0]
    m = alpha - 2
    x_pad = xp.zeros((B, C, TH * m + 2, TW * m + 2), dtype=x.dtype)
    x_pad[:, :, PH:PH + H, PW:PW + W] = x
    d = xp.empty((B, C, TH, TW, alpha, alpha), dtype=x.dtype)
    for a in range(alpha):
        for b in range(alpha):
            d[..., a, b] = x_pad[:, :, a:a + m * TH:m, b:b + m * TW:m]
    V = BT @ d @ BT.T                      # (B, C, TH, TW, alpha, alpha)
    # -> (alpha, alpha, C, B, TH, TW) -> (alpha, alpha, C, B*TH*TW)
    return V.transpose(4, 5, 1, 0, 2, 3).reshape(alpha, alpha, C, B * TH * TW)


def _output_transform(M, B, TH, TW, OH, OW, AT):
    """Y = A^T M A per tile, tiles put in place and cropped to (OH, OW).

    M (alpha, alpha, OC, B*TH*TW) -> y (B, OC, OH, OW).
    """
    alpha, OC, m = M.shape[0], M.shape[2], AT.shape[0]
    # (alpha, alpha, OC, B*TH*TW) -> (B, OC, TH, TW, alpha, alpha)
    M = M.reshape(alpha, alpha, OC, B, TH, TW).transpose(3, 2, 4, 5, 0, 1)
    Y = AT @ M @ AT.T                      # (B, OC, TH, TW, m, m)
    # (B, OC, TH, TW, m, m) -> (B, OC, TH, m, TW, m) -> (B, OC, TH*m, TW*m)
    Y = Y.transpose(0, 1, 2, 4, 3, 5).reshape(B, OC, TH * m, TW * m)
    return Y[:, :, :OH, :OW]


def _output_transform_adjoint(gy, TH, TW, AT):
    """dM = A dY A^T per tile, the adjoint of ``_output_transform``.

    gy (B, OC, OH, OW) -> dM (alpha, alpha, OC, B*TH*TW); dY is gy padded with
    zeros up to whole tiles (the cropped outputs have no gradient).
    """
    xp = get_array_module(gy)
    B, OC, OH, OW = gy.shape
    m, alpha = AT.shape
    gy_pad = xp.zeros((B, OC, TH * m, TW * m), dtype=gy.dtype)
    gy_pad[:, :, :OH, :OW] = gy
    # (B, OC, TH*m, TW*m) -> (B, OC, TH, m, TW, m) -> (B, OC, TH, TW, m, m)
    dY = gy_pad.reshape(B, OC, TH, m, TW, m).transpose(0, 1, 2, 4, 3, 5)
    dM = AT.T @ dY @ AT                    # (B, OC, TH, TW, alpha, alpha)
    # -> (alpha, alpha, OC, B, TH, TW) -> (alpha, alpha, OC, B*TH*TW)
    return dM.transpose(4, 5, 1, 0, 2, 3).reshape(alpha, alpha, OC, B * TH * TW)


def _image_chunk(N, C, OC, TH, TW, tile, itemsize):
    """Images per chunk: one image's transformed input and product tiles
    (``winograd_tile_values``) fit in the workspace (``chunk_size``)."""
    return chunk_size(N, winograd_tile_values(C, OC, TH, TW, tile) * itemsize, buffers=1)


def conv2d_winograd_forward(x, weight, bias, PH, PW, tile=WINOGRAD_TILE):
    """y = weight * x + bias by Winograd F(tile x tile, 3x3).

    x: (N, C, H, W), weight: (OC, C, 3, 3), bias: (OC,) or None, padding
    PH, PW in 0..2 -> y: (N, OC, OH, OW), OH = H + 2*PH - 2.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC = weight.shape[0]
    OH, OW = conv_output_hw(H, W, 3, 3, 1, 1, PH, PW, 1, 1)
    TH, TW = winograd_tiles(OH, OW, tile)
    BT, G, AT = _matrices(tile, x.dtype, xp)
    U = _filter_transform(weight, G)       # once per call, shared by every chunk
    y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
    nb = _image_chunk(N, C, OC, TH, TW, tile, x.dtype.itemsize)
    for n0 in range(0, N, nb):
        B = min(nb, N - n0)
        V = _input_transform(x[n0:n0 + B], PH, PW, TH, TW, BT)
        M = U @ V                          # (alpha, alpha, OC, C) @ (alpha, alpha, C, T)
        y[n0:n0 + B] = _output_transform(M, B, TH, TW, OH, OW, AT)
    if bias is not None:
        y += bias.reshape(1, OC, 1, 1)     # (OC,) -> (1, OC, 1, 1)
    return y


def conv2d_winograd_backward(gy, x, weight, PH, PW, tile=WINOGRAD_TILE,
                             need_gx=True, need_gweight=True, need_gbias=True):
    """Gradients of ``conv2d_winograd_forward`` (derivation in the module docstring).

    gy: (N, OC, OH, OW) -> (gx (N, C, H, W), gweight (OC, C, 3, 3), gbias (OC,)),
    None where the matching ``need_*`` is False.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC = weight.shape[0]
    OH, OW = gy.shape[2:]
    gbias = gy.sum(axis=(0, 2, 3)) if need_gbias else None
    gx = gweight = None
    if need_gx:
        # the filters flipped in (i, j), c and o swapped: (OC, C, 3, 3) -> (C, OC, 3, 3)
        weight_t = xp.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gx = conv2d_winograd_forward(gy, weight_t, None, 2 - PH, 2 - PW, tile)
    if need_gweight:
        TH, TW = winograd_tiles(OH, OW, tile)
        alpha = tile + 2
        BT, G, AT = _matrices(tile, x.dtype, xp)
        dU = xp.zeros((alpha, alpha, OC, C), dtype=x.dtype)
        nb = _image_chunk(N, C, OC, TH, TW, tile, x.dtype.itemsize)
        for n0 in range(0, N, nb):
            B = min(nb, N - n0)
            V = _input_transform(x[n0:n0 + B], PH, PW, TH, TW, BT)
            dM = _output_transform_adjoint(gy[n0:n0 + B], TH, TW, AT)
            # (alpha, alpha, OC, T) @ (alpha, alpha, T, C): the sum over tiles
            dU += dM @ V.transpose(0, 1, 3, 2)
        dU = dU.transpose(2, 3, 0, 1)      # (alpha, alpha, OC, C) -> (OC, C, alpha, alpha)
        gweight = xp.ascontiguousarray(G.T @ dU @ G)   # (OC, C, 3, 3)
    return gx, gweight, gbias


class Conv2dWinogradFunction(Function):
    """3x3 stride-1 convolution by Winograd F(tile x tile, 3x3) (see the module docstring)."""

    def __init__(self, padding, tile):
        self.PH, self.PW = padding
        self.tile = tile

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        self.has_bias = bias is not None
        return conv2d_winograd_forward(x, weight, bias, self.PH, self.PW, self.tile)

    def backward(self, gy):
        need_gbias = self.has_bias and self.needs_grad[2]
        gx, gweight, gbias = conv2d_winograd_backward(
            gy, self.x, self.weight, self.PH, self.PW, self.tile,
            self.needs_grad[0], self.needs_grad[1], need_gbias)
        if self.has_bias:
            return gx, gweight, gbias
        return gx, gweight


def conv2d_winograd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    tile=WINOGRAD_TILE):
    """``F.conv2d`` of a 3x3, stride-1 layer by Winograd F(tile x tile, 3x3).

    The same arguments, checks and result as ``F.conv2d`` (``prepare_conv2d``),
    plus ``tile`` (2 or 4: the output tile's side; the default is
    ``_winograd.WINOGRAD_TILE``, what measured best). Only layers with a 3x3
    filter, stride 1, dilation 1, one group and padding 0..2 are accepted.
    Always runs the NumPy reference of this file.

        >>> import numpy, minicnn, minicnn.functional as F
        >>> x = minicnn.Tensor(numpy.arange(16.0).reshape(1, 1, 4, 4))
        >>> w = minicnn.Tensor(numpy.ones((1, 1, 3, 3)))
        >>> F.conv2d_winograd(x, w, tile=2).numpy()[0, 0].round(10)   # each 3x3 patch summed
        array([[45., 54.],
               [81., 90.]])
    """
    if tile not in WINOGRAD_TILES:
        raise ValueError(f"conv2d_winograd: tile must be one of {WINOGRAD_TILES}, got "
                         f"{tile!r}; use 2 for F(2x2,3x3) or 4 for F(4x4,3x3)")
    x, weight, bias, stride, padding, dilation, groups = prepare_conv2d(
        "conv2d_winograd", x, weight, bias, stride, padding, dilation, groups)
    KH, KW = weight.shape[2:]
    if not winograd_applies(KH, KW, *stride, *padding, *dilation, groups):
        raise ValueError(
            f"conv2d_winograd: expected a 3x3 kernel, stride 1, dilation 1, groups 1 and "
            f"padding 0..2, got kernel ({KH}, {KW}), stride {stride}, dilation {dilation}, "
            f"groups {groups}, padding {padding}; use F.conv2d for this layer")
    fn = Conv2dWinogradFunction(padding, tile)
    if bias is None:
        return fn(x, weight)
    return fn(x, weight, bias)
