"""Winograd minimal filtering: F(2,3) and F(4,3), nested per spatial dim (F(2x2,3x3),
F(4x4,3x3) in 2D; 1D and 3D alike), stride 1, dilation 1, 3-tap kernels.

F(m, 3) computes m outputs of a 3-tap correlation from an alpha = m + 2 input tile with alpha
multiplications instead of 3m: ``y = A^T [(G g) * (B^T d)]``. Nested over dims, one output tile
of m^dims positions per (output channel, input channel) pair costs alpha^dims products instead
of (3m)^dims: 16 instead of 36 for F(2x2,3x3), 36 instead of 144 for F(4x4,3x3).

The transform matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
2016) live in :data:`TRANSFORMS` and nowhere else; F(4,3) interpolates at 0, +-1, +-2 and
infinity. Their larger entries (up to 8 in A^T, 5 in B^T) and the 1/6 and 1/24 of G are why
F(4,3) loses more accuracy than F(2,3), which loses more than direct.

How it runs (all in the compute dtype; the GEMM operands rounded to the storage dtype):

1. input tiles: overlapping alpha-wide windows of the zero-extended input, step m (a view);
2. ``V = B^T d B`` per tile and input channel, ``U = G g G^T`` per channel pair;
3. one batched GEMM per transformed position: ``M[xi] = U[xi] (K/G x C/G) @ V[xi] (C/G x tiles)``;
4. ``Y = A^T M A`` per tile and output channel, tiles assembled and cropped to the output.

backward_data at stride 1 is a forward conv of ``dy`` zero-padded by 2 with the flipped,
channel-transposed kernel, so it runs the same forward. The weight gradient is a correlation
whose kernel is the output gradient (not a 3-tap kernel): not a Winograd F(m, 3) problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from convbench.backends.reference._core import (
    Geometry,
    Precision,
    Scratch,
    flip_transpose,
)
from convbench.errors import ConvbenchError


@dataclass(frozen=True)
class WinogradTransform:
    """The three matrices of F(m, r): ``BT`` (alpha x alpha), ``G`` (alpha x r), ``AT`` (m x alpha)."""

    m: int
    r: int
    BT: tuple[tuple[float, ...], ...]
    G: tuple[tuple[float, ...], ...]
    AT: tuple[tuple[float, ...], ...]

    @property
    def alpha(self) -> int:
        """Input tile size m + r - 1 (also the multiplications of one 1D tile)."""
        return self.m + self.r - 1

    def matrices(self, dtype=np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(BT, G, AT) as arrays of ``dtype``."""
        return (np.array(self.BT, dtype), np.array(self.G, dtype), np.array(self.AT, dtype))


#: The transforms, keyed by output tile size m (r = 3).
TRANSFORMS: dict[int, WinogradTransform] = {
    2: WinogradTransform(
        m=2,
        r=3,
        BT=(
            (1, 0, -1, 0),
            (0, 1, 1, 0),
            (0, -1, 1, 0),
            (0, 1, 0, -1),
        ),
        G=(
            (1, 0, 0),
            (1 / 2, 1 / 2, 1 / 2),
            (1 / 2, -1 / 2, 1 / 2),
            (0, 0, 1),
        ),
        AT=(
            (1, 1, 1, 0),
            (0, 1, -1, -1),
        ),
    ),
    4: WinogradTransform(
        m=4,
        r=3,
        BT=(
            (4, 0, -5, 0, 1, 0),
            (0, -4, -4, 1, 1, 0),
            (0, 4, -4, -1, 1, 0),
            (0, -2, -1, 2, 1, 0),
            (0, 2, -1, -2, 1, 0),
            (0, 4, 0, -5, 0, 1),
        ),
        G=(
            (1 / 4, 0, 0),
            (-1 / 6, -1 / 6, -1 / 6),
            (-1 / 6, 1 / 6, -1 / 6),
            (1 / 24, 1 / 12, 1 / 6),
            (1 / 24, -1 / 12, 1 / 6),
            (0, 0, 1),
        ),
        AT=(
            (1, 1, 1, 1, 1, 0),
            (0, 1, -1, 2, -2, 0),
            (0, 1, 1, 4, 4, 0),
            (0, 1, -1, 8, -8, 1),
        ),
    ),
}


