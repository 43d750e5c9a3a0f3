"""The float64 oracle: fwd, dgrad and wgrad of every :class:`ConvSpec`, in canonical layout.

Conventions (those of :mod:`convbench.backends.base`):

* ``fwd``: ``y = conv(x, w) + b``, shape ``spec.output_shape``.
* ``dgrad``: ``dx = d/dx sum(y * dy)``, shape ``spec.input_shape``.
* ``wgrad``: ``dw = d/dw sum(y * dy)``, shape ``spec.weight_shape`` (no bias gradient).

Everything is built from three vectorised float64 kernels on an already padded input ``xp``
(N, C, *P) and a weight ``w`` (K, C/groups, *k) in conv layout:

* :func:`correlate`: ``y[n, k, o] = sum_{c, t} xp[n, c, o*stride + t*dilation] * w[k, c, t]``
  (the group's channels only): an im2col view (``numpy.lib.stride_tricks.sliding_window_view``,
  subsampled by stride and dilation), copied once per batch chunk and multiplied with one
  ``matmul`` per group.
* :func:`correlate_wgrad`: the same im2col, multiplied by the output gradient: the weight
  gradient ``dw[k, c, t] = sum_{n, o} dy[n, k, o] * xp[n, c, o*stride + t*dilation]``.
* :func:`correlate_adjoint`: the adjoint of :func:`correlate` with respect to ``xp`` (col2im):
  one ``matmul`` ``w^T dy`` per group, then one strided, vectorised accumulation per kernel tap
  (no loop over pixels). It costs the same as the forward pass at any stride, where dilating
  ``dy`` by the stride and correlating with the flipped kernel would cost stride^dims times more
  (256x for a 16x16 stride-16 patch embedding).

How each direction uses them (``pad`` is numpy.pad with the spec's mode: zeros -> constant,
reflect -> reflect, replicate -> edge, circular -> wrap; the spec refuses pads that those modes
and torch would treat differently):

====================  ==========================================================================
conv fwd              ``correlate(pad(x), w) + b``
conv dgrad            ``fold(correlate_adjoint(dy, w))``: the gradient of the padded input, whose
                      pad entries are added back onto the x elements they copy (for zeros, they
                      are dropped)
conv wgrad            ``correlate_wgrad(pad(x), dy)``
transposed fwd        the adjoint of the conv ``T`` whose weight is ``w`` (in_channels,
                      out_channels/groups, *k) read in conv layout:
                      ``crop(correlate_adjoint(x, w)) + b``, where the full output has
                      (I-1)*stride + dilation*(k-1) + 1 + output_padding positions and ``crop``
                      removes pad_before and pad_after
transposed dgrad      ``correlate(zero_pad(dy), w)``: a direct conv (the adjoint of crop is zero
                      padding; the adjoint of ``T^*`` is ``T``), first I positions
transposed wgrad      ``correlate_wgrad(zero_pad(dy), x)``: the weight gradient of ``T`` with
                      input ``zero_pad(dy)`` and output gradient ``x``
linear                a 1x1 conv (nothing special)
====================  ==========================================================================

:func:`magnitude` applies the same linear maps to ``|x|``, ``|w|``, ``|dy|`` (and ``|b|``): per
output element the sum of the absolute values of the terms summed into it, the error scale of the
tolerances in :mod:`convbench.harness.verify`.

Memory: the im2col (and col2im) buffer is made per block of about 64 MiB (:data:`CHUNK_BYTES`):
whole samples while one fits, else rows of the first output dim of one sample, so a 3D video
layer's reference needs no more than a block beside its tensors.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convbench.backends.base import Inputs
from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec, check_direction

#: numpy.pad mode of each ConvSpec padding_mode.
NUMPY_PAD_MODES: dict[str, str] = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}

#: Bytes of im2col (or col2im) buffer per block of work (whole samples, or rows of one).
CHUNK_BYTES = 64 * 2**20


# ---- public API -----------------------------------------------------------------------------
def unsupported_reason(spec: ConvSpec, direction: str = "fwd") -> str | None:
    """None when the oracle can compute ``spec`` in ``direction``; else one line saying why."""
    check_direction(direction)
    if spec.kind == "deformable":
        return "kind deformable: the oracle has no sampling offsets (Inputs carry none)"
    return None


def reference(spec: ConvSpec, direction: str, inputs: Inputs) -> np.ndarray:
    """The exact-in-float64 result of ``spec`` in ``direction`` for ``inputs``.

    fwd: ``spec.output_shape`` (with the bias when ``spec.bias``); dgrad: ``spec.input_shape``;
    wgrad: ``spec.weight_shape``. float64, C-contiguous, canonical channels-first layout. With the
    default small-integer inputs every value is an exact integer (float64 holds integers up to
    2^53 exactly and every partial sum stays far below).
    """
    x, w, b, dy = _checked(spec, direction, inputs)
    return _compute(spec, direction, x, w, b, dy)


def magnitude(spec: ConvSpec, direction: str, inputs: Inputs) -> np.ndarray:
    """Per result element, the sum of |terms| summed into it (same shape as :func:`reference`).

    fwd: ``sum |x| |w|`` (+ ``|b|``); dgrad: ``sum |dy| |w|``; wgrad: ``sum |dy| |x|``; the same
    linear maps as :func:`reference` applied to the absolute values. Non-negative float64.
    """
    x, w, b, dy = _checked(spec, direction, inputs)
    return _compute(spec, direction, *(None if a is None else np.abs(a) for a in (x, w, b, dy)))


# ---- the three kernels ----------------------------------------------------------------------
def _natural_out(size: Sequence[int], kernel, stride, dilation) -> tuple[int, ...]:
    return tuple(
        (p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(size, kernel, stride, dilation)
    )


def _blocks(n_all: int, out, per_position: int):
    """Blocks ``(n0, n1, o0, o1)`` of the batch and of the first output dim whose im2col
    (``per_position`` elements per output position) holds about :data:`CHUNK_BYTES`: whole
    samples while one fits, else rows of one sample (at least one row)."""
    row = per_position * math.prod(out[1:]) * 8
    per_sample = row * out[0]
    if per_sample <= CHUNK_BYTES:
        step = max(1, min(n_all, CHUNK_BYTES // max(1, per_sample)))
        for n0 in range(0, n_all, step):
            yield n0, min(n_all, n0 + step), 0, out[0]
        return
    rows = max(1, CHUNK_BYTES // max(1, row))
    for n0 in range(n_all):
        for o0 in range(0, out[0], rows):
            yield n0, n0 + 1, o0, min(out[0], o0 + rows)


def _rows(xp: np.ndarray, o0: int, o1: int, kernel, stride, dilation) -> np.ndarray:
    """The input rows (first spatial dim) that output rows o0..o1-1 read."""
    first = o0 * stride[0]
    last = (o1 - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
    return xp[:, :, first:last]


def _matmul_groups(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(g, m, k) @ (g, k, n) -> (g, m, n), one 2-D BLAS product per group.

    numpy's stacked matmul leaves BLAS for some operand strides (a transposed view ran 15x
    slower here), so each group is multiplied as a plain 2-D product.
    """
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]))
    for i in range(a.shape[0]):
        out[i] = a[i] @ b[i]  # (matmul's out= argument ran 2x slower with a transposed operand)
    return out


