"""ConvSpec: one convolution problem, and every figure that follows from its shape.

All formulas here are pure. Units are stated in each docstring: counts are plain numbers,
``bytes`` are bytes, ``flops`` are floating-point (or integer) operations, where one
multiply-accumulate counts as two operations.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields, replace
from typing import Iterable, Sequence

from convbench.errors import ConvbenchError

#: Storage width in bits of one element of each dtype convbench knows.
#: ``tf32`` is stored as fp32 (it only changes the multiplier's precision).
DTYPE_BITS: dict[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
}
#: The dtypes a benchmark can ask for, in the order they are listed.
DTYPES: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8", "int4")
#: Directions: ``fwd`` (y = conv(x, w)), ``dgrad`` (dx from dy), ``wgrad`` (dw from x and dy).
DIRECTIONS: tuple[str, ...] = ("fwd", "dgrad", "wgrad")
PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular")
KINDS: tuple[str, ...] = ("conv", "linear", "deformable")
_DIM_NAMES = {1: ("w",), 2: ("h", "w"), 3: ("d", "h", "w")}


def check_dtype(dtype: str) -> str:
    """Return ``dtype`` if known, else raise a one-line :class:`ConvbenchError`."""
    if dtype not in DTYPE_BITS:
        raise ConvbenchError(f"dtype: unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
    return dtype


def check_direction(direction: str) -> str:
    """Return ``direction`` if known, else raise a one-line :class:`ConvbenchError`."""
    if direction not in DIRECTIONS:
        raise ConvbenchError(
            f"direction: unknown direction {direction!r} (known: {', '.join(DIRECTIONS)})"
        )
    return direction


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _per_dim(name: str, value, dims: int) -> tuple[int, ...]:
    """Broadcast an int to ``dims`` entries, or check a sequence has ``dims`` ints."""
    if _is_int(value):
        return (int(value),) * dims
    try:
        t = tuple(value)
    except TypeError:
        raise ConvbenchError(f"{name}: expected an int or {dims} ints, got {value!r}") from None
    if len(t) == 1 and dims > 1:
        t = t * dims
    if len(t) != dims or not all(_is_int(v) for v in t):
        raise ConvbenchError(f"{name}: expected an int or {dims} ints, got {value!r}")
    return tuple(int(v) for v in t)


@dataclass(frozen=True)
class ConvSpec:
    """One convolution layer problem (N, C, spatial...), built with keyword arguments.

    Per-dimension fields accept an int (broadcast) or one value per spatial dimension.
    ``padding`` accepts an int, a tuple of ints (symmetric), a tuple of (before, after) pairs,
    or ``"valid"``, ``"same"`` (TensorFlow's rule: out = ceil(in / stride), the odd pad at
    the end) and ``"causal"`` (1D; (kernel - 1) * dilation before, none after). The stored
    padding is always explicit (before, after) pairs, so a ``same`` spec equals the explicit
    one it resolves to. ``name`` (the layer path) is not part of equality.
    """

    in_channels: int
    out_channels: int
    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...] = 1
    stride: tuple[int, ...] = 1
    padding: tuple[tuple[int, int], ...] = 0
    dilation: tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True
    batch: int = 1
    padding_mode: str = "zeros"
    transposed: bool = False
    output_padding: tuple[int, ...] = 0
    kind: str = "conv"
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        for f in ("in_channels", "out_channels", "groups", "batch"):
            v = getattr(self, f)
            if not _is_int(v) or v < 1:
                raise ConvbenchError(f"{f}: must be a positive integer, got {v!r}")
            set_(f, int(v))
        size = self.input_size
        if _is_int(size):
            size = (size,)
        try:
            size = tuple(size)
        except TypeError:
            raise ConvbenchError(f"input_size: expected 1 to 3 ints, got {self.input_size!r}") from None
        if not 1 <= len(size) <= 3 or not all(_is_int(v) for v in size):
            raise ConvbenchError(f"input_size: expected 1 to 3 ints, got {self.input_size!r}")
        if any(v < 1 for v in size):
            raise ConvbenchError(f"input_size: sizes must be positive, got {size}")
        size = tuple(int(v) for v in size)
        set_("input_size", size)
        dims = len(size)
        for f in ("kernel_size", "stride", "dilation", "output_padding"):
            set_(f, _per_dim(f, getattr(self, f), dims))
        for f, low in (("kernel_size", 1), ("stride", 1), ("dilation", 1)):
            if any(v < low for v in getattr(self, f)):
                raise ConvbenchError(f"{f}: every value must be >= {low}, got {getattr(self, f)}")
        if any(v < 0 for v in self.output_padding):
            raise ConvbenchError(f"output_padding: must be >= 0, got {self.output_padding}")
        if not isinstance(self.bias, bool):
            raise ConvbenchError(f"bias: must be True or False, got {self.bias!r}")
        if not isinstance(self.transposed, bool):
            raise ConvbenchError(f"transposed: must be True or False, got {self.transposed!r}")
        if self.padding_mode not in PADDING_MODES:
            raise ConvbenchError(
                f"padding_mode: unknown mode {self.padding_mode!r} (known: {', '.join(PADDING_MODES)})"
            )
        if self.kind not in KINDS:
            raise ConvbenchError(f"kind: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")
        if not isinstance(self.name, str):
            raise ConvbenchError(f"name: must be a string, got {self.name!r}")
        set_("padding", self._resolve_padding(self.padding))
        if any(b < 0 or a < 0 for b, a in self.padding):
            raise ConvbenchError(f"padding: must be >= 0, got {self.padding}")
        g = self.groups
        if self.in_channels % g or self.out_channels % g:
            raise ConvbenchError(
                f"groups: in_channels={self.in_channels} and out_channels={self.out_channels} "
                f"must both be divisible by groups={g}"
            )
        if self.transposed:
            for op, s, d in zip(self.output_padding, self.stride, self.dilation):
                if op >= max(s, d):
                    raise ConvbenchError(
                        f"output_padding: {self.output_padding} must be smaller than "
                        f"max(stride, dilation) per dim (stride={self.stride}, dilation={self.dilation})"
                    )
            if self.padding_mode != "zeros":
                raise ConvbenchError(
                    f"padding_mode: a transposed conv supports only 'zeros', got {self.padding_mode!r}"
                )
        elif any(self.output_padding):
            raise ConvbenchError(
                f"output_padding: only a transposed conv has output padding, got {self.output_padding}"
            )
        if not self.transposed:
            for n, (i, (b, a), k, d) in enumerate(zip(size, self.padding, self.kernel_size, self.dilation)):
                if self.padding_mode == "reflect" and (b >= i or a >= i):
                    raise ConvbenchError(
                        f"padding: reflect padding {(b, a)} must be smaller than input size {i} in dim {n}"
                    )
                if self.padding_mode == "circular" and (b > i or a > i):
                    raise ConvbenchError(
                        f"padding: circular padding {(b, a)} must not exceed input size {i} in dim {n}"
                    )
        out = self.output_size
        if any(o < 1 for o in out):
            raise ConvbenchError(
                f"output_size: {out} has a size below 1 (input_size={size}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation})"
            )

    def _resolve_padding(self, padding) -> tuple[tuple[int, int], ...]:
        dims = len(self.input_size)
        k_eff = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation)]
        if isinstance(padding, str):
            mode = padding.lower()
            if mode == "valid":
                return ((0, 0),) * dims
            if mode == "same":
                if self.transposed:
                    raise ConvbenchError("padding: 'same' is not defined for a transposed conv")
                pads = []
                for i, s, k in zip(self.input_size, self.stride, k_eff):
                    out = -(-i // s)
                    total = max((out - 1) * s + k - i, 0)
                    pads.append((total // 2, total - total // 2))
                return tuple(pads)
            if mode == "causal":
                if dims != 1:
                    raise ConvbenchError(f"padding: 'causal' is for 1D convs, got {dims}D")
                if self.transposed:
                    raise ConvbenchError("padding: 'causal' is not defined for a transposed conv")
                return ((k_eff[0] - 1, 0),)
            raise ConvbenchError(
                f"padding: unknown mode {padding!r} (use an int, pairs, 'valid', 'same' or 'causal')"
            )
        if _is_int(padding):
            return ((int(padding), int(padding)),) * dims
        try:
            items = tuple(padding)
        except TypeError:
            raise ConvbenchError(f"padding: cannot read {padding!r}") from None
        if len(items) == 1 and dims > 1:
            items = items * dims
        if dims == 1 and len(items) == 2 and all(_is_int(p) for p in items):
            items = (tuple(items),)  # a 1D (before, after) pair
        if len(items) != dims:
            raise ConvbenchError(f"padding: expected {dims} entries, got {padding!r}")
        pairs = []
        for p in items:
            if _is_int(p):
                pairs.append((int(p), int(p)))
            else:
                try:
                    b, a = p
                except (TypeError, ValueError):
                    raise ConvbenchError(f"padding: cannot read {padding!r}") from None
                if not (_is_int(b) and _is_int(a)):
                    raise ConvbenchError(f"padding: cannot read {padding!r}")
                pairs.append((int(b), int(a)))
        return tuple(pairs)

    # ---- shape -------------------------------------------------------------------------
    @property
    def dims(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.input_size)

    @property
    def symmetric_padding(self) -> bool:
        """True when every dim pads the same amount before and after."""
        return all(b == a for b, a in self.padding)

    @property
    def output_size(self) -> tuple[int, ...]:
        """Spatial output size (elements per dim).

        Conv: ``floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1``.
        Transposed: ``(in-1)*stride - pad_before - pad_after + dilation*(k-1) + output_padding + 1``.
        """
        out = []
        for i, (b, a), k, s, d, op in zip(
            self.input_size, self.padding, self.kernel_size, self.stride, self.dilation, self.output_padding
        ):
            if self.transposed:
                out.append((i - 1) * s - b - a + d * (k - 1) + op + 1)
            else:
                out.append((i + b + a - d * (k - 1) - 1) // s + 1)
        return tuple(out)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Input tensor shape, channels first: (batch, in_channels, *input_size)."""
        return (self.batch, self.in_channels, *self.input_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Output tensor shape, channels first: (batch, out_channels, *output_size)."""
        return (self.batch, self.out_channels, *self.output_size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Weight tensor shape in torch's convention.

        Conv: (out_channels, in_channels/groups, *kernel); transposed: (in_channels,
        out_channels/groups, *kernel).
        """
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    @property
    def reduction_length(self) -> int:
        """Products summed into one forward output element: in_channels/groups * prod(kernel).

        For a transposed conv this is the count of the equivalent direct conv (an upper bound
        on the terms that actually meet one output element).
        """
        return self.in_channels // self.groups * math.prod(self.kernel_size)

    @property
    def is_depthwise(self) -> bool:
        """True when every group holds one input channel (groups == in_channels > 1)."""
        return self.groups == self.in_channels and self.groups > 1

    # ---- counts ------------------------------------------------------------------------
    @property
    def weight_count(self) -> int:
        """Number of weight elements (no bias)."""
        return self.in_channels * self.out_channels // self.groups * math.prod(self.kernel_size)

    @property
    def params(self) -> int:
        """Parameter count: weights plus bias (out_channels) when ``bias``."""
        return self.weight_count + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the forward pass for the whole batch.

        Conv: ``batch * prod(output_size) * out_channels * in_channels/groups * prod(kernel)``.
        Transposed (convbench's convention, every input element meets every kernel tap):
        ``batch * prod(input_size) * in_channels * out_channels/groups * prod(kernel)``.
        Bias additions are not counted.
        """
        if self.transposed:
            return (
                self.batch * math.prod(self.input_size) * self.in_channels
                * (self.out_channels // self.groups) * math.prod(self.kernel_size)
            )
        return (
            self.batch * math.prod(self.output_size) * self.out_channels
            * (self.in_channels // self.groups) * math.prod(self.kernel_size)
        )

    def flops(self, direction: str = "fwd") -> int:
        """Operations of one launch in ``direction`` (FLOP; 2 per MAC). fwd, dgrad and wgrad
        all perform the same MACs as the forward pass."""
        check_direction(direction)
        return 2 * self.macs

    def tensor_elements(self) -> dict[str, int]:
        """Element counts of the tensors one launch touches: input, weights, output, bias."""
        return {
            "input": math.prod(self.input_shape),
            "weights": self.weight_count,
            "output": math.prod(self.output_shape),
            "bias": self.out_channels if self.bias else 0,
        }

    def bytes(self, dtype: str = "fp32") -> int:
        """Minimal memory traffic of one launch in bytes: input + weights + output (+ bias),
        each read or written once at the dtype's width. int8/int4 bias is counted at int32;
        int4 tensors round up to whole bytes per tensor."""
        bits = DTYPE_BITS[check_dtype(dtype)]
        n = self.tensor_elements()
        total = sum(-(-n[t] * bits // 8) for t in ("input", "weights", "output"))
        bias_bits = 32 if dtype in ("int8", "int4") else bits
        return total + -(-n["bias"] * bias_bits // 8)

    def intensity(self, dtype: str = "fp32", direction: str = "fwd") -> float:
        """Arithmetic intensity in FLOP/byte: ``flops(direction) / bytes(dtype)``."""
        return self.flops(direction) / self.bytes(dtype)

    # ---- helpers -----------------------------------------------------------------------
    def with_(self, **changes) -> "ConvSpec":
        """A copy with fields changed (validated again)."""
        return replace(self, **changes)

    def shape_key(self) -> tuple:
        """The fields that define the problem (everything but ``name``), hashable."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "name")

    def __str__(self) -> str:  # the descriptor is the canonical text form
        from convbench.workloads.descriptor import format_spec

        return format_spec(self)


def receptive_field(layers: Sequence[ConvSpec]) -> int | tuple[int, ...]:
    """Receptive field (input elements per dim) of a stack of convs applied in order.

    Recurrence: ``r_l = r_(l-1) + (k_l - 1) * d_l * prod(strides before l)``, r_0 = 1.
    Returns an int for 1D stacks, else a tuple per dim.
    """
    if not layers:
        raise ConvbenchError("receptive_field: needs at least one layer")
    dims = layers[0].dims
    r = [1] * dims
    jump = [1] * dims
    for spec in layers:
        if spec.dims != dims:
            raise ConvbenchError(f"receptive_field: layers mix {dims}D and {spec.dims}D")
        for i in range(dims):
            r[i] += (spec.kernel_size[i] - 1) * spec.dilation[i] * jump[i]
            jump[i] *= spec.stride[i]
    return r[0] if dims == 1 else tuple(r)


def effective_stride(layers: Iterable[ConvSpec]) -> int | tuple[int, ...]:
    """Product of the strides of a stack (input elements per output step), per dim."""
    layers = list(layers)
    if not layers:
        raise ConvbenchError("effective_stride: needs at least one layer")
    dims = layers[0].dims
    jump = [1] * dims
    for spec in layers:
        for i in range(dims):
            jump[i] *= spec.stride[i]
    return jump[0] if dims == 1 else tuple(jump)


def dim_names(dims: int) -> tuple[str, ...]:
    """Names of the spatial dims: ('w',), ('h', 'w') or ('d', 'h', 'w')."""
    return _DIM_NAMES[dims]