def unsupported_reason(op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
    """None when Winograd F(m,3) computes this primitive; else one line saying why."""
    nd = len(kernel)
    if op == "backward_weight":
        return (
            "winograd F(m,3) runs fwd and dgrad; wgrad correlates the input with the output "
            "gradient (its kernel is not 3 taps)"
        )
    if any(k != 3 for k in kernel) or any(s != 1 for s in geo.stride) or any(d != 1 for d in geo.dilation):
        x = "x".join
        return (
            f"winograd needs stride 1, dilation 1, {x(['3'] * nd)} kernel; got stride "
            f"{x(map(str, geo.stride))}, dilation {x(map(str, geo.dilation))}, kernel {x(map(str, kernel))}"
        )
    return None


def transform(t: np.ndarray, mat: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Apply ``mat`` (rows x n) along each of ``axes`` of ``t`` (each of length n): the nested
    (separable) transform ``mat . t . mat^T`` in 2D. One GEMM per axis."""
    for axis in axes:
        t = np.moveaxis(np.tensordot(t, mat, axes=([axis], [1])), -1, axis)
    return t


def tiles_per_dim(out: Sequence[int], m: int) -> tuple[int, ...]:
    """Output tiles per dim: ceil(out / m) (the last tile is cut at the output's edge)."""
    return tuple(-(-o // m) for o in out)


class Winograd:
    """Winograd F(m x m, 3 x 3) (see the module docstring); ``m`` is 2 or 4."""

    error_spread = "tile"

    def __init__(self, m: int) -> None:
        self.tf = TRANSFORMS[m]
        self.name = f"winograd-{m}x{m}"

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        return unsupported_reason(op, kernel, geo)

    def forward(self, xp, w, geo: Geometry, out, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n, c = xp.shape[:2]
        k_all, cg = w.shape[:2]
        nd = xp.ndim - 2
        g = geo.groups
        kg = k_all // g
        m, alpha = self.tf.m, self.tf.alpha
        dt = xp.dtype
        BT, Gm, AT = (a.astype(dt) for a in self.tf.matrices())
        tiles = tiles_per_dim(out, m)
        n_tiles = math.prod(tiles)
        ext = tuple(t * m + 2 for t in tiles)  # input positions the tiles read
        # 1. input tiles (N, C, *tiles, *alpha): a view of the zero-extended input
        if all(p >= e for p, e in zip(xp.shape[2:], ext)):
            extended = xp
        else:  # the last tiles overhang the input: extend it with zeros (border written once)
            src = xp[(slice(None), slice(None)) + tuple(slice(0, min(p, e)) for p, e in zip(xp.shape[2:], ext))]
            extended = scratch.empty(f"{tag}:ext", (n, c, *ext), dt)
            extended[(slice(None), slice(None)) + tuple(slice(0, s) for s in src.shape[2:])] = src
        st = extended.strides
        d = np.lib.stride_tricks.as_strided(
            extended,
            shape=(n, c, *tiles, *(alpha,) * nd),
            strides=(*st[:2], *(s * m for s in st[2:]), *st[2:]),
            writeable=False,
        )
        # 2. transforms: V (N, C, *tiles, *alpha), U (K, C/G, *alpha)
        tile_axes = tuple(range(2 + nd, 2 + 2 * nd))
        v = prec.operand(transform(d, BT, tile_axes))
        u = prec.operand(transform(w, Gm, tuple(range(2, 2 + nd))))
        # 3. GEMMs over the alpha^nd transformed positions: (xi, G, K/G, C/G) @ (xi, G, C/G, N*tiles)
        xi = alpha**nd
        vg = v.reshape(n, g, cg, n_tiles, xi).transpose(4, 1, 2, 0, 3).reshape(xi, g, cg, n * n_tiles)
        ug = u.reshape(g, kg, cg, xi).transpose(3, 0, 1, 2)
        prod_ = np.matmul(ug, vg)  # (xi, G, K/G, N*tiles)
        # 4. output transform and assembly
        mm = prod_.reshape(*(alpha,) * nd, k_all, n, *tiles)
        mm = np.moveaxis(mm, tuple(range(nd)), tuple(range(2 + 2 * nd - nd, 2 + 2 * nd)))
        # mm: (K, N, *tiles, *alpha)
        y = transform(mm, AT, tile_axes)  # (K, N, *tiles, *m)
        order = (1, 0, *(a for i in range(nd) for a in (2 + i, 2 + nd + i)))
        y = y.transpose(order).reshape(n, k_all, *(t * m for t in tiles))
        crop = (slice(None), slice(None)) + tuple(slice(0, o) for o in out)
        return np.ascontiguousarray(y[crop])

    def backward_data(self, dy, w, geo: Geometry, size, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        out = dy.shape[2:]
        # zero-pad dy by 2 before and enough after that the stride-1 forward yields `size`
        pads = tuple((2, s - o) for s, o in zip(size, out))
        spread = scratch.empty(f"{tag}:dyp", (*dy.shape[:2], *(o + b + a for o, (b, a) in zip(out, pads))), dy.dtype)
        spread[(slice(None), slice(None)) + tuple(slice(2, 2 + o) for o in out)] = dy  # border stays zero
        return self.forward(spread, flip_transpose(w, geo.groups), geo, tuple(size), prec, scratch, f"{tag}:t")

    def backward_weight(self, xp, dy, geo: Geometry, kernel, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        """Not a Winograd problem: refused with the reason ``supports`` gives."""
        raise ConvbenchError(unsupported_reason("backward_weight", kernel, geo))