def _im2col(xp: np.ndarray, kernel, stride, dilation, out, groups: int) -> np.ndarray:
    """im2col of ``xp`` (n, C, *P): a (groups, C/groups * prod(kernel), n * prod(out)) copy.

    Row (c, t), column (i, o) holds ``xp[i, c, o*stride + t*dilation]`` for the group's channels
    c, kernel taps t, samples i and output positions o. Output positions are the fastest axis,
    so the copy reads rows of the input (unit stride at stride 1).
    """
    n, c = xp.shape[:2]
    d = len(kernel)
    keff = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))
    view = sliding_window_view(xp, keff, axis=tuple(range(2, 2 + d)))
    view = view[
        (slice(None), slice(None))
        + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
        + tuple(slice(None, None, dl) for dl in dilation)
    ]  # (n, C, *out, *kernel)
    view = view.reshape(n, groups, c // groups, *out, *kernel)
    # -> (groups, C/groups, *kernel, n, *out)
    order = (1, 2, *range(3 + d, 3 + 2 * d), 0, *range(3, 3 + d))
    return np.ascontiguousarray(view.transpose(order)).reshape(
        groups, (c // groups) * math.prod(kernel), n * math.prod(out)
    )


def correlate(xp: np.ndarray, w: np.ndarray, stride, dilation, groups: int, out=None) -> np.ndarray:
    """Cross-correlation of a padded input ``xp`` (N, C, *P) with ``w`` (K, C/groups, *k).

    Returns (N, K, *out), float64; ``out`` defaults to the natural output size
    ``(P - dilation*(k-1) - 1) // stride + 1`` and may be smaller (leading positions only).
    """
    n_all, c = xp.shape[:2]
    k_all, cg = w.shape[:2]
    kernel = w.shape[2:]
    if out is None:
        out = _natural_out(xp.shape[2:], kernel, stride, dilation)
    kg = k_all // groups
    wm = w.reshape(groups, kg, cg * math.prod(kernel))  # (g, K/g, C/g*kk)
    y = np.empty((n_all, groups, kg, *out))
    for n0, n1, o0, o1 in _blocks(n_all, out, c * math.prod(kernel)):
        block = (o1 - o0, *out[1:])
        rows = _rows(xp[n0:n1], o0, o1, kernel, stride, dilation)
        cols = _im2col(rows, kernel, stride, dilation, block, groups)  # (g, C/g*kk, n*O)
        part = _matmul_groups(wm, cols).reshape(groups, kg, n1 - n0, *block)  # (g, K/g, n, *O)
        y[n0:n1, :, :, o0:o1] = np.moveaxis(part, 2, 0)
    return y.reshape(n_all, k_all, *out)


def correlate_wgrad(xp: np.ndarray, dy: np.ndarray, kernel, stride, dilation, groups: int) -> np.ndarray:
    """Weight gradient of :func:`correlate`: (K, C/groups, *kernel) for input ``xp`` (N, C, *P)
    and output gradient ``dy`` (N, K, *out), ``out`` no larger than the natural output size."""
    n_all, c = xp.shape[:2]
    k_all = dy.shape[1]
    out = dy.shape[2:]
    kg, cg = k_all // groups, c // groups
    dw = np.zeros((groups, kg, cg * math.prod(kernel)))
    for n0, n1, o0, o1 in _blocks(n_all, out, c * math.prod(kernel)):
        n, block = n1 - n0, (o1 - o0, *out[1:])
        rows = _rows(xp[n0:n1], o0, o1, kernel, stride, dilation)
        cols = _im2col(rows, kernel, stride, dilation, block, groups)  # (g, C/g*kk, n*O)
        dyb = dy[n0:n1, :, o0:o1].reshape(n, groups, kg, -1).transpose(1, 2, 0, 3).reshape(groups, kg, -1)
        dw += _matmul_groups(dyb, cols.transpose(0, 2, 1))
    return dw.reshape(k_all, cg, *kernel)


def correlate_adjoint(dy: np.ndarray, w: np.ndarray, stride, dilation, groups: int, size) -> np.ndarray:
    """Adjoint of :func:`correlate` with respect to its input (col2im).

    ``dy`` (N, K, *out), ``w`` (K, C/groups, *k) -> (N, C, *size), where ``size`` is the padded
    input size P (it must hold ``(out-1)*stride + dilation*(k-1) + 1`` positions; any further
    positions receive nothing). ``result[n, c, o*stride + t*dilation] += w[k, c, t] * dy[n, k, o]``.
    """
    n_all, k_all = dy.shape[:2]
    out = dy.shape[2:]
    cg = w.shape[1]
    kernel = w.shape[2:]
    d = len(kernel)
    kg = k_all // groups
    c = cg * groups
    wt = w.reshape(groups, kg, cg * math.prod(kernel)).transpose(0, 2, 1)  # (g, C/g*kk, K/g)
    dx = np.zeros((n_all, c, *size))
    for n0, n1, o0, o1 in _blocks(n_all, out, c * math.prod(kernel)):
        n, block = n1 - n0, (o1 - o0, *out[1:])
        dyb = dy[n0:n1, :, o0:o1].reshape(n, groups, kg, -1).transpose(1, 2, 0, 3).reshape(groups, kg, -1)
        dcols = _matmul_groups(wt, dyb)  # (g, C/g*kk, n*O)
        # -> (n, C, *kernel, *O): each tap is an (n, C, *O) block
        dcols = dcols.reshape(groups, cg, *kernel, n, *block)
        dcols = np.moveaxis(dcols, 2 + d, 0).reshape(n, c, *kernel, *block)
        target = dx[n0:n1]
        for tap in np.ndindex(*kernel):
            starts = [t * dl for t, dl in zip(tap, dilation)]
            starts[0] += o0 * stride[0]
            dest = (slice(None), slice(None)) + tuple(
                slice(st, st + (o - 1) * s + 1, s) for st, o, s in zip(starts, block, stride)
            )
            target[dest] += dcols[(slice(None), slice(None)) + tap]
    return dx


# ---- padding ----------------------------------------------------------------------------------
def _pad(x: np.ndarray, padding, mode: str) -> np.ndarray:
    if not any(b or a for b, a in padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), *padding), mode=NUMPY_PAD_MODES[mode])


