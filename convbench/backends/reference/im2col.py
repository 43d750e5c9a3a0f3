"""``im2col``: unfold the input into a column matrix, then one BLAS GEMM per group.

* forward: the windows of the padded input are copied into a reused buffer laid out
  (N, G, C/G * prod(k), prod(out)) (Caffe's order: one row per channel and tap, one column per
  output position), and ``w_g (K/G, C/G*prod(k)) @ cols_g`` gives the output directly in
  channels-first layout; ``numpy.matmul`` batches the GEMMs over samples and groups. A 1x1,
  stride-1 conv needs no unfolding: its input already is the column matrix.
* backward_data (col2im): ``dcols_g = w_g^T @ dy_g``, then each kernel tap's block of rows is
  added into the input gradient at its strided offset (one vectorised add per tap).
* backward_weight: the same column matrix, laid out (G, C/G*prod(k), N*prod(out)), multiplied by
  the output gradient: ``dw_g = dy_g (K/G, N*prod(out)) @ cols_g^T``.

The batch is processed in chunks whose column buffer stays under :data:`CHUNK_BYTES` (one
sample at least), so large batches do not need gigabytes of buffer (a batch that does not
divide evenly keeps a second, smaller buffer for its last chunk). With an integer compute
dtype (int32) the same code is the exact integer GEMM of ``int-gemm``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from convbench.backends.reference._core import Geometry, Precision, Scratch, windows

#: Largest column buffer (bytes) one chunk of the batch may use; a single sample may exceed it.
CHUNK_BYTES = 256 * 2**20


def chunk_size(batch: int, per_sample_bytes: int) -> int:
    """Samples per chunk so that a chunk's column buffer stays under CHUNK_BYTES (>= 1)."""
    return max(1, min(batch, CHUNK_BYTES // max(1, per_sample_bytes)))


def _is_pointwise(kernel: Sequence[int], geo: Geometry) -> bool:
    return all(k == 1 for k in kernel) and all(s == 1 for s in geo.stride)


class Im2col:
    """Unfold + GEMM (see the module docstring)."""

    name = "im2col"
    error_spread = "element"

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        return None

    def forward(self, xp, w, geo: Geometry, out, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n, c = xp.shape[:2]
        k_all, cg = w.shape[:2]
        kernel = w.shape[2:]
        nd = len(kernel)
        g = geo.groups
        kg = k_all // g
        taps = cg * math.prod(kernel)
        positions = math.prod(out)
        wm = w.reshape(g, kg, taps)
        y = scratch.empty(f"{tag}:y", (n, g, kg, positions), xp.dtype)
        if _is_pointwise(kernel, geo) and tuple(xp.shape[2:]) == tuple(out):
            np.matmul(wm, xp.reshape(n, g, cg, positions), out=y)
            return y.reshape(n, k_all, *out)
        step = chunk_size(n, c * math.prod(kernel) * positions * xp.itemsize)
        order = (0, 1, 2, *range(3 + nd, 3 + 2 * nd), *range(3, 3 + nd))
        for n0 in range(0, n, step):
            n1 = min(n, n0 + step)
            win = windows(xp[n0:n1], out, kernel, geo).reshape(n1 - n0, g, cg, *out, *kernel)
            cols = scratch.empty(f"{tag}:cols{n1 - n0}", (n1 - n0, g, cg, *kernel, *out), xp.dtype)
            np.copyto(cols, win.transpose(order))
            np.matmul(wm, cols.reshape(n1 - n0, g, taps, positions), out=y[n0:n1])
        return y.reshape(n, k_all, *out)

    def backward_data(self, dy, w, geo: Geometry, size, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n, k_all = dy.shape[:2]
        out = dy.shape[2:]
        cg = w.shape[1]
        kernel = w.shape[2:]
        g = geo.groups
        kg = k_all // g
        c = cg * g
        taps = cg * math.prod(kernel)
        positions = math.prod(out)
        wt = w.reshape(g, kg, taps).transpose(0, 2, 1)  # (g, C/g*prod(k), K/g)
        dyg = dy.reshape(n, g, kg, positions)
        if _is_pointwise(kernel, geo) and tuple(size) == tuple(out):
            dx = scratch.empty(f"{tag}:dx", (n, g, taps, positions), dy.dtype)
            np.matmul(wt, dyg, out=dx)
            return dx.reshape(n, c, *size)
        dxp = scratch.zeros(f"{tag}:dxp", (n, g, cg, *size), dy.dtype)
        step = chunk_size(n, c * math.prod(kernel) * positions * dy.itemsize)
        for n0 in range(0, n, step):
            n1 = min(n, n0 + step)
            dcols = scratch.empty(f"{tag}:dcols{n1 - n0}", (n1 - n0, g, taps, positions), dy.dtype)
            np.matmul(wt, dyg[n0:n1], out=dcols)
            blocks = dcols.reshape(n1 - n0, g, cg, *kernel, *out)
            target = dxp[n0:n1]
            for tap in np.ndindex(*kernel):  # kernel taps, never pixels
                dest = (slice(None),) * 3 + tuple(
                    slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, o, s in zip(tap, geo.dilation, out, geo.stride)
                )
                target[dest] += blocks[(slice(None),) * 3 + tap]
        return dxp.reshape(n, c, *size)

    def backward_weight(self, xp, dy, geo: Geometry, kernel, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n, c = xp.shape[:2]
        k_all = dy.shape[1]
        out = dy.shape[2:]
        nd = len(kernel)
        g = geo.groups
        kg, cg = k_all // g, c // g
        taps = cg * math.prod(kernel)
        positions = math.prod(out)
        dw = scratch.zeros(f"{tag}:dw", (g, kg, taps), xp.dtype)
        step = chunk_size(n, c * math.prod(kernel) * positions * xp.itemsize)
        order = (1, 2, *range(3 + nd, 3 + 2 * nd), 0, *range(3, 3 + nd))
        for n0 in range(0, n, step):
            n1 = min(n, n0 + step)
            m = n1 - n0
            win = windows(xp[n0:n1], out, kernel, geo).reshape(m, g, cg, *out, *kernel)
            cols = scratch.empty(f"{tag}:cols{m}", (g, cg, *kernel, m, *out), xp.dtype)
            np.copyto(cols, win.transpose(order))
            dyt = scratch.empty(f"{tag}:dyt{m}", (g, kg, m, positions), dy.dtype)
            np.copyto(dyt, dy[n0:n1].reshape(m, g, kg, positions).transpose(1, 2, 0, 3))
            dw += np.matmul(dyt.reshape(g, kg, m * positions), cols.reshape(g, taps, m * positions).transpose(0, 2, 1))
        return dw.reshape(k_all, cg, *kernel)
