"""What every reference algorithm shares: precisions, padding, window views, work buffers, and
the lowering of a (spec, direction) case onto three primitives over valid (padded) tensors.

The primitives, in conv layout (``xp`` (N, C, *P) already padded, ``w`` (K, C/groups, *k)):

``forward(xp, w, geo, out)``
    ``y[n, k, o] = sum_{c, t} xp[n, c, o*stride + t*dilation] * w[k, c, t]`` over the group's
    channels; ``out`` is the output size (at most the natural ``(P - dilation*(k-1) - 1) //
    stride + 1``; leading positions).
``backward_data(dy, w, geo, size)``
    the adjoint of ``forward`` with respect to ``xp``: (N, C, *size), where ``size`` holds at
    least ``(out-1)*stride + dilation*(k-1) + 1`` positions (further ones receive nothing).
``backward_weight(xp, dy, geo, kernel)``
    the gradient of ``forward`` with respect to ``w``: (K, C/groups, *kernel), for an output
    gradient ``dy`` (N, K, *out) no larger than the natural output.

How a case maps onto them (:func:`lower` and :func:`execute`):

==================  ===============================================================================
conv fwd            ``forward(pad(x), w) + b``
conv dgrad          ``fold(backward_data(dy, w))``: pad entries are added back onto the x elements
                    they copy (reflect/replicate/circular) or dropped (zeros)
conv wgrad          ``backward_weight(pad(x), dy)``
transposed fwd      ``crop(backward_data(x, w)) + b``: the adjoint of the conv T whose weight is
                    ``w`` (in, out/groups, *k) read in conv layout (K = in_channels); the full
                    output has (I-1)*stride + dilation*(k-1) + 1 + output_padding positions
transposed dgrad    ``forward(zero_pad(dy), w)``, first I positions
transposed wgrad    ``backward_weight(zero_pad(dy), x)``
==================  ===============================================================================

Precision (:class:`Precision`): numpy has no fp16/bf16 GEMM and no int8 GEMM, so every
algorithm computes in a wider *compute* dtype (float32 for fp32/fp16/bf16, int32 for int8/int4)
on values that are exactly representable in the case's *storage* dtype. Inputs are rounded to
the storage dtype once (in ``prepare``); the operands an algorithm multiplies after a transform
(Winograd's transformed tiles and weights, FFT spectra) are rounded to the storage dtype again,
as a tensor-core implementation that feeds its GEMM in that dtype would; products and sums run
in float32 (int32: exact, wrapping modulo 2^32 like a hardware accumulator), and the result is
rounded to the storage dtype (a bias, rounded to the dtype, is added in float32 before that).
fp32 is float32 throughout. So the error a row reports is the error of that algorithm at that
precision, not of numpy's float64; the *time* of an fp16/bf16/int8/int4 case, on the other
hand, is that of float32/int32 arithmetic in numpy, not of a 16- or 8-bit GEMM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec, check_direction

#: numpy.pad mode of each ConvSpec padding_mode.
NUMPY_PAD_MODES: dict[str, str] = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}
FLOAT_DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16")
INT_DTYPES: tuple[str, ...] = ("int8", "int4")


# ---- precision ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    """How one case dtype is held and computed.

    ``storage``: the dtype values are rounded to (inputs, transformed GEMM operands, the
    result). ``compute``: the dtype of products and sums. ``int_range``: inclusive range of an
    integer dtype (int4 is held in int8 storage: numpy has no 4-bit integer arithmetic).
    """

    name: str
    storage: np.dtype
    compute: np.dtype
    int_range: tuple[int, int] | None = None

    @property
    def is_int(self) -> bool:
        return self.int_range is not None

    def operand(self, a: np.ndarray) -> np.ndarray:
        """``a`` (compute dtype) rounded to the storage dtype and widened back (a GEMM operand
        held in the storage dtype). Identity when both dtypes are the same."""
        if self.storage == self.compute:
            return a
        return a.astype(self.storage).astype(self.compute)

    def complex_operand(self, a: np.ndarray) -> np.ndarray:
        """A complex spectrum whose real and imaginary parts are rounded to the storage dtype."""
        if self.storage == self.compute:
            return a
        out = np.empty_like(a)
        out.real = self.operand(a.real)
        out.imag = self.operand(a.imag)
        return out

    def load(self, a: np.ndarray, what: str) -> np.ndarray:
        """A float64 input array as compute-dtype values representable in the storage dtype.

        Floats are rounded to nearest. Integer dtypes take integers within ``int_range`` only;
        anything else raises a one-line ConvbenchError naming the tensor.
        """
        a = np.asarray(a, dtype=np.float64)
        if self.int_range is None:
            return np.ascontiguousarray(a.astype(self.storage).astype(self.compute))
        low, high = self.int_range
        if a.size:
            if not np.array_equal(a, np.round(a)):
                raise ConvbenchError(f"inputs.{what}: {self.name} needs integer values, got non-integers")
            lo, hi = float(a.min()), float(a.max())
            if lo < low or hi > high:
                raise ConvbenchError(
                    f"inputs.{what}: {self.name} holds {low}..{high}, got values in {lo:g}..{hi:g}"
                )
        return np.ascontiguousarray(a.astype(self.compute))

    def load_bias(self, b: np.ndarray) -> np.ndarray:
        """The bias: rounded to the storage dtype for floats; int32 (exact integers) for ints."""
        b = np.asarray(b, dtype=np.float64)
        if self.int_range is None:
            return b.astype(self.storage).astype(self.compute)
        if b.size and not np.array_equal(b, np.round(b)):
            raise ConvbenchError(f"inputs.b: {self.name} needs an integer bias (int32), got non-integers")
        return b.astype(np.int32)

    def result(self, a: np.ndarray) -> np.ndarray:
        """The result in the dtype the algorithm delivers it: floats rounded to the storage
        dtype; integer dtypes keep their int32 accumulator (int8 x int8 -> int32)."""
        if self.int_range is not None:
            return np.array(a, dtype=np.int32)
        return np.asarray(a).astype(self.storage)


def precision(dtype: str) -> Precision:
    """The :class:`Precision` of a case dtype (fp32, fp16, bf16, int8, int4)."""
    if dtype == "fp32":
        return Precision("fp32", np.dtype(np.float32), np.dtype(np.float32))
    if dtype == "fp16":
        return Precision("fp16", np.dtype(np.float16), np.dtype(np.float32))
    if dtype == "bf16":
        import ml_dtypes

        return Precision("bf16", np.dtype(ml_dtypes.bfloat16), np.dtype(np.float32))
    if dtype == "int8":
        return Precision("int8", np.dtype(np.int8), np.dtype(np.int32), (-128, 127))
    if dtype == "int4":
        return Precision("int4", np.dtype(np.int8), np.dtype(np.int32), (-8, 7))
    raise ConvbenchError(f"dtype: the reference CPU kernels run fp32, fp16, bf16, int8, int4; got {dtype!r}")


# ---- geometry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    """Stride, dilation (one per spatial dim) and groups of a primitive."""

    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int


def windows(xp: np.ndarray, out: Sequence[int], kernel: Sequence[int], geo: Geometry) -> np.ndarray:
    """A read-only strided view (N, C, *out, *kernel) of ``xp`` (N, C, *P):
    ``view[n, c, o, t] = xp[n, c, o*stride + t*dilation]``. No copy."""
    st = xp.strides
    sp = st[2:]
    shape = (*xp.shape[:2], *out, *kernel)
    strides = (
        *st[:2],
        *(s * step for s, step in zip(sp, geo.stride)),
        *(s * d for s, d in zip(sp, geo.dilation)),
    )
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def flip_transpose(w: np.ndarray, groups: int) -> np.ndarray:
    """Weight of the conv that computes ``backward_data`` at stride 1: (K, C/g, *k) ->
    (C, K/g, *k) with every spatial axis reversed, per group."""
    k_all, cg = w.shape[:2]
    kernel = w.shape[2:]
    kg = k_all // groups
    wg = w.reshape(groups, kg, cg, *kernel)
    flipped = wg[(slice(None),) * 3 + (slice(None, None, -1),) * len(kernel)]
    return np.ascontiguousarray(flipped.transpose(0, 2, 1, *range(3, 3 + len(kernel)))).reshape(
        groups * cg, kg, *kernel
    )


# ---- work buffers -------------------------------------------------------------------------------
class Scratch:
    """Named work buffers of one kernel: allocated on first use (in ``prepare``'s first call),
    reused by every later ``run`` so the timed op does not pay for page faults. Owned by one
    kernel; never shared."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: Sequence[int], dtype) -> np.ndarray:
        """A buffer of that shape and dtype; its contents are whatever the last use left."""
        shape = tuple(int(v) for v in shape)
        dtype = np.dtype(dtype)
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype)
            self._buffers[name] = buf
        return buf

    def zeros(self, name: str, shape: Sequence[int], dtype) -> np.ndarray:
        """A buffer of that shape and dtype, cleared."""
        buf = self.empty(name, shape, dtype)
        buf.fill(0)
        return buf

    def padded(self, name: str, x: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
        """``x`` (N, C, *S) zero-padded by ``pads`` (before, after) per spatial dim, in a reused
        buffer whose border stays zero (only the interior is written)."""
        if not any(b or a for b, a in pads):
            return x
        shape = (*x.shape[:2], *(s + b + a for s, (b, a) in zip(x.shape[2:], pads)))
        buf = self.empty(f"{name}:pad", shape, x.dtype)  # zeros when new; only the interior is written
        interior = (slice(None), slice(None)) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[2:], pads))
        buf[interior] = x
        return buf

    @property
    def nbytes(self) -> int:
        """Bytes held by every buffer."""
        return sum(b.nbytes for b in self._buffers.values())


