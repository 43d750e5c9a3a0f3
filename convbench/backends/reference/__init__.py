"""The ``reference`` backend: convbench's own convolution kernels.

On the CPU (numpy, vectorised; no Python loop over pixels) every float case can run as

* ``direct``: the definition, an einsum over a strided window view (:mod:`.direct`);
* ``im2col``: unfold + one BLAS GEMM per group, the default (:mod:`.im2col`);
* ``winograd-2x2`` / ``winograd-4x4``: Winograd F(2x2,3x3) / F(4x4,3x3) for stride-1,
  dilation-1, 3x3 (3, 3x3x3) kernels, fwd and dgrad (:mod:`.winograd`);
* ``fft``: the convolution theorem, any kernel, stride by subsampling (:mod:`.fft`);

and int8/int4 cases run ``int-gemm``, the exact integer GEMM (:mod:`.integer`). Every algorithm
handles 1D/2D/3D, stride, dilation, groups, asymmetric padding, the padding modes, transposed
convs and the three directions, except where :meth:`ReferenceBackend.unsupported_reason` says
otherwise. How fp16/bf16 are computed: see :mod:`._core` (inputs and GEMM operands rounded to the
dtype, float32 products and sums, result rounded to the dtype).

On CUDA the backend runs ``implicit-gemm``, a Triton kernel (:mod:`.triton_igemm`).

The cost model behind ``convbench show --algorithms`` is :mod:`.algorithms`
(:func:`algorithm_costs`, :func:`measure_errors`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time

import numpy as np

from convbench.backends.base import Case, Inputs
from convbench.backends.reference import integer, triton_igemm, winograd
from convbench.backends.reference._core import (
    FLOAT_DTYPES,
    INT_DTYPES,
    BlasThreads,
    Primitives,
    Scratch,
    cpu_workers,
    execute,
    load_operands,
    lower,
    precision,
)
from convbench.backends.reference.direct import Direct
from convbench.backends.reference.fft import FFT, fft_lengths
from convbench.backends.reference.im2col import Im2col
from convbench.errors import ConvbenchError
from convbench.workloads.spec import DIRECTIONS, ConvSpec

#: CPU algorithms for float dtypes, in the order ``algorithms()`` lists them.
CPU_FLOAT_ALGORITHMS: tuple[str, ...] = ("direct", "im2col", "winograd-2x2", "winograd-4x4", "fft")
#: CPU algorithms for integer dtypes.
CPU_INT_ALGORITHMS: tuple[str, ...] = ("int-gemm",)
#: CUDA algorithms.
CUDA_ALGORITHMS: tuple[str, ...] = (triton_igemm.ALGORITHM,)
ALL_ALGORITHMS: tuple[str, ...] = CPU_FLOAT_ALGORITHMS + CPU_INT_ALGORITHMS + CUDA_ALGORITHMS


def make_algorithm(name: str, threads: int = 0) -> Primitives:
    """The CPU algorithm object called ``name`` (``threads`` sizes the FFT's worker pool)."""
    if name == "direct":
        return Direct()
    if name == "im2col":
        return Im2col()
    if name == "winograd-2x2":
        return winograd.Winograd(2)
    if name == "winograd-4x4":
        return winograd.Winograd(4)
    if name == "fft":
        return FFT(cpu_workers(threads))
    if name == "int-gemm":
        return integer.IntGemm()
    raise ConvbenchError(f"algorithm: reference has no CPU algorithm {name!r} (known: {', '.join(CPU_FLOAT_ALGORITHMS + CPU_INT_ALGORITHMS)})")


def resolve_algorithm(case: Case) -> str:
    """The algorithm a case runs: ``default`` is im2col (CPU floats), int-gemm (CPU integers)
    or implicit-gemm (CUDA); ``winograd`` alone means winograd-2x2."""
    if case.algorithm == "default":
        if case.device_kind == "cuda":
            return triton_igemm.ALGORITHM
        return "int-gemm" if case.dtype in INT_DTYPES else "im2col"
    if case.algorithm == "winograd":
        return "winograd-2x2"
    return case.algorithm


def spec_reason(spec: ConvSpec, direction: str, algorithm: str) -> str | None:
    """Shape part of the support answer of a CPU algorithm (no dtype, device or layout)."""
    if spec.kind == "deformable":
        return "kind deformable needs sampling offsets; the reference runs conv and linear layers"
    low = lower(spec, direction)
    return make_algorithm(algorithm).supports(low.op, low.kernel, low.geometry)


class NumpyKernel:
    """A prepared CPU launch of one reference algorithm (see :mod:`._core` for the lowering)."""

    layout = "nchw"

    def __init__(self, algo: Primitives, case: Case, inputs: Inputs) -> None:
        start = time.perf_counter()
        self.algorithm = algo.name
        self.error_spread = algo.error_spread
        self._algo = algo
        self._spec = case.spec
        self._direction = case.direction
        self._prec = precision(case.dtype)
        self._ops = load_operands(case.spec, case.direction, inputs, self._prec)
        self._threads = BlasThreads(case.threads)
        self._scratch = Scratch()
        self._out: np.ndarray | None = None
        self.run()  # first call: allocates the work buffers later runs reuse
        self.setup_s = time.perf_counter() - start
        self.extra = {
            "storage": self._prec.name,
            "accumulate": "int32" if self._prec.is_int else "fp32",
            "blas_threads": case.threads,
            "workspace_bytes": self._scratch.nbytes,
        }
        if isinstance(algo, FFT):
            self.extra.update(fft_extra(case.spec, case.direction, algo.workers))
        #: Extent of the tiles one rounding error can spread over, per spatial dim of the result,
        #: aligned to its origin (verify's ``tile``): Winograd's output tile where the result is
        #: the tiled forward itself; None where tiles are offset by cropped padding (dgrad,
        #: transposed fwd) or the algorithm does not tile.
        self.error_tile: tuple[int, ...] | None = None
        if isinstance(algo, winograd.Winograd) and lower(case.spec, case.direction).op == "forward":
            self.error_tile = (algo.tf.m,) * case.spec.dims

    def run(self) -> None:
        """Compute the result once (synchronous)."""
        with self._threads:
            self._out = execute(self._algo, self._spec, self._direction, self._ops, self._prec, self._scratch)

    def synchronize(self) -> None:
        """Nothing to wait for: ``run`` is synchronous."""

    def result(self) -> np.ndarray:
        """The result in canonical layout, in the case's dtype (int32 for int8/int4)."""
        if self._out is None:
            raise ConvbenchError("kernel: result() before run()")
        return self._prec.result(self._out)

    def timers(self) -> list[str]:
        return ["wall", "wall-batch"]


def fft_extra(spec: ConvSpec, direction: str, workers: int) -> dict:
    """Row facts of an FFT case: transform lengths, and how stride and dilation were handled."""
    low = lower(spec, direction)
    strided = any(s > 1 for s in spec.stride)
    extra = {"fft_lengths": "x".join(map(str, fft_lengths(transform_extent(spec, direction)))), "fft_workers": workers}
    if strided:
        if low.op == "forward":
            extra["fft_subsampled"] = True  # stride-1 result computed, then every stride-th kept
        else:
            extra["fft_zero_inserted"] = True  # dy spread with stride-1 zeros before its transform
    if any(d > 1 for d in spec.dilation):
        extra["fft_dilated_kernel"] = True
    return extra


def transform_extent(spec: ConvSpec, direction: str) -> tuple[int, ...]:
    """Spatial size of the padded tensor a case's primitive works over (positions per dim):
    the padded input for convs; for transposed convs the full output (fwd) or the padded,
    cropped output gradient (dgrad, wgrad)."""
    if not spec.transposed:
        return tuple(i + b + a for i, (b, a) in zip(spec.input_size, spec.padding))
    full = tuple(
        (i - 1) * s + d * (k - 1) + 1 + op
        for i, s, d, k, op in zip(spec.input_size, spec.stride, spec.dilation, spec.kernel_size, spec.output_padding)
    )
    if direction == "fwd":
        return full
    return tuple(f - op for f, op in zip(full, spec.output_padding))


class ReferenceBackend:
    """convbench's own kernels: numpy on the CPU, Triton on CUDA."""

    name = "reference"

    def unavailable_reason(self) -> str | None:
        return None  # numpy and scipy are convbench dependencies

    def versions(self) -> dict[str, str]:
        out = {"numpy": np.__version__}
        for dist in ("scipy", "ml_dtypes", "threadpoolctl", "triton", "torch"):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return out

    def devices(self) -> list[str]:
        out = ["cpu"]
        if importlib.util.find_spec("triton") is None or importlib.util.find_spec("torch") is None:
            return out
        import torch

        if torch.cuda.is_available():
            out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return out

    def algorithms(self, case: Case) -> list[str]:
        """Algorithms that can run the case here: CPU floats: direct, im2col, winograd-2x2,
        winograd-4x4, fft (those that support it); CPU integers: int-gemm; CUDA: implicit-gemm."""
        if case.device_kind == "cuda":
            pool = CUDA_ALGORITHMS
        elif case.dtype in INT_DTYPES:
            pool = CPU_INT_ALGORITHMS
        else:
            pool = CPU_FLOAT_ALGORITHMS
        return [a for a in pool if self.unsupported_reason(_with_algorithm(case, a)) is None]

    def unsupported_reason(self, case: Case) -> str | None:
        spec = case.spec
        if case.direction not in DIRECTIONS:
            return f"direction {case.direction!r} is not one of {', '.join(DIRECTIONS)}"
        if spec.kind == "deformable":
            return "kind deformable needs sampling offsets; the reference runs conv and linear layers"
        algorithm = resolve_algorithm(case)
        kind = case.device_kind
        if kind == "cuda":
            if algorithm != triton_igemm.ALGORITHM:
                return f"on cuda the reference runs {triton_igemm.ALGORITHM} (Triton); {algorithm} is a CPU algorithm"
            reason = triton_igemm.unsupported_reason(case)
            if reason:
                return reason
            if case.device not in self.devices():
                return f"device {case.device} is not present here"
            return None
        if kind != "cpu":
            return f"reference runs on cpu (numpy) and cuda (Triton); got device {case.device}"
        if algorithm == triton_igemm.ALGORITHM:
            return f"{triton_igemm.ALGORITHM} is the Triton CUDA kernel; on cpu the reference runs im2col and others"
        if algorithm not in CPU_FLOAT_ALGORITHMS + CPU_INT_ALGORITHMS:
            return f"reference has no algorithm {algorithm!r} (known: {', '.join(ALL_ALGORITHMS)})"
        if case.dtype == "tf32":
            return "tf32 is a CUDA tensor-core mode"
        if case.dtype not in FLOAT_DTYPES + INT_DTYPES:
            return f"the reference CPU kernels run {', '.join(FLOAT_DTYPES + INT_DTYPES)}; got dtype {case.dtype}"
        if algorithm == "int-gemm":
            reason = integer.unsupported_reason(case.dtype)
            if reason:
                return reason
        elif case.dtype in INT_DTYPES:
            return f"{algorithm} computes in floating point; {case.dtype} runs int-gemm (exact int32 accumulation)"
        if case.layout not in ("native", "nchw"):
            return f"the reference CPU kernels compute channels-first (nchw); got layout {case.layout}"
        return spec_reason(spec, case.direction, algorithm)

    def prepare(self, case: Case, inputs: Inputs):
        reason = self.unsupported_reason(case)
        if reason:
            raise ConvbenchError(f"reference: {reason}")
        algorithm = resolve_algorithm(case)
        if case.device_kind == "cuda":
            return triton_igemm.TritonKernel(case, inputs)
        return NumpyKernel(make_algorithm(algorithm, case.threads), case, inputs)


def _with_algorithm(case: Case, algorithm: str) -> Case:
    return Case(case.spec, case.dtype, case.direction, case.layout, case.device, algorithm, case.threads)


# The cost model uses the kernels above; imported last so its own imports find them defined.
from convbench.backends.reference.algorithms import AlgorithmCost, algorithm_costs, measure_errors  # noqa: E402

__all__ = [
    "ReferenceBackend",
    "NumpyKernel",
    "AlgorithmCost",
    "algorithm_costs",
    "measure_errors",
    "CPU_FLOAT_ALGORITHMS",
    "CPU_INT_ALGORITHMS",
    "CUDA_ALGORITHMS",
    "make_algorithm",
    "resolve_algorithm",
]
