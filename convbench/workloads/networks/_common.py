"""Shared helpers for network builders: a layer-list builder that tracks shapes and names.

A builder function creates one :class:`LayerBuilder`, walks the network's forward pass in
execution order and calls :meth:`LayerBuilder.network` at the end::

    from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

    def tiny(batch: int = 1, resolution=None) -> Network:
        size = resolve_resolution(resolution, native=(224, 224), network="tiny")
        b = LayerBuilder(batch=batch, channels=3, size=size)
        b.conv("features.0", 64, kernel=3, stride=2, padding=1, bias=False)
        b.batch_norm()                               # counts 2 * 64 affine norm params
        b.pool(kernel=3, stride=2, padding=1)        # max or avg: only the shape matters
        skip = b.fork()                              # a branch starting from the same tensor
        b.conv("block.conv", 64, kernel=3, padding=1)
        skip.conv("block.downsample", 64, kernel=1)  # emitted after block.conv, as executed
        b.concat(skip)                               # channels add up; sizes must agree
        b.adaptive_pool(1)
        b.flatten()                                  # channels *= positions; size -> all ones
        b.linear("fc", 1000)                         # kind "linear", a 1x1 conv over positions
        return b.network("tiny", source="...", description="...")

API (sizes are spatial element counts, one entry per spatial dim; 1-3 dims):

- ``resolve_resolution(resolution, native, network)`` -> tuple: None gives ``native``; an int
  broadcasts to ``len(native)`` dims; a sequence must have ``len(native)`` positive ints.
  Anything else raises a one-line :class:`ConvbenchError` naming ``resolution``.
- ``pool_output_size(size, kernel, stride=None, padding=0, dilation=1, ceil_mode=False)``:
  torch's max/avg pooling output size (with its ceil-mode rule: the last window must start
  inside the input or its left padding).
- ``make_divisible(value, divisor=8, min_value=None)``: round a channel count to the nearest
  multiple of ``divisor``, never more than 10% below ``value`` (the MobileNet/EfficientNet rule).
- ``LayerBuilder(batch, channels, size, prefix="")``: mutable, local to one builder call (never
  global). State: ``channels`` and ``size`` of the current tensor; every fork shares one record
  of emitted layers (in call order) and norm parameters.

  - ``conv(name, out_channels, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True,
    padding_mode="zeros", transposed=False, output_padding=0, kind="conv")`` -> ConvSpec: emits
    a layer on the current tensor and moves the state to its output. ``padding`` takes whatever
    :class:`ConvSpec` takes (int, pairs, "same", "valid", "causal"). The layer's name is
    ``prefix + "." + name`` when the builder has a prefix.
  - ``linear(name, out_features, bias=True)`` -> ConvSpec: a fully connected layer as a 1x1
    conv of kind ``linear`` over the current positions (after ``flatten()`` that is one
    position; ConvNeXt's pointwise linears keep H x W positions).
  - ``pool(kernel, stride=None, padding=0, dilation=1, ceil_mode=False)``,
    ``adaptive_pool(output_size)`` (int broadcasts), ``resize(size)`` (upsampling or any
    layer without weights that sets the size), ``upsample(scale)`` (integer factor per dim):
    change the size only.
  - ``flatten()``: channels *= prod(size), size becomes all ones (keeps the dim count).
  - ``set(channels=None, size=None)``: overwrite the state (e.g. after a reshape).
  - ``fork(prefix=None)`` -> LayerBuilder: a branch from the current tensor sharing the record;
    ``prefix`` (joined to this builder's) defaults to this builder's prefix.
  - ``concat(*branches)``: channels become the sum of this builder's and the branches';
    their sizes must agree (else ConvbenchError naming the sizes).
  - ``batch_norm(channels=None)`` / ``layer_norm(channels=None)``: count 2 * channels affine
    norm params (default: current channels); ``add_norm_params(count)`` for anything else.
  - ``layers`` (tuple of ConvSpec so far), ``norm_params`` (int).
  - ``network(name, source="", description="", resolution=None, aliases=())`` -> Network; the
    resolution defaults to the size the builder started with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from convbench.errors import ConvbenchError
from convbench.workloads.networks import Network
from convbench.workloads.spec import ConvSpec

__all__ = [
    "LayerBuilder",
    "make_divisible",
    "pool_output_size",
    "resolve_resolution",
]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def resolve_resolution(resolution, native: Sequence[int], network: str = "") -> tuple[int, ...]:
    """The spatial input size (elements per dim) a builder should use.

    ``None`` -> ``native``; an int -> that value in every one of ``len(native)`` dims; a
    sequence -> checked to hold ``len(native)`` positive ints. Raises :class:`ConvbenchError`.
    """
    native = tuple(native)
    where = f" for {network}" if network else ""
    if resolution is None:
        return native
    if _is_int(resolution):
        if resolution < 1:
            raise ConvbenchError(f"resolution: must be positive{where}, got {resolution!r}")
        return (resolution,) * len(native)
    try:
        size = tuple(resolution)
    except TypeError:
        raise ConvbenchError(
            f"resolution: expected an int or {len(native)} ints{where}, got {resolution!r}"
        ) from None
    if len(size) != len(native) or not all(_is_int(v) for v in size):
        raise ConvbenchError(
            f"resolution: expected an int or {len(native)} ints{where}, got {resolution!r}"
        )
    if any(v < 1 for v in size):
        raise ConvbenchError(f"resolution: sizes must be positive{where}, got {size}")
    return size


def _broadcast(name: str, value, dims: int) -> tuple[int, ...]:
    if _is_int(value):
        return (value,) * dims
    t = tuple(value)
    if len(t) != dims or not all(_is_int(v) for v in t):
        raise ConvbenchError(f"{name}: expected an int or {dims} ints, got {value!r}")
    return t


def pool_output_size(
    size: Sequence[int],
    kernel,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """Output size (elements per dim) of torch's MaxPool/AvgPool.

    ``out = floor_or_ceil((in + 2*pad - dilation*(k-1) - 1) / stride) + 1``; with ``ceil_mode``
    the last window is dropped when it would start beyond the input and its left padding
    (``(out-1)*stride >= in + pad``). ``stride`` defaults to ``kernel``. Raises
    :class:`ConvbenchError` when an output size would be below 1.
    """
    size = tuple(size)
    dims = len(size)
    k = _broadcast("kernel", kernel, dims)
    s = _broadcast("stride", k if stride is None else stride, dims)
    p = _broadcast("padding", padding, dims)
    d = _broadcast("dilation", dilation, dims)
    out = []
    for i, kk, ss, pp, dd in zip(size, k, s, p, d):
        span = i + 2 * pp - dd * (kk - 1) - 1
        o = (-(-span // ss) if ceil_mode else span // ss) + 1
        if ceil_mode and (o - 1) * ss >= i + pp:
            o -= 1
        out.append(o)
    if any(o < 1 for o in out):
        raise ConvbenchError(
            f"input_size: {size} is too small for a pool of kernel {k}, stride {s}, padding {p} "
            f"(output {tuple(out)})"
        )
    return tuple(out)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (ties round up), at least
    ``min_value`` (default ``divisor``), and never more than 10% below ``value``."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass
class _Record:
    """What every fork of one builder appends to: layers in call order, norm params."""

    layers: list = field(default_factory=list)
    norm_params: int = 0


class LayerBuilder:
    """Walks a network's forward pass, emitting :class:`ConvSpec` layers in execution order.

    Mutable and local to one builder call. See the module docstring for the full API.
    """

    def __init__(
        self,
        batch: int,
        channels: int,
        size: Sequence[int],
        prefix: str = "",
        _record: _Record | None = None,
        _start: tuple[int, ...] | None = None,
    ) -> None:
        if not _is_int(batch) or batch < 1:
            raise ConvbenchError(f"batch: must be a positive integer, got {batch!r}")
        self.batch = batch
        self.channels = channels
        self.size = tuple(size)
        self.prefix = prefix
        self._record = _record if _record is not None else _Record()
        self._start = self.size if _start is None else _start

    # ---- state ---------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[ConvSpec, ...]:
        """Every layer emitted so far by this builder and its forks, in call order."""
        return tuple(self._record.layers)

    @property
    def norm_params(self) -> int:
        """Normalisation parameters counted so far (affine weights and biases)."""
        return self._record.norm_params

    def _name(self, name: str) -> str:
        if self.prefix and name:
            return f"{self.prefix}.{name}"
        return self.prefix or name

    def set(self, channels: int | None = None, size: Sequence[int] | None = None) -> None:
        """Overwrite the current channel count and/or spatial size."""
        if channels is not None:
            self.channels = channels
        if size is not None:
            self.size = tuple(size)

    def fork(self, prefix: str | None = None) -> "LayerBuilder":
        """A branch from the current tensor that appends to the same record.

        ``prefix`` is joined to this builder's prefix; None keeps this builder's prefix.
        """
        new_prefix = self.prefix if prefix is None else self._name(prefix)
        return LayerBuilder(
            self.batch, self.channels, self.size, new_prefix, _record=self._record, _start=self._start
        )

    def concat(self, *branches: "LayerBuilder") -> None:
        """Concatenate channels of this builder's tensor and the branches' (sizes must agree)."""
        for br in branches:
            if br.size != self.size:
                raise ConvbenchError(
                    f"input_size: cannot concatenate spatial sizes {self.size} and {br.size}"
                )
        self.channels += sum(br.channels for br in branches)

    # ---- layers with weights -------------------------------------------------------------
    def conv(
        self,
        name: str,
        out_channels: int,
        kernel,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        transposed: bool = False,
        output_padding=0,
        kind: str = "conv",
    ) -> ConvSpec:
        """Emit a conv on the current tensor; the state moves to its output. Returns the spec."""
        spec = ConvSpec(
            in_channels=self.channels,
            out_channels=out_channels,
            input_size=self.size,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            batch=self.batch,
            padding_mode=padding_mode,
            transposed=transposed,
            output_padding=output_padding,
            kind=kind,
            name=self._name(name),
        )
        self._record.layers.append(spec)
        self.channels = out_channels
        self.size = spec.output_size
        return spec

    def linear(self, name: str, out_features: int, bias: bool = True) -> ConvSpec:
        """Emit a fully connected layer: a 1x1 conv of kind ``linear`` over the current positions."""
        return self.conv(name, out_features, kernel=1, bias=bias, kind="linear")

    # ---- layers without weights ----------------------------------------------------------
    def pool(self, kernel, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> None:
        """Apply a max/avg pool to the size (torch's formula, see :func:`pool_output_size`)."""
        self.size = pool_output_size(self.size, kernel, stride, padding, dilation, ceil_mode)

    def adaptive_pool(self, output_size) -> None:
        """Set the size to an adaptive pool's output (an int broadcasts to every dim)."""
        self.size = _broadcast("output_size", output_size, len(self.size))

    def resize(self, size: Sequence[int]) -> None:
        """Set the size (upsampling by size, interpolation, cropping)."""
        self.size = _broadcast("size", size, len(self.size))

    def upsample(self, scale) -> None:
        """Multiply the size by an integer factor per dim (an int broadcasts)."""
        s = _broadcast("scale", scale, len(self.size))
        self.size = tuple(i * f for i, f in zip(self.size, s))

    def flatten(self) -> None:
        """Flatten channels and positions into channels; the size becomes all ones."""
        self.channels *= math.prod(self.size)
        self.size = (1,) * len(self.size)

    # ---- normalisation -------------------------------------------------------------------
    def add_norm_params(self, count: int) -> None:
        """Count ``count`` normalisation parameters."""
        self._record.norm_params += count

    def batch_norm(self, channels: int | None = None) -> None:
        """Count a BatchNorm's affine params: 2 x channels (default: current channels)."""
        self.add_norm_params(2 * (self.channels if channels is None else channels))

    def layer_norm(self, channels: int | None = None) -> None:
        """Count a LayerNorm's affine params over channels: 2 x channels."""
        self.add_norm_params(2 * (self.channels if channels is None else channels))

    # ---- result --------------------------------------------------------------------------
    def network(
        self,
        name: str,
        source: str = "",
        description: str = "",
        resolution: Sequence[int] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Network:
        """The :class:`Network` of every layer emitted so far."""
        return Network(
            name=name,
            layers=self.layers,
            batch=self.batch,
            resolution=tuple(self._start if resolution is None else resolution),
            norm_params=self.norm_params,
            source=source,
            description=description,
            aliases=tuple(aliases),
        )