def pad_or_crop(x: np.ndarray, pads: Sequence[tuple[int, int]], scratch: Scratch, name: str) -> np.ndarray:
    """Zero-pad (positive amounts) or crop (negative amounts) every spatial dim of ``x``."""
    crop = (slice(None), slice(None)) + tuple(
        slice(max(0, -b), s - max(0, -a)) for s, (b, a) in zip(x.shape[2:], pads)
    )
    x = x[crop]
    return scratch.padded(name, x, [(max(0, b), max(0, a)) for b, a in pads])


def pad_input(x: np.ndarray, padding, mode: str, scratch: Scratch, name: str) -> np.ndarray:
    """``x`` padded as the spec says (zeros in a reused buffer; other modes via numpy.pad)."""
    if mode == "zeros":
        return scratch.padded(name, x, padding)
    if not any(b or a for b, a in padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), *padding), mode=NUMPY_PAD_MODES[mode])


def fold_padding(dxp: np.ndarray, padding, mode: str, size: Sequence[int]) -> np.ndarray:
    """Adjoint of :func:`pad_input`: the gradient of the padded input (N, C, *P) folded onto
    x (N, C, *size). Per padded dim one small matrix product with the 0/1 gather matrix of that
    dim's padding (rows: padded positions; columns: the x element each one copies)."""
    for axis, ((before, after), i) in enumerate(zip(padding, size), start=2):
        if not before and not after:
            continue
        if mode == "zeros":
            dxp = np.take(dxp, np.arange(before, before + i), axis=axis)
            continue
        source = np.pad(np.arange(i), (before, after), mode=NUMPY_PAD_MODES[mode])
        gather = np.zeros((before + i + after, i), dtype=dxp.dtype)
        gather[np.arange(before + i + after), source] = 1
        moved = np.moveaxis(dxp, axis, -1)
        dxp = np.moveaxis(np.matmul(moved, gather), -1, axis)
    return np.ascontiguousarray(dxp)


