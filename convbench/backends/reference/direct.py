"""``direct``: the convolution by its definition, vectorised.

Every primitive is one ``numpy.einsum`` over a strided window view of the (padded) input, with
einsum's own summation loop (no BLAS, no reordering): for each output element the products of
one group's input channels and kernel taps are summed in the compute dtype, in order. No Python
loop touches a pixel. It is the slowest reference algorithm (a few hundred MMAC/s) and the one
whose rounding is easiest to reason about: each output element carries only its own sum's error.

* forward: ``y[n,g,m,o] = sum_{c,t} win[n,g,c,o,t] * w[g,m,c,t]``.
* backward_data: the transposed conv by definition: ``dy`` with (stride - 1) zeros inserted
  between elements and dilation*(k-1) zeros around, correlated with the flipped,
  channel-transposed kernel at stride 1.
* backward_weight: ``dw[g,m,c,t] = sum_{n,o} win[n,g,c,o,t] * dy[n,g,m,o]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from convbench.backends.reference._core import (
    Geometry,
    Precision,
    Scratch,
    flip_transpose,
    windows,
)

_OUT = "xyz"
_TAP = "rst"


def _grouped_windows(xp: np.ndarray, out, kernel, geo: Geometry) -> np.ndarray:
    n, c = xp.shape[:2]
    return windows(xp, out, kernel, geo).reshape(n, geo.groups, c // geo.groups, *out, *kernel)


class Direct:
    """The definition (see the module docstring)."""

    name = "direct"
    error_spread = "element"

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        return None

    def forward(self, xp, w, geo: Geometry, out, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        k_all, cg = w.shape[:2]
        kernel = w.shape[2:]
        nd = len(kernel)
        o, t = _OUT[:nd], _TAP[:nd]
        win = _grouped_windows(xp, out, kernel, geo)
        wg = w.reshape(geo.groups, k_all // geo.groups, cg, *kernel)
        y = np.einsum(f"ngc{o}{t},gmc{t}->ngm{o}", win, wg, optimize=False)
        return y.reshape(xp.shape[0], k_all, *out)

    def backward_data(self, dy, w, geo: Geometry, size, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        kernel = w.shape[2:]
        out = dy.shape[2:]
        lead = tuple(d * (k - 1) for d, k in zip(geo.dilation, kernel))
        # zeros when first allocated; every run writes the same positions, the rest stays zero
        spread = scratch.empty(f"{tag}:dyz", (*dy.shape[:2], *(s + l for s, l in zip(size, lead))), dy.dtype)
        spread[(slice(None), slice(None)) + tuple(
            slice(l, l + (o - 1) * s + 1, s) for l, o, s in zip(lead, out, geo.stride)
        )] = dy
        unit = Geometry((1,) * len(kernel), geo.dilation, geo.groups)
        return self.forward(spread, flip_transpose(w, geo.groups), unit, size, prec, scratch, f"{tag}:t")

    def backward_weight(self, xp, dy, geo: Geometry, kernel, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n, k_all = dy.shape[:2]
        out = dy.shape[2:]
        nd = len(kernel)
        o, t = _OUT[:nd], _TAP[:nd]
        win = _grouped_windows(xp, out, kernel, geo)
        dyg = dy.reshape(n, geo.groups, k_all // geo.groups, *out)
        dw = np.einsum(f"ngc{o}{t},ngm{o}->gmc{t}", win, dyg, optimize=False)
        return dw.reshape(k_all, xp.shape[1] // geo.groups, *kernel)
