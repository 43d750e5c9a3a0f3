"""``fft``: convolution by the convolution theorem, any kernel size, all three directions.

Real-input transforms (``scipy.fft.rfftn``, single precision for fp32 data: complex64) of
length ``L`` per spatial dim, the smallest fast length (2,3,5-smooth on the real axis) not below
the padded extent, so that no valid output wraps around. Per frequency bin, the channel sum is a
small complex GEMM batched over bins (``numpy.matmul`` with the bins as the batch dimension; the
einsum ``ngcf,gmcf->ngmf`` written as a GEMM), then one inverse transform per output plane.

* forward: ``Y = sum_c X * conj(W)`` (a correlation), then the valid part. Stride > 1 is
  computed at stride 1 and subsampled (the row's ``extra`` says ``fft_subsampled``); dilation
  dilates the kernel (zeros between taps) before its transform.
* backward_data: the full convolution of ``dy`` (stride - 1 zeros inserted between elements:
  ``fft_zero_inserted``) with the dilated kernel: ``DX = sum_m DY * W``.
* backward_weight: the correlation of the input with the zero-inserted output gradient, summed
  over the batch per bin (``DW = sum_n conj(DY) * X``), read at lags 0, dilation, 2*dilation...

Kernel transforms are part of the timed operation (the op takes the weights as they are). In
fp16/bf16 the spectra (the GEMM operands) are rounded to that dtype, real and imaginary parts
alike; transforms, products and sums run in float32. Rounding in the frequency domain spreads
over the whole output plane: ``error_spread`` is ``output``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from convbench.backends.reference._core import Geometry, Precision, Scratch


def fft_lengths(size: Sequence[int]) -> tuple[int, ...]:
    """Transform length per dim: the next fast length >= size (real-FFT lengths on the last,
    transformed-as-real axis)."""
    from scipy.fft import next_fast_len

    return tuple(next_fast_len(int(s), real=(i == len(size) - 1)) for i, s in enumerate(size))


def spectrum_bins(lengths: Sequence[int]) -> int:
    """Complex bins of a real-input transform of ``lengths``: the last axis keeps L//2 + 1."""
    return math.prod(lengths[:-1]) * (lengths[-1] // 2 + 1)


def dilate(w: np.ndarray, dilation: Sequence[int]) -> np.ndarray:
    """``w`` (K, C, *k) with dilation-1 zeros between taps: (K, C, *(d*(k-1)+1))."""
    if all(d == 1 for d in dilation):
        return w
    kernel = w.shape[2:]
    out = np.zeros((*w.shape[:2], *(d * (k - 1) + 1 for k, d in zip(kernel, dilation))), w.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    return out


def _zero_insert(dy: np.ndarray, stride: Sequence[int], scratch: Scratch, name: str) -> np.ndarray:
    if all(s == 1 for s in stride):
        return dy
    out = dy.shape[2:]
    buf = scratch.empty(name, (*dy.shape[:2], *((o - 1) * s + 1 for o, s in zip(out, stride))), dy.dtype)
    buf[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = dy  # the rest stays zero
    return buf


def _bins_first(spec: np.ndarray, groups: int, inner: str) -> np.ndarray:
    """(B, G*P, *F) spectrum -> contiguous (F, G, B, P) (inner="bp") or (F, G, P, B) ("pb")."""
    b, gp = spec.shape[:2]
    f = math.prod(spec.shape[2:])
    s = spec.reshape(b, groups, gp // groups, f)
    order = (3, 1, 0, 2) if inner == "bp" else (3, 1, 2, 0)
    return np.ascontiguousarray(s.transpose(order))


class FFT:
    """Convolution theorem (see the module docstring). ``workers``: scipy.fft threads."""

    name = "fft"
    error_spread = "output"

    def __init__(self, workers: int = 1) -> None:
        self.workers = int(workers)

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        return None

    def _rfft(self, a: np.ndarray, lengths) -> np.ndarray:
        from scipy import fft as sfft

        return sfft.rfftn(a, s=lengths, axes=tuple(range(2, a.ndim)), workers=self.workers)

    def _irfft(self, a: np.ndarray, lengths) -> np.ndarray:
        from scipy import fft as sfft

        return sfft.irfftn(a, s=lengths, axes=tuple(range(2, a.ndim)), workers=self.workers)

    def forward(self, xp, w, geo: Geometry, out, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n = xp.shape[0]
        k_all = w.shape[0]
        g = geo.groups
        lengths = fft_lengths(xp.shape[2:])
        xf = prec.complex_operand(self._rfft(xp, lengths))  # (N, C, *F)
        wf = prec.complex_operand(self._rfft(dilate(w, geo.dilation), lengths))  # (K, C/G, *F)
        bins = xf.shape[2:]
        a = _bins_first(xf, g, "bp")  # (F, G, N, C/G)
        f = math.prod(bins)
        b = np.ascontiguousarray(np.conj(wf).reshape(g, k_all // g, -1, f).transpose(3, 0, 2, 1))  # (F, G, C/G, K/G)
        yf = np.matmul(a, b)  # (F, G, N, K/G)
        yf = yf.transpose(2, 1, 3, 0).reshape(n, k_all, *bins)
        y = self._irfft(yf, lengths)
        sel = (slice(None), slice(None)) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, geo.stride))
        return np.ascontiguousarray(y[sel])

    def backward_data(self, dy, w, geo: Geometry, size, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        n = dy.shape[0]
        cg = w.shape[1]
        g = geo.groups
        lengths = fft_lengths(size)
        dyf = prec.complex_operand(self._rfft(_zero_insert(dy, geo.stride, scratch, f"{tag}:dyz"), lengths))
        wf = prec.complex_operand(self._rfft(dilate(w, geo.dilation), lengths))  # (K, C/G, *F)
        bins = dyf.shape[2:]
        a = _bins_first(dyf, g, "bp")  # (F, G, N, K/G)
        f = math.prod(bins)
        b = np.ascontiguousarray(wf.reshape(g, wf.shape[0] // g, cg, f).transpose(3, 0, 1, 2))  # (F, G, K/G, C/G)
        xf = np.matmul(a, b)  # (F, G, N, C/G)
        xf = xf.transpose(2, 1, 3, 0).reshape(n, g * cg, *bins)
        x = self._irfft(xf, lengths)
        return np.ascontiguousarray(x[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)])

    def backward_weight(self, xp, dy, geo: Geometry, kernel, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        k_all = dy.shape[1]
        c = xp.shape[1]
        g = geo.groups
        lengths = fft_lengths(xp.shape[2:])
        xf = prec.complex_operand(self._rfft(xp, lengths))  # (N, C, *F)
        dyf = prec.complex_operand(self._rfft(_zero_insert(dy, geo.stride, scratch, f"{tag}:dyz"), lengths))
        bins = xf.shape[2:]
        a = _bins_first(np.conj(dyf), g, "pb")  # (F, G, K/G, N)
        b = _bins_first(xf, g, "bp")  # (F, G, N, C/G)
        wf = np.matmul(a, b)  # (F, G, K/G, C/G)
        wf = wf.transpose(1, 2, 3, 0).reshape(k_all, c // g, *bins)
        corr = self._irfft(wf, lengths)
        lags = (slice(None), slice(None)) + tuple(slice(0, (k - 1) * d + 1, d) for k, d in zip(kernel, geo.dilation))
        return np.ascontiguousarray(corr[lags])