# ---- algorithms and lowering ------------------------------------------------------------------
class Primitives(Protocol):
    """An algorithm: the three primitives over valid tensors (see the module docstring)."""

    name: str
    error_spread: str  # "element", "tile" or "output": how far one rounding error spreads

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        """None when this algorithm computes primitive ``op``; else why not (one line)."""

    def forward(self, xp, w, geo: Geometry, out, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        """(N, K, *out): the valid conv of ``xp`` with ``w``. ``tag`` names its work buffers."""

    def backward_data(self, dy, w, geo: Geometry, size, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        """(N, C, *size): the adjoint of ``forward`` with respect to its input."""

    def backward_weight(self, xp, dy, geo: Geometry, kernel, prec: Precision, scratch: Scratch, tag: str) -> np.ndarray:
        """(K, C/groups, *kernel): the gradient of ``forward`` with respect to its weight."""


@dataclass(frozen=True)
class Lowered:
    """A case as one primitive: ``op`` is forward, backward_data or backward_weight, with the
    geometry and kernel size it runs with."""

    op: str
    geometry: Geometry
    kernel: tuple[int, ...]


def lower(spec: ConvSpec, direction: str) -> Lowered:
    """The primitive a (spec, direction) runs as (see the module docstring's table)."""
    check_direction(direction)
    if spec.transposed:
        op = {"fwd": "backward_data", "dgrad": "forward", "wgrad": "backward_weight"}[direction]
    else:
        op = {"fwd": "forward", "dgrad": "backward_data", "wgrad": "backward_weight"}[direction]
    return Lowered(op, Geometry(spec.stride, spec.dilation, spec.groups), spec.kernel_size)


@dataclass(frozen=True)
class Operands:
    """A case's tensors in the compute dtype (values representable in the storage dtype)."""

    x: np.ndarray | None
    w: np.ndarray | None
    b: np.ndarray | None
    dy: np.ndarray | None


def load_operands(spec: ConvSpec, direction: str, inputs, prec: Precision) -> Operands:
    """Convert the float64 Inputs a direction reads (fwd: x, w, b; dgrad: dy, w; wgrad: x, dy)."""
    check_direction(direction)
    need_x = direction in ("fwd", "wgrad")
    need_dy = direction in ("dgrad", "wgrad")
    w = prec.load(inputs.w, "w") if direction != "wgrad" else None
    b = None
    if direction == "fwd" and spec.bias:
        if inputs.b is None:
            raise ConvbenchError("inputs.b: the spec has a bias but the inputs have none")
        b = prec.load_bias(inputs.b)
    return Operands(
        x=prec.load(inputs.x, "x") if need_x else None,
        w=w,
        b=b,
        dy=prec.load(inputs.dy, "dy") if need_dy else None,
    )


def execute(algo: Primitives, spec: ConvSpec, direction: str, t: Operands, prec: Precision, scratch: Scratch) -> np.ndarray:
    """Run one case through ``algo``'s primitives; the result in the compute dtype, canonical
    layout (fwd: output_shape; dgrad: input_shape; wgrad: weight_shape)."""
    geo = Geometry(spec.stride, spec.dilation, spec.groups)
    kernel = spec.kernel_size
    if not spec.transposed:
        if direction == "fwd":
            xp = pad_input(t.x, spec.padding, spec.padding_mode, scratch, "x")
            return _add_bias(algo.forward(xp, t.w, geo, spec.output_size, prec, scratch, "fwd"), t.b)
        if direction == "wgrad":
            xp = pad_input(t.x, spec.padding, spec.padding_mode, scratch, "x")
            return algo.backward_weight(xp, t.dy, geo, kernel, prec, scratch, "wgrad")
        size = tuple(i + b + a for i, (b, a) in zip(spec.input_size, spec.padding))
        dxp = algo.backward_data(t.dy, t.w, geo, size, prec, scratch, "dgrad")
        return fold_padding(dxp, spec.padding, spec.padding_mode, spec.input_size)
    if direction == "fwd":
        full = tuple(
            (i - 1) * s + d * (k - 1) + 1 + op
            for i, s, d, k, op in zip(spec.input_size, spec.stride, spec.dilation, kernel, spec.output_padding)
        )
        y_full = algo.backward_data(t.x, t.w, geo, full, prec, scratch, "tfwd")
        crop = (slice(None), slice(None)) + tuple(
            slice(b, b + o) for (b, _), o in zip(spec.padding, spec.output_size)
        )
        return _add_bias(np.ascontiguousarray(y_full[crop]), t.b)
    # The conv T (in = out_channels, out = in_channels) sees dy zero-padded by the transposed
    # conv's padding and cropped by its output padding: exactly the extent its I outputs read.
    pads = [(b, a - op) for (b, a), op in zip(spec.padding, spec.output_padding)]
    dyp = pad_or_crop(t.dy, pads, scratch, "dy")
    if direction == "dgrad":
        return algo.forward(dyp, t.w, geo, spec.input_size, prec, scratch, "tdgrad")
    return algo.backward_weight(dyp, t.x, geo, kernel, prec, scratch, "twgrad")


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * (y.ndim - 2)).astype(y.dtype)
    return y


# ---- threads ------------------------------------------------------------------------------------
class BlasThreads:
    """Runs a block with numpy's BLAS limited to ``threads`` (0: leave the library's default).

    The BLAS libraries' controllers are looked up once (in ``prepare``, through threadpoolctl);
    entering sets their thread count and leaving restores it, a few microseconds each."""

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        self._libs: list = []
        self._saved: list[int] = []
        if self.threads > 0:
            from threadpoolctl import ThreadpoolController

            self._libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)

    def __enter__(self) -> "BlasThreads":
        if self._libs:
            self._saved = [lib.get_num_threads() for lib in self._libs]
            for lib in self._libs:
                lib.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc) -> None:
        for lib, n in zip(self._libs, self._saved):
            lib.set_num_threads(n)


def cpu_workers(threads: int) -> int:
    """Worker threads for multi-threaded numpy-side work (scipy.fft): ``threads`` when set,
    else the CPUs this process may run on."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
