"""The per-algorithm cost model and error measurement behind ``convbench show DESCRIPTOR --algorithms``.

:func:`algorithm_costs` answers, for one problem's forward pass, what each reference algorithm
costs: multiplications (whole batch; real multiplications for the FFT), multiplications per
output tile per (input, output) channel pair, and the extra memory its defining buffers take.
:func:`measure_errors` runs each algorithm in a dtype and compares it with the float64 oracle.

Counting conventions:

* ``direct``, ``im2col``, ``int-gemm``, ``implicit-gemm``: one multiplication per MAC of the
  conv (``ConvSpec.macs``); a tile is one output element, ``prod(kernel)`` products per channel
  pair. ``direct`` runs a transposed conv by definition, over the stride-spread input, so its
  count includes the products with the inserted zeros.
* ``winograd-MxM``: the element-wise products of the transformed tiles, ``alpha^dims`` per
  output tile (m^dims positions) per channel pair, alpha = m + 2: 16 for F(2x2,3x3) against 36
  for direct on the same 2x2 tile, 36 for F(4x4,3x3) against 144. Tiles cover the output
  rounded up to whole tiles. The transforms (mostly additions; multiplications by small
  constants) are not in the total; the notes give their dense-matrix count.
* ``fft``: real multiplications: 4 per complex product of the channel sums (``4 x bins`` per
  channel pair, one tile = the whole output plane) plus the transforms, each estimated as
  ``P log2 P`` real multiplications for a real-input FFT of P points (half of a radix-2 complex
  FFT's 2 P log2 P): N*C input, K*C/G kernel and N*K inverse transforms.

``extra_bytes``: the algorithm's own intermediate buffers, beyond inputs, weights and output:
GEMM operands at the dtype's width (int4: half a byte), accumulators at 4 bytes (fp32/int32),
complex spectra at two operand widths (accumulated spectra: complex64):

* direct: the padded (for a transposed conv: stride-spread and padded) input;
* im2col / int-gemm: the column matrix (N * C * prod(k) * prod(out) elements; the kernels build
  it in chunks of the batch of at most 256 MiB);
* winograd: U (transformed weights), V (transformed input tiles), M (products, fp32);
* fft: input and kernel spectra, output spectrum (complex64), and the real inverse transform;
* implicit-gemm: none (that is the point of an implicit GEMM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import Case
from convbench.backends.reference import triton_igemm
from convbench.backends.reference._core import INT_DTYPES, precision
from convbench.backends.reference.fft import fft_lengths, spectrum_bins
from convbench.backends.reference.winograd import TRANSFORMS, tiles_per_dim
from convbench.errors import ConvbenchError
from convbench.workloads.spec import DTYPE_BITS, ConvSpec, check_dtype

FLOAT_LIST: tuple[str, ...] = ("direct", "im2col", "winograd-2x2", "winograd-4x4", "fft", "implicit-gemm")
INT_LIST: tuple[str, ...] = ("int-gemm", "implicit-gemm")


@dataclass(frozen=True)
class AlgorithmCost:
    """What one algorithm costs for one problem's forward pass.

    ``multiplications``: whole batch (FFT: real multiplications, transforms included).
    ``multiplications_per_tile_per_channel_pair``: products per ``tile`` of output positions per
    (input channel, output channel) pair; ``direct_per_tile`` is the direct conv's count for the
    same tile. ``extra_bytes``: intermediate buffers (bytes; see the module docstring).
    Unsupported algorithms carry ``supported=False``, the ``reason`` and zero counts.
    """

    algorithm: str
    supported: bool
    reason: str
    multiplications: int
    multiplications_per_tile_per_channel_pair: int
    extra_bytes: int
    notes: str
    tile: tuple[int, ...] = ()
    direct_per_tile: int = 0


def _operand_bytes(dtype: str) -> float:
    return DTYPE_BITS[dtype] / 8


def _full_size(spec: ConvSpec) -> tuple[int, ...]:
    """The output extent a transposed conv's primitive computes before cropping its padding."""
    return tuple(
        (i - 1) * s + d * (k - 1) + 1 + op
        for i, s, d, k, op in zip(spec.input_size, spec.stride, spec.dilation, spec.kernel_size, spec.output_padding)
    )


def _extent(spec: ConvSpec) -> tuple[int, ...]:
    """Spatial size of the padded tensor the forward primitive transforms (see fft_extra)."""
    if not spec.transposed:
        return tuple(i + b + a for i, (b, a) in zip(spec.input_size, spec.padding))
    return _full_size(spec)


