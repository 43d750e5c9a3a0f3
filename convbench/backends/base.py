"""The Backend protocol: what a software stack must answer to be benchmarked.

A backend knows nothing of the plan, the timer's stopping rule or the disk. The harness hands
it one :class:`Case` at a time and the case's :class:`Inputs` (float64 arrays in the canonical
channels-first layout, holding small integers), and gets back a :class:`Kernel`: a prepared,
verified-able, timeable launch of exactly one convolution operation.

Conventions every backend follows:

* ``fwd``: y = conv(x, w) (+ bias). Result shape ``spec.output_shape``.
* ``dgrad``: dx = gradient of sum(y * dy) with respect to x. Result shape ``spec.input_shape``.
* ``wgrad``: dw = gradient of sum(y * dy) with respect to w. Result shape ``spec.weight_shape``
  (torch's weight layout: (out, in/groups, *k), transposed (in, out/groups, *k)). Bias
  gradients are not part of wgrad.
* ``Kernel.result()`` returns the result as a numpy array in that canonical channels-first
  layout, whatever layout the backend computed in, in any float or int dtype (the harness
  converts to float64).
* ``Kernel.run()`` launches the operation once (may be asynchronous), reading inputs that are
  already on the device and writing a preallocated output where the stack allows. Everything
  that is not the operation itself (transfers, layout changes, compilation, primitive creation,
  weight reorders) happens in ``prepare``.
* int8 cases: the inputs hold small integers that fit int8 (and uint8 where a stack needs
  unsigned activations: ``Inputs.x_zero_point`` says how to shift); the accumulation is int32
  and the result must be exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from convbench.workloads.spec import ConvSpec

#: Layouts a case can ask for. ``native`` means the stack's own default (NCHW for torch,
#: NHWC for XLA, ``any``/blocked for oneDNN); the row records which one actually ran.
LAYOUTS: tuple[str, ...] = ("native", "nchw", "nhwc")


@dataclass(frozen=True)
class Case:
    """One benchmark problem as a backend sees it (the plan adds identity and repeat on top).

    ``algorithm`` is the requested algorithm (``default`` for vendor stacks' own choice,
    ``autotune``, ``direct``, ``im2col``, ...). ``device`` is ``cpu`` or ``cuda:0`` and so on.
    ``threads`` is the CPU thread count the run uses (0: the stack's default).
    """

    spec: ConvSpec
    dtype: str = "fp32"
    direction: str = "fwd"
    layout: str = "native"
    device: str = "cpu"
    algorithm: str = "default"
    threads: int = 0

    @property
    def device_kind(self) -> str:
        """``cpu``, ``cuda``, ... (the part before the colon)."""
        return self.device.split(":")[0]


@dataclass(frozen=True)
class Inputs:
    """Seeded inputs of one case, float64, canonical channels-first layout.

    ``x``: (N, C, *spatial); ``w``: ``spec.weight_shape``; ``b``: (out_channels,) or None;
    ``dy``: (N, K, *output_size), the output gradient for dgrad and wgrad.
    ``x_zero_point``: for int8 stacks that take unsigned activations, x + x_zero_point fits
    uint8 (the quantized value) and the zero point makes the result equal the signed one.
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    dy: np.ndarray
    seed: int = 0
    distribution: str = "int"
    x_zero_point: int = 128


class UnsupportedCase(Exception):
    """Raised by ``Backend.prepare`` when a case cannot run for a reason that depends on the
    inputs rather than on the case alone (e.g. a quantized output range that cannot hold the
    exact result). The harness writes an ``unsupported`` row with ``str(exc)`` as the reason."""


@runtime_checkable
class Kernel(Protocol):
    """A prepared launch of one operation."""

    algorithm: str  # what actually ran, e.g. "brg_conv_fwd:avx512_core" or "cudnn"
    setup_s: float  # first-call cost in seconds: autotune, compile, primitive creation

    def run(self) -> None:
        """Launch the operation once (may return before it completes)."""

    def synchronize(self) -> None:
        """Block until every launched operation has completed."""

    def result(self) -> np.ndarray:
        """Host copy of the output (or gradient), canonical layout, for verification."""

    def timers(self) -> list[str]:
        """Timing methods this kernel allows, best first (``wall``, ``cuda-event``, ...).

        A kernel may also carry ``extra``: a dict of scalars recorded in the row's ``extra``
        JSON column (quantization parameters, TF32 flags, compiled-HLO op counts, ...).
        """


@runtime_checkable
class Backend(Protocol):
    """A software stack convbench can run a case through. One module per stack."""

    name: str

    def unavailable_reason(self) -> str | None:
        """None when usable here; else one line saying why (not installed, no library...)."""

    def versions(self) -> dict[str, str]:
        """Versions of the stack's parts (framework, library, compiler), as strings."""

    def devices(self) -> list[str]:
        """Devices this backend can run on here: ``cpu``, ``cuda:0``, ..."""

    def algorithms(self, case: Case) -> list[str]:
        """Algorithms that can run this case (``["default"]`` for vendor stacks)."""

    def unsupported_reason(self, case: Case) -> str | None:
        """None when the case can run; else one line saying why not (becomes a row)."""

    def prepare(self, case: Case, inputs: Inputs) -> Kernel:
        """Put data on the device and build/compile the operation; return the kernel."""


def kernel_extra(kernel: Kernel) -> dict[str, Any]:
    """The kernel's optional extra facts (``kernel.extra`` dict), or an empty dict."""
    extra = getattr(kernel, "extra", None)
    return dict(extra) if extra else {}
