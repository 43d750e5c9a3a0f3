"""Verification: is a backend's result the convolution, within what its dtype and algorithm allow?

Every result is compared with the float64 oracle (:mod:`convbench.harness.oracle`) per element,
benchdnn-style, against

    allowed = atol + rtol * M + u_out * S

* ``M`` is the element's *magnitude*: the sum of |terms| summed into it (``sum |x||w|`` for fwd,
  with ``|b|``; ``sum |dy||w|`` for dgrad; ``sum |dy||x|`` for wgrad), from
  :func:`convbench.harness.oracle.magnitude`. With ``spread="tile"`` or ``"output"`` (Winograd,
  FFT: their rounding happens in a transformed domain and lands anywhere in the tile or plane)
  the largest ``M`` of the tile or of the whole result stands in.
* ``u_out * S`` is the final rounding to the storage dtype (:data:`UNIT_ROUNDOFF`) with
  ``S = 2 |expected|`` (+ ``|b|`` for a fwd with bias): an ulp, where rounding to nearest needs
  half of one, so stacks that truncate (round toward zero) or round twice pass too; one that
  rounds the sum before adding the bias and rounds again errs by at most
  ``u |y - b| + u |y| <= u (2 |y| + |b|)``.
* ``(atol, rtol)`` come from :func:`tolerance`.

The tolerance, and why
----------------------
Unit roundoffs u (half an ulp at 1): fp32 2^-24; tf32 2^-11 on the multiplier's inputs (10-bit
mantissa), results accumulated and stored in fp32 (2^-24); fp16 2^-11; bf16 2^-8; fp8 (e4m3)
2^-4; int8 and int4 0 (integer arithmetic with int32 accumulation is exact). Terms:

1. Input rounding (``2 u_in + u_in^2`` per product, so ``(2 u_in + u_in^2) M``: each factor is
   rounded to the dtype before the product). Rigorous. Zero when the inputs are exactly
   representable in the dtype, which the default integer inputs are for every dtype.
2. Accumulation. Vendor conv kernels form products exactly (or in fp32) and accumulate in fp32
   (int32 for int8): cuDNN through torch and XLA computes fp16/bf16 convs in fp32, oneDNN
   accumulates f16/bf16 in f32, the bf16 dot-product instructions (AMX, avx512_bf16, tensor cores)
   accumulate in fp32. The probabilistic bound of Higham & Mary (2019) for a sum of n terms in
   any order, ``lambda * sqrt(n) * u * M``, holds with probability at least
   1 - 2 exp(-lambda^2 / 2) per element; lambda = 8 (:data:`ACCUMULATION_LAMBDA`) makes a false
   alarm less likely than 10^-13 per element, so ``rtol += 8 sqrt(n) 2^-24``. For integer inputs
   the dtype holds (``exact_inputs``), every partial sum of an element whose magnitude is within
   2^24 is an integer below 2^24, which fp32 accumulates exactly in any order: the term is zero
   there (it stays for elements beyond), and only the final rounding remains, as with benchdnn's
   integer fills.
3. Low-precision accumulation (fp16/bf16/fp8 only, inexact inputs only). Some paths keep partial
   sums in the 16-bit dtype (fp16 HMMA accumulation, fp16 scratch buffers). On zero-mean data
   partial sums grow like sqrt(k) while M grows like k, so the accumulated error stays near
   ``u M``; :data:`LOW_PRECISION_ACCUMULATION` = 4 allows ``4 u_in M`` for it. With the default
   integer inputs such a path is exact anyway while its partial sums stay below 2^11 (fp16):
   they grow like 3.65 sqrt(k) and stay below it up to about 10^4 terms (see
   :mod:`convbench.harness.inputs`). A bf16 accumulator (exact only to 2^8) is not allowed for
   integer inputs: no vendor kernel keeps bf16 partial sums.
4. Algorithm. Winograd F(m, r) works on input tiles of alpha = m + r - 1 points; its transforms
   (entries up to 8 and fractions such as 1/6 for F(4x4,3x3)) amplify rounding by a factor that
   grows exponentially with alpha and multiplies per transformed dim. With ``K = 2^(alpha - 2)``
   per dim (4, 16, 128 for alpha 4, 6, 9) it adds ``2 (K^dims u_acc + (K/4)^dims u_in)``: the
   first term for the transforms computed in fp32, the second for transformed operands rounded
   to the dtype. alpha is read from the algorithm's name (:func:`winograd_tile`; 9 when the name
   does not say). FFT rounds spectra and twiddle factors: ``64 u_in``. Both keep the
   accumulation term even for integer inputs and spread their error, so ``M`` is the tile's or
   the output's largest (by default the output's: see :func:`verify`). Measured, largest error
   over largest M in units of u_in (normal inputs): convbench's F(4x4,3x3) (alpha 6) fp32 11-36
   in 2D and 110 in 3D, fp16/bf16 1.3-5 in 2D and 19 in 3D; its F(2x2,3x3) at most 1.5; cuDNN's
   ``winograd_nonfused`` 9x9_5x5 fp32 weight gradient (alpha 9, H200) 5,000-8,200 (the bound
   is 35,700); its 4x4 (alpha 6) weight gradients 11-15; cuDNN's ``fft2d_r2c_32x32`` fp32
   data gradient 1.2; convbench's FFT at most 2.8. (At alpha 9 in a 16-bit format the bound
   exceeds M itself: such a kernel keeps no digit worth checking, and nothing is flagged.)
5. ``atol``: half the smallest subnormal of the storage dtype (the final rounding's absolute error
   near zero); 0 for integers.

What this catches: with the default integer inputs and an fp32-accumulating kernel, the bound is
the final rounding alone (fp32: exact; fp16: 2^-11 |y|; bf16: 2^-8 |y|), while an off-by-one
input element, a shifted pad or transposed weights move results by whole integers at elements
where |y| is far below 1/u_out: all are caught in every dtype (tests/harness/test_verify.py).
Real kernels pass it: torch's CPU oneDNN kernels in fp32, bf16 and fp16 (reductions up to
512 x 3 x 3 and 2048 x 1 x 1, wgrad reductions of 8192 terms), oneDNN's int8 conv exactly, and on
an H200 (torch 2.11, cuDNN) the implicit-GEMM kernels in fp32, tf32, fp16 and bf16 in all three
directions, integer and normal inputs, with at most half the allowance used. cuDNN in benchmark
mode also picked Winograd (fp32/tf32 wgrad) and FFT (fp32 dgrad) kernels: they pass only when
``algorithm`` carries their kernel names (judged as direct kernels, their transform rounding on
integer inputs is far outside the exact bound), so a backend must name what ran.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import Case, Inputs
from convbench.errors import ConvbenchError
from convbench.harness import oracle
from convbench.workloads.spec import ConvSpec, check_direction, check_dtype

#: Unit roundoff of the storage dtype of a result (half an ulp at 1). tf32 results are fp32.
UNIT_ROUNDOFF: dict[str, float] = {
    "fp64": 2.0**-53,
    "fp32": 2.0**-24,
    "tf32": 2.0**-24,
    "fp16": 2.0**-11,
    "bf16": 2.0**-8,
    "fp8": 2.0**-4,
    "int8": 0.0,
    "int4": 0.0,
}
#: Unit roundoff of the operands the multiplier sees (tf32: 10 explicit mantissa bits).
INPUT_UNIT_ROUNDOFF: dict[str, float] = {**UNIT_ROUNDOFF, "tf32": 2.0**-11}
#: Unit roundoff of the accumulator every float dtype is assumed to accumulate in (fp32).
ACCUMULATOR_UNIT_ROUNDOFF: dict[str, float] = {
    "fp64": 2.0**-53, "fp32": 2.0**-24, "tf32": 2.0**-24, "fp16": 2.0**-24, "bf16": 2.0**-24,
    "fp8": 2.0**-24, "int8": 0.0, "int4": 0.0,
}
#: Largest integer magnitude the accumulator sums exactly (fp32: 2^24; int32: 2^31 - 1).
EXACT_ACCUMULATION_LIMIT: dict[str, float] = {
    "fp64": 2.0**53, "fp32": 2.0**24, "tf32": 2.0**24, "fp16": 2.0**24, "bf16": 2.0**24,
    "fp8": 2.0**24, "int8": 2.0**31 - 1, "int4": 2.0**31 - 1,
}
#: Smallest positive subnormal of the storage dtype (atol is half of it).
SMALLEST_SUBNORMAL: dict[str, float] = {
    "fp64": 2.0**-1074, "fp32": 2.0**-149, "tf32": 2.0**-149, "fp16": 2.0**-24, "bf16": 2.0**-133,
    "fp8": 2.0**-9, "int8": 0.0, "int4": 0.0,
}
#: Inclusive value range of the integer dtypes.
INT_RANGES: dict[str, tuple[int, int]] = {"int8": (-128, 127), "int4": (-8, 7)}
#: lambda of the probabilistic accumulation bound lambda * sqrt(n) * u.
ACCUMULATION_LAMBDA = 8.0
#: Multiple of u_in allowed for 16-bit (and fp8) accumulation on inexact inputs.
LOW_PRECISION_ACCUMULATION = 4.0
#: Multiple of u_in allowed for an FFT's transforms.
FFT_CONSTANT = 64.0
#: Winograd input tile (alpha = m + r - 1) assumed when the algorithm's name does not say.
WINOGRAD_DEFAULT_TILE = 9
#: Error spreads :func:`verify` knows.
SPREADS: tuple[str, ...] = ("element", "tile", "output")


@dataclass(frozen=True)
class Verification:
    """The verdict on one result.

    ``max_abs_error``: max |result - expected| (in the result's units). ``max_rel_error``: max of
    |error| / |expected| over elements whose expected value is not zero, and the absolute error
    where it is (benchdnn's convention). ``error_bound_ratio``: max |error| / allowed; <= 1
    passes (0 where error and allowance are both 0, inf where an error meets a zero allowance or
    the result is not finite). ``message``: empty when ok, else one line saying why not.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    error_bound_ratio: float
    message: str


def algorithm_family(algorithm: str | None) -> str:
    """``"winograd"``, ``"fft"`` or ``"direct"`` (everything whose rounding stays local: direct,
    im2col, implicit GEMM, vendor kernels). Matched case-insensitively anywhere in the name, so
    ``winograd-4x4``, ``pad+winograd``, ``CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING`` are found."""
    name = (algorithm or "").lower()
    if "winograd" in name or "wino" in name:
        return "winograd"
    if "fft" in name:
        return "fft"
    return "direct"


def winograd_tile(algorithm: str | None) -> int:
    """The input tile alpha = m + r - 1 of a Winograd algorithm F(m, r), from its name.

    Understood: ``F(4x4,3x3)`` and ``f4x4_3x3`` (alpha = m + r - 1), cuDNN's ``...9x9_5x5``
    (the input tile first), and a single output tile size with a 3-tap kernel
    (``winograd-4x4``, cuDNN's ``winogradWgradData4x4``: alpha = m + 2). Several kernel names
    may be joined in one string; the largest tile found counts. :data:`WINOGRAD_DEFAULT_TILE`
    (9) when none is found.
    """
    name = (algorithm or "").lower()
    tiles = [int(m) + int(r) - 1 for m, r in re.findall(r"f\(\s*(\d+)(?:x\d+)*\s*,\s*(\d+)", name)]
    for f, a, r in re.findall(r"(f?)(\d+)x\2_(\d+)x\3", name):
        tiles.append(int(a) + int(r) - 1 if f else int(a))  # f6x6_3x3: F(6x6,3x3); 9x9_5x5: tile 9
    if not tiles:
        tiles = [int(m) + 2 for m in re.findall(r"wino\w*?(\d+)x\1(?!\d)", name.replace("-", "").replace("_", ""))]
    return max(tiles) if tiles else WINOGRAD_DEFAULT_TILE


def default_spread(algorithm: str | None) -> str:
    """The error spread of an algorithm: ``"output"`` for Winograd and FFT, else ``"element"``."""
    return "element" if algorithm_family(algorithm) == "direct" else "output"


def reduction_length(spec: ConvSpec, direction: str) -> int:
    """Terms summed into one result element (an upper bound where strides skip taps).

    fwd: in_channels/groups x prod(kernel); dgrad: out_channels/groups x prod(kernel); wgrad:
    batch x prod(output_size) (transposed: batch x prod(input_size), the positions of the conv
    whose adjoint it is).
    """
    check_direction(direction)
    taps = math.prod(spec.kernel_size)
    if direction == "fwd":
        return spec.in_channels // spec.groups * taps
    if direction == "dgrad":
        return spec.out_channels // spec.groups * taps
    positions = spec.input_size if spec.transposed else spec.output_size
    return spec.batch * math.prod(positions)


def tolerance(
    dtype: str,
    algorithm: str | None = None,
    direction: str = "fwd",
    reduction_length: int = 1,
    exact_inputs: bool = False,
    dims: int = 2,
) -> tuple[float, float]:
    """``(atol, rtol)`` of the bound ``atol + rtol * M`` (see the module docstring).

    ``dtype``: the case's dtype; ``algorithm``: what ran (its family decides the constants);
    ``direction``: fwd, dgrad or wgrad (the same formula for each: ``reduction_length`` carries
    the difference); ``reduction_length``: terms per result element (:func:`reduction_length`);
    ``exact_inputs``: the inputs are integers exactly held by the dtype (:func:`exact_inputs`), so
    products are exact and so are fp32 sums whose magnitude is within
    :data:`EXACT_ACCUMULATION_LIMIT` (:func:`verify` adds the accumulation term,
    ``8 sqrt(n) 2^-24 M``, to the elements beyond it); ``dims``: the spatial dims (Winograd's
    constant grows with them). Integer dtypes: (0, 0), results must be exact. The output
    rounding ``u_out (2 |expected| + |b|)`` is added by :func:`verify`.
    """
    check_dtype(dtype)
    check_direction(direction)
    if dtype not in UNIT_ROUNDOFF:
        raise ConvbenchError(f"dtype: no tolerance is defined for {dtype!r}")
    if not isinstance(reduction_length, (int, np.integer)) or reduction_length < 1:
        raise ConvbenchError(f"reduction_length: must be a positive integer, got {reduction_length!r}")
    if dtype in INT_RANGES:
        return 0.0, 0.0
    u_in = INPUT_UNIT_ROUNDOFF[dtype]
    u_acc = ACCUMULATOR_UNIT_ROUNDOFF[dtype]
    family = algorithm_family(algorithm)
    rtol = 0.0
    if not exact_inputs:
        rtol += 2 * u_in + u_in * u_in
        if u_in > u_acc and dtype != "tf32":
            rtol += LOW_PRECISION_ACCUMULATION * u_in
    if not exact_inputs or family != "direct":
        rtol += ACCUMULATION_LAMBDA * math.sqrt(reduction_length) * u_acc
    if family == "winograd":
        k = 2.0 ** (winograd_tile(algorithm) - 2)
        rtol += 2 * (k**dims * u_acc + (k / 4) ** dims * u_in)
    elif family == "fft":
        rtol += FFT_CONSTANT * u_in
    return SMALLEST_SUBNORMAL[dtype] / 2, rtol


def representable(a: np.ndarray, dtype: str) -> bool:
    """True when every value of ``a`` is held exactly by ``dtype`` (integers in range for int8,
    int4; finite and unchanged by a round trip through the format for the floats; tf32: an fp32
    value with at most 11 significant bits)."""
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return False
    if dtype in INT_RANGES:
        low, high = INT_RANGES[dtype]
        return bool(np.all(a == np.rint(a)) and np.all((a >= low) & (a <= high)))
    if dtype == "fp64":
        return True
    if dtype == "fp32":
        return bool(np.all(a.astype(np.float32) == a))
    if dtype == "fp16":
        return bool(np.all(a.astype(np.float16) == a))
    if dtype == "tf32":
        mantissa, _ = np.frexp(a)
        scaled = np.ldexp(mantissa, 11)
        return bool(np.all(a.astype(np.float32) == a) and np.all(scaled == np.rint(scaled)))
    import ml_dtypes

    fmt = {"bf16": ml_dtypes.bfloat16, "fp8": ml_dtypes.float8_e4m3fn}[dtype]
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.all(a.astype(fmt).astype(np.float64) == a))


def _operands(spec: ConvSpec, direction: str, inputs: Inputs) -> dict[str, np.ndarray]:
    """The input tensors a direction reads (the bias only for fwd with a bias)."""
    names = {"fwd": ("x", "w"), "dgrad": ("dy", "w"), "wgrad": ("x", "dy")}[direction]
    ops = {n: np.asarray(getattr(inputs, n)) for n in names}
    if direction == "fwd" and spec.bias and inputs.b is not None:
        ops["b"] = np.asarray(inputs.b)
    return ops


def exact_inputs(case: Case, inputs: Inputs) -> bool:
    """True when the case's operands are integers the dtype holds exactly (an int8/int4 bias may
    be any int32): products are then exact, and so is fp32 accumulation of every result element
    whose magnitude is within :data:`EXACT_ACCUMULATION_LIMIT`."""
    dtype = case.dtype
    for name, a in _operands(case.spec, case.direction, inputs).items():
        if not np.all(a == np.rint(a)):
            return False
        if name == "b" and dtype in INT_RANGES:
            continue  # int8/int4 stacks keep the bias in int32
        if not representable(a, dtype):
            return False
    return True


def _spread_max(m: np.ndarray, spread: str, tile) -> np.ndarray:
    """``m`` with every element replaced by the largest of its tile (spatial dims of each
    (n, channel) plane, tiles from the origin) or of the whole array."""
    if spread == "element":
        return m
    if spread == "output" or tile is None:
        return np.full_like(m, m.max() if m.size else 0.0)
    spatial = m.shape[2:]
    tile = tuple(int(t) for t in (tile if not isinstance(tile, int) else (tile,) * len(spatial)))
    if len(tile) != len(spatial) or any(t < 1 for t in tile):
        raise ConvbenchError(f"tile: expected {len(spatial)} positive ints, got {tile}")
    counts = tuple(-(-s // t) for s, t in zip(spatial, tile))
    padded = np.zeros(m.shape[:2] + tuple(c * t for c, t in zip(counts, tile)))
    padded[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)] = m
    blocks = padded.reshape(m.shape[:2] + tuple(v for ct in zip(counts, tile) for v in ct))
    tile_axes = tuple(3 + 2 * i for i in range(len(spatial)))
    best = blocks.max(axis=tile_axes, keepdims=True)
    best = np.broadcast_to(best, blocks.shape).reshape(padded.shape)
    return np.ascontiguousarray(best[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)])


_RESULT_SHAPE = {"fwd": "output_shape", "dgrad": "input_shape", "wgrad": "weight_shape"}
_MAGNITUDE_NAME = {"fwd": "sum|x||w|", "dgrad": "sum|dy||w|", "wgrad": "sum|dy||x|"}


def verify(
    result,
    case: Case,
    inputs: Inputs,
    algorithm: str | None = None,
    expected: np.ndarray | None = None,
    magnitude: np.ndarray | None = None,
    spread: str | None = None,
    tile: tuple[int, ...] | int | None = None,
) -> Verification:
    """Check a backend's ``result`` for ``case`` against the float64 oracle.

    ``result``: any array-like in canonical layout (fwd: ``spec.output_shape``; dgrad:
    ``spec.input_shape``; wgrad: ``spec.weight_shape``), any float or int dtype. ``algorithm``:
    what actually ran (``kernel.algorithm``; default ``case.algorithm``). ``expected`` and
    ``magnitude``: the oracle's :func:`~convbench.harness.oracle.reference` and
    :func:`~convbench.harness.oracle.magnitude` for the case, computed when not given (pass them
    to verify many backends against one oracle call). ``spread``: ``"element"`` (local rounding),
    ``"tile"`` or ``"output"`` (the largest magnitude of the tile / whole result stands in);
    None picks :func:`default_spread` of the algorithm. ``tile``: the tile's extent per spatial
    dim of the result for ``"tile"``; without it the whole result is one tile (conservative:
    the same as ``"output"``). ``"element"`` for a Winograd or FFT algorithm is widened to its
    default, ``"output"``: their rounding spreads whatever the caller assumed.

    A result of the wrong shape, or with NaN or Inf, is not ok (with a message saying so).
    Inputs that an integer dtype cannot hold (e.g. ``normal`` inputs with int8) raise
    :class:`ConvbenchError`.
    """
    spec, direction, dtype = case.spec, case.direction, case.dtype
    check_direction(direction)
    check_dtype(dtype)
    algorithm = algorithm or case.algorithm
    if spread is not None and spread not in SPREADS:
        raise ConvbenchError(f"spread: unknown spread {spread!r} (known: {', '.join(SPREADS)})")
    if spread is None or spread == "element":
        # a Winograd or FFT result spreads its rounding whatever the caller assumed
        spread = default_spread(algorithm)
    want_shape = tuple(getattr(spec, _RESULT_SHAPE[direction]))
    res = np.asarray(result)
    if res.shape != want_shape:
        return Verification(False, math.inf, math.inf, math.inf,
                            f"result shape {res.shape} != expected {want_shape} "
                            f"({direction} {_RESULT_SHAPE[direction]})")
    if res.dtype.kind not in "fiub":
        # e.g. ml_dtypes.bfloat16 (kind 'V'): cast through float32, which holds it exactly
        res = res.astype(np.float32)
    res = res.astype(np.float64)
    bad = ~np.isfinite(res)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        n_nan = int(np.isnan(res).sum())
        return Verification(False, math.inf, math.inf, math.inf,
                            f"result has {n_nan} NaN and {int(bad.sum()) - n_nan} Inf of {res.size} values "
                            f"(first at {first})")
    if dtype in INT_RANGES:
        for name, a in _operands(spec, direction, inputs).items():
            if name != "b" and not representable(a, dtype):
                low, high = INT_RANGES[dtype]
                raise ConvbenchError(
                    f"dtype: {dtype} needs integer inputs in [{low}, {high}]; inputs.{name} "
                    f"({inputs.distribution!r} distribution) has other values"
                )
    if expected is None:
        expected = oracle.reference(spec, direction, inputs)
    if magnitude is None:
        magnitude = oracle.magnitude(spec, direction, inputs)
    expected = np.asarray(expected, dtype=np.float64)
    magnitude = np.asarray(magnitude, dtype=np.float64)
    for name, a in (("expected", expected), ("magnitude", magnitude)):
        if a.shape != want_shape:
            raise ConvbenchError(f"{name}: shape {a.shape} != {want_shape}")

    exact = exact_inputs(case, inputs)
    n = reduction_length(spec, direction)
    atol, rtol = tolerance(dtype, algorithm, direction, n, exact, spec.dims)
    scale = 2 * np.abs(expected)
    if direction == "fwd" and spec.bias and inputs.b is not None:
        scale += np.abs(np.asarray(inputs.b, dtype=np.float64)).reshape((1, -1) + (1,) * spec.dims)
    m = _spread_max(magnitude, spread, tile)
    allowed = atol + rtol * m + UNIT_ROUNDOFF[dtype] * scale
    if exact and dtype not in INT_RANGES and algorithm_family(algorithm) == "direct":
        # integer partial sums beyond 2^24 round in fp32: the accumulation term where M is
        beyond = magnitude > EXACT_ACCUMULATION_LIMIT[dtype]
        if beyond.any():
            acc = ACCUMULATION_LAMBDA * math.sqrt(n) * ACCUMULATOR_UNIT_ROUNDOFF[dtype]
            allowed = allowed + np.where(beyond, acc * m, 0.0)
    err = np.abs(res - expected)
    if err.size == 0:
        return Verification(True, 0.0, 0.0, 0.0, "")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / allowed)  # err > 0 with allowed == 0 -> inf
        rel = np.where(expected != 0, err / np.abs(expected), err)
    worst = int(np.argmax(ratio))
    bound_ratio = float(ratio.flat[worst])
    ok = bound_ratio <= 1.0
    message = ""
    if not ok:
        at = tuple(int(i) for i in np.unravel_index(worst, err.shape))
        outside = int((ratio > 1.0).sum())
        name = algorithm if len(algorithm) <= 48 else algorithm[:45] + "..."
        scale_name = _MAGNITUDE_NAME[direction] + ("" if spread == "element" else f" ({spread} max)")
        message = (
            f"abs error {err.flat[worst]:.4g} at {at} > allowed {allowed.flat[worst]:.3g} "
            f"(got {res.flat[worst]:.8g}, expected {expected.flat[worst]:.8g}; {dtype}, {name}, "
            f"rtol {rtol:.2g}, {scale_name} {m.flat[worst]:.6g}); {outside} of {err.size} values outside"
        )
    return Verification(ok, float(err.max()), float(rel.max()), bound_ratio, message)