def _reason(spec: ConvSpec, dtype: str, algorithm: str) -> str | None:
    from convbench.backends.reference import ReferenceBackend

    if algorithm == triton_igemm.ALGORITHM:
        if dtype not in triton_igemm.DTYPES:
            return f"implicit-gemm runs {', '.join(triton_igemm.DTYPES)}; got dtype {dtype}"
        return triton_igemm.spec_unsupported_reason(spec, "fwd")
    return ReferenceBackend().unsupported_reason(Case(spec, dtype, "fwd", "native", "cpu", algorithm))


def _cost(spec: ConvSpec, dtype: str, algorithm: str) -> AlgorithmCost:
    n, c, k_out, g = spec.batch, spec.in_channels, spec.out_channels, spec.groups
    cg = c // g
    kernel = spec.kernel_size
    taps = math.prod(kernel)
    nd = spec.dims
    ob = _operand_bytes(dtype)
    pairs = k_out * cg  # (output channel, input channel) pairs that meet
    ones = (1,) * nd

    if algorithm in ("im2col", "int-gemm", "implicit-gemm"):
        if algorithm == "implicit-gemm":
            extra, notes = 0, "runs on CUDA (Triton); the column matrix is never built"
        elif spec.transposed:  # col2im: dcols = w^T x, then scattered into the output
            extra = int(n * k_out * taps * math.prod(spec.input_size) * ob)
            notes = "transposed: GEMM w^T x into a column matrix, then col2im (one strided add per tap)"
        else:
            extra = int(n * c * taps * math.prod(spec.output_size) * ob)
            notes = (
                f"column matrix {cg * taps} x {n * math.prod(spec.output_size)} per group, "
                f"{g} group(s), one GEMM each"
            )
        if algorithm == "int-gemm":
            notes += "; int32 accumulation, exact"
        return AlgorithmCost(algorithm, True, "", spec.macs, taps, extra, notes, ones, taps)

    if algorithm == "direct":
        if spec.transposed:
            full = _full_size(spec)
            mults = n * k_out * math.prod(full) * (c // g) * taps
            spread = tuple(f + d * (kk - 1) for f, d, kk in zip(full, spec.dilation, kernel))
            extra = int(n * c * math.prod(spread) * ob)
            notes = (
                f"transposed conv by definition: stride-spread input, {mults / spec.macs:.2f}x the MACs "
                "(products with the inserted zeros)"
            )
        else:
            mults = spec.macs
            padded = _extent(spec)
            extra = int(n * c * math.prod(padded) * ob) if padded != spec.input_size else 0
            notes = "einsum over a strided window view; each output element summed in order"
        return AlgorithmCost(algorithm, True, "", mults, taps, extra, notes, ones, taps)

    if algorithm.startswith("winograd-"):
        tf = TRANSFORMS[int(algorithm.split("-")[1].split("x")[0])]
        m, alpha = tf.m, tf.alpha
        out = _full_size(spec) if spec.transposed else spec.output_size
        tiles = math.prod(tiles_per_dim(out, m))
        per_tile = alpha**nd
        direct_tile = m**nd * taps
        mults = n * tiles * pairs * per_tile
        u = per_tile * k_out * cg * ob
        v = per_tile * c * n * tiles * ob
        mm = per_tile * k_out * n * tiles * 4
        transform_mults = (
            n * c * tiles * 2 * alpha ** (nd + 1)  # B^T d B as dense products, per tile and channel
            + k_out * cg * nd * alpha**nd * 3  # G g G^T
            + n * k_out * tiles * nd * alpha**nd * m  # A^T M A
        )
        notes = (
            f"F({'x'.join([str(m)] * nd)},{'x'.join(['3'] * nd)}): {per_tile} products per "
            f"{'x'.join([str(m)] * nd)} tile vs {direct_tile} direct ({direct_tile / per_tile:.2f}x fewer); "
            f"{tiles} tiles per image; U {int(u)} B, V {int(v)} B, M {int(mm)} B; transforms "
            f"(not in the total) ~{transform_mults:.3g} dense-matrix multiplications"
        )
        return AlgorithmCost(
            algorithm, True, "", mults, per_tile, int(u + v + mm), notes, (m,) * nd, direct_tile
        )

    if algorithm == "fft":
        lengths = fft_lengths(_extent(spec))
        bins = spectrum_bins(lengths)
        points = math.prod(lengths)
        pointwise = 4 * bins * n * pairs
        transforms = (n * c + k_out * cg + n * k_out) * points * math.log2(points)
        mults = int(pointwise + round(transforms))
        extra = int(bins * (n * c + k_out * cg) * 2 * ob + bins * n * k_out * 8 + points * n * k_out * 4)
        out = spec.output_size
        direct_tile = math.prod(out) * taps
        notes = (
            f"transform {'x'.join(map(str, lengths))} ({bins} complex bins): pointwise {pointwise} "
            f"real mults, transforms ~{transforms:.3g} (P log2 P each)"
        )
        if any(s > 1 for s in spec.stride) and not spec.transposed:
            notes += "; stride by subsampling a stride-1 result"
        if any(d > 1 for d in spec.dilation):
            notes += "; dilated kernel transformed"
        return AlgorithmCost(algorithm, True, "", mults, 4 * bins, extra, notes, tuple(out), direct_tile)

    raise ConvbenchError(f"algorithm: no cost model for {algorithm!r}")


def algorithm_costs(spec: ConvSpec, dtype: str = "fp32") -> list[AlgorithmCost]:
    """Each reference algorithm's cost for ``spec``'s forward pass in ``dtype`` (float dtypes:
    direct, im2col, winograd-2x2, winograd-4x4, fft, implicit-gemm; int8/int4: int-gemm,
    implicit-gemm). Unsupported ones are listed with ``supported=False`` and the reason."""
    check_dtype(dtype)
    names = INT_LIST if dtype in INT_DTYPES else FLOAT_LIST
    out = []
    for name in names:
        reason = _reason(spec, dtype, name)
        if reason:
            out.append(AlgorithmCost(name, False, reason, 0, 0, 0, ""))
        else:
            out.append(_cost(spec, dtype, name))
    return out


def measure_errors(
    spec: ConvSpec, dtype: str, inputs: str = "normal", seed: int = 0, direction: str = "fwd"
) -> dict[str, tuple[float, float]]:
    """Run every algorithm that supports the case here and compare it with the float64 oracle.

    Returns ``{algorithm: (max_abs, max_rel)}``: ``max_abs`` = max |result - oracle|;
    ``max_rel`` = max_abs / max |oracle| (relative to the largest reference magnitude, so
    near-zero outputs do not dominate). The inputs (``inputs`` names the distribution: ``normal``
    or ``int``) are first rounded to ``dtype`` and the oracle computes on the rounded values, so
    the figures are the algorithm's own arithmetic error at that precision (plus the rounding of
    the result), not the input quantisation. int8/int4 always use the integer inputs (their
    values must be integers); their errors are 0 when the kernels are exact. implicit-gemm is
    included when a CUDA device is present.
    """
    from convbench.backends.reference import ReferenceBackend
    from convbench.harness.inputs import make_inputs
    from convbench.harness.oracle import reference

    check_dtype(dtype)
    backend = ReferenceBackend()
    raw = make_inputs(spec, seed=seed, distribution="int" if dtype in INT_DTYPES else inputs)
    rounded = _rounded_inputs(raw, dtype)
    expected = reference(spec, direction, rounded)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    errors: dict[str, tuple[float, float]] = {}
    devices = ["cpu"] + [d for d in backend.devices() if d.startswith("cuda")][:1]
    for device in devices:
        base = Case(spec, dtype, direction, "native", device, "default")
        for algorithm in backend.algorithms(base):
            kernel = backend.prepare(Case(spec, dtype, direction, "native", device, algorithm), rounded)
            kernel.run()
            kernel.synchronize()
            got = np.asarray(kernel.result(), dtype=np.float64)
            max_abs = float(np.max(np.abs(got - expected))) if got.size else 0.0
            errors[algorithm] = (max_abs, max_abs / scale if scale > 0 else max_abs)
    return errors


def _rounded_inputs(raw, dtype: str):
    """Inputs with every tensor rounded to ``dtype`` (floats) and back to float64."""
    from dataclasses import replace

    if dtype in INT_DTYPES:
        return raw
    if dtype == "tf32":  # 10 mantissa bits: round the float32 value to nearest, ties to even
        def rnd(a):
            if a is None:
                return None
            bits = np.asarray(a, np.float32).view(np.uint32)
            bits = (bits + 0x0FFF + ((bits >> 13) & 1)) & np.uint32(0xFFFFE000)
            return bits.view(np.float32).astype(np.float64)
    else:
        store = precision(dtype).storage

        def rnd(a):
            return None if a is None else np.asarray(a).astype(store).astype(np.float64)

    return replace(raw, x=rnd(raw.x), w=rnd(raw.w), b=rnd(raw.b), dy=rnd(raw.dy))
