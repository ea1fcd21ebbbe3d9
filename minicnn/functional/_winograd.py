"""The Winograd transform matrices F(2x2, 3x3) and F(4x4, 3x3), and when they apply.

NumPy only, no other minicnn import: the NumPy reference
(functional/conv_winograd.py, whose docstring derives these matrices) and the
numba kernels (kernels/cpu/winograd.py) read the same constants from here.

For an output tile of m x m pixels of a 3x3 filter, alpha = m + 2 is the
input tile's side and the number of interpolation points:

    Y = A^T [ (G g G^T) * (B^T d B) ] A        d: (alpha, alpha) input tile
                                               g: (3, 3) filter, Y: (m, m)
    B^T: (alpha, alpha)   G: (alpha, 3)   A^T: (m, alpha)     * element-wise

F(2, 3) interpolates at 0, 1, -1, inf; F(4, 3) at 0, 1, -1, 2, -2, inf (the
matrices of Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks").
"""
import numpy

__all__ = ["WINOGRAD_TILES", "WINOGRAD_TILE", "winograd_matrices", "winograd_applies",
           "winograd_tiles", "winograd_tile_values"]

# F(2, 3): points 0, 1, -1, inf
_BT_2 = numpy.array([[1, 0, -1, 0],
                     [0, 1, 1, 0],
                     [0, -1, 1, 0],
                     [0, 1, 0, -1]], dtype=numpy.float64)
_G_2 = numpy.array([[1, 0, 0],
                    [1 / 2, 1 / 2, 1 / 2],
                    [1 / 2, -1 / 2, 1 / 2],
                    [0, 0, 1]], dtype=numpy.float64)
_AT_2 = numpy.array([[1, 1, 1, 0],
                     [0, 1, -1, -1]], dtype=numpy.float64)

# F(4, 3): points 0, 1, -1, 2, -2, inf
_BT_4 = numpy.array([[4, 0, -5, 0, 1, 0],
                     [0, -4, -4, 1, 1, 0],
                     [0, 4, -4, -1, 1, 0],
                     [0, -2, -1, 2, 1, 0],
                     [0, 2, -1, -2, 1, 0],
                     [0, 4, 0, -5, 0, 1]], dtype=numpy.float64)
_G_4 = numpy.array([[1 / 4, 0, 0],
                    [-1 / 6, -1 / 6, -1 / 6],
                    [-1 / 6, 1 / 6, -1 / 6],
                    [1 / 24, 1 / 12, 1 / 6],
                    [1 / 24, -1 / 12, 1 / 6],
                    [0, 0, 1]], dtype=numpy.float64)
_AT_4 = numpy.array([[1, 1, 1, 1, 1, 0],
                     [0, 1, -1, 2, -2, 0],
                     [0, 1, 1, 4, 4, 0],
                     [0, 1, -1, 8, -8, 1]], dtype=numpy.float64)

_MATRICES = {2: (_BT_2, _G_2, _AT_2), 4: (_BT_4, _G_4, _AT_4)}
for _matrix in (_BT_2, _G_2, _AT_2, _BT_4, _G_4, _AT_4):
    _matrix.flags.writeable = False  # shared constants: a caller must copy to change them

WINOGRAD_TILES = (2, 4)

# The default output tile of F.conv2d_winograd and of the numba path: F(4x4)
# was the faster of the two on 7 of the 9 layers of ``minicnn bench --only
# conv-paths`` in the first (loaded) run and on 5 of 9 in the idle one; its
# float32 error is 8-40x im2col's where F(2x2)'s is about im2col's
# (benchmarks/RESULTS.md, the "Convolution paths" table at the top, and
# "Winograd: numerical error"). Pass tile=2 for the accuracy.
WINOGRAD_TILE = 4


def winograd_matrices(tile: int, dtype=numpy.float64):
    """(B^T (alpha, alpha), G (alpha, 3), A^T (tile, alpha)) of F(tile x tile, 3x3) in ``dtype``.

    alpha = tile + 2. ``tile`` is 2 or 4.
    """
    if tile not in _MATRICES:
        raise ValueError(f"winograd: tile must be one of {WINOGRAD_TILES}, got {tile!r}; "
                         f"use 2 for F(2x2,3x3) or 4 for F(4x4,3x3)")
    return tuple(numpy.asarray(matrix, dtype=dtype) for matrix in _MATRICES[tile])


def winograd_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups) -> bool:
    """True for the layers the Winograd path computes: a 3x3 filter, stride 1,
    dilation 1, one group, padding 0..2 on each axis."""
    return ((KH, KW, SH, SW, DH, DW, groups) == (3, 3, 1, 1, 1, 1, 1)
            and 0 <= PH <= 2 and 0 <= PW <= 2)


def winograd_tiles(OH: int, OW: int, tile: int) -> tuple[int, int]:
    """(TH, TW): how many tile x tile output tiles cover an OH x OW output (the
    last row and column of tiles may stick out past it and are cropped)."""
    return -(-OH // tile), -(-OW // tile)


def winograd_tile_values(C: int, OC: int, TH: int, TW: int, tile: int) -> int:
    """Values in one image's transformed tiles: the input's V (alpha^2 * C per
    tile) and the product M (alpha^2 * OC per tile). The Winograd drivers pass
    it, times the itemsize, to ``_geometry.chunk_size`` as one buffer."""
    alpha = tile + 2
    return alpha * alpha * (C + OC) * TH * TW