def _fold(dxp: np.ndarray, padding, mode: str, size) -> np.ndarray:
    """Adjoint of :func:`_pad`: the padded input's gradient (N, C, *P) folded onto x (N, C, *I).

    Zeros: the pad positions are dropped. Other modes: each pad position is a copy of one x
    element (numpy.pad of the index range says which) and its gradient is added there; the loop
    runs over pad positions (a few per dim), vectorised over everything else.
    """
    for axis, ((before, after), i) in enumerate(zip(padding, size), start=2):
        if not before and not after:
            continue
        interior = np.take(dxp, np.arange(before, before + i), axis=axis)
        if mode != "zeros":
            source = np.pad(np.arange(i), (before, after), mode=NUMPY_PAD_MODES[mode])
            moved = np.moveaxis(interior, axis, 0)  # a view: writes go to interior
            grads = np.moveaxis(dxp, axis, 0)
            for j in (*range(before), *range(before + i, before + i + after)):
                moved[source[j]] += grads[j]
        dxp = interior
    return np.ascontiguousarray(dxp)


# ---- directions -------------------------------------------------------------------------------
def _compute(spec: ConvSpec, direction: str, x, w, b, dy) -> np.ndarray:
    s, dl, g = spec.stride, spec.dilation, spec.groups
    kernel = spec.kernel_size
    if not spec.transposed:
        if direction == "fwd":
            y = correlate(_pad(x, spec.padding, spec.padding_mode), w, s, dl, g, spec.output_size)
            return _add_bias(y, b)
        if direction == "wgrad":
            return correlate_wgrad(_pad(x, spec.padding, spec.padding_mode), dy, kernel, s, dl, g)
        padded = tuple(i + bf + af for i, (bf, af) in zip(spec.input_size, spec.padding))
        dxp = correlate_adjoint(dy, w, s, dl, g, padded)
        return _fold(dxp, spec.padding, spec.padding_mode, spec.input_size)
    # Transposed: the adjoint of the conv T (weight w in conv layout: K = in_channels).
    full = tuple(
        (i - 1) * st + d * (k - 1) + 1 + op
        for i, st, d, k, op in zip(spec.input_size, s, dl, kernel, spec.output_padding)
    )
    if direction == "fwd":
        y_full = correlate_adjoint(x, w, s, dl, g, full)
        crop = (slice(None), slice(None)) + tuple(
            slice(bf, bf + o) for (bf, _), o in zip(spec.padding, spec.output_size)
        )
        return _add_bias(np.ascontiguousarray(y_full[crop]), b)
    dy_full = _pad(dy, spec.padding, "zeros")
    if direction == "dgrad":
        return correlate(dy_full, w, s, dl, g, spec.input_size)
    return correlate_wgrad(dy_full, x, kernel, s, dl, g)


def _add_bias(y: np.ndarray, b) -> np.ndarray:
    if b is not None:
        y += b.reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


def _checked(spec: ConvSpec, direction: str, inputs: Inputs):
    """The operands ``direction`` reads, as float64 (None for the others), shapes checked."""
    check_direction(direction)
    reason = unsupported_reason(spec, direction)
    if reason:
        raise ConvbenchError(reason)
    needed = {"fwd": ("x", "w"), "dgrad": ("dy", "w"), "wgrad": ("x", "dy")}[direction]
    shapes = {"x": spec.input_shape, "w": spec.weight_shape, "dy": spec.output_shape}
    arrays = dict.fromkeys(shapes)
    for name in needed:
        a = np.asarray(getattr(inputs, name), dtype=np.float64)
        if a.shape != tuple(shapes[name]):
            raise ConvbenchError(f"inputs.{name}: shape {a.shape} does not match the spec's {tuple(shapes[name])}")
        arrays[name] = a
    b = None
    if direction == "fwd" and spec.bias:
        if inputs.b is None:
            raise ConvbenchError("inputs.b: the spec has a bias but the inputs have none")
        b = np.asarray(inputs.b, dtype=np.float64)
        if b.shape != (spec.out_channels,):
            raise ConvbenchError(f"inputs.b: shape {b.shape} does not match ({spec.out_channels},)")
    return arrays["x"], arrays["w"], b, arrays["dy"]
