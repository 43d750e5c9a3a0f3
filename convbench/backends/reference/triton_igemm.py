"""``implicit-gemm``: a Triton forward convolution for CUDA, as an implicit GEMM.

The conv is the GEMM ``Y (M x K) = A (M x R*S*C) @ B (R*S*C x K)`` with ``M = N*P*Q`` output
positions, where A (the im2col matrix) is never built: each program computes a
``BLOCK_M x BLOCK_N`` tile of Y, walking the reduction in ``BLOCK_K`` slices of one kernel tap's
channels and loading the A slice straight from the NHWC input (addresses from (n, p, q), the
tap (r, s), stride, padding and dilation; out-of-image taps masked to zero). B is the weight in
RSCK layout (``w[r, s, c, k]``, i.e. (R*S*C) x K row-major), reordered once in ``prepare``.
Activations and output are NHWC. Accumulation: fp32 for fp16/bf16/fp32/tf32 (``tl.dot`` with
``input_precision="ieee"`` for fp32, ``"tf32"`` for tf32, where Triton truncates the fp32
operands to tf32 rather than rounding them), int32 for int8 (exact). The output is
written in the input dtype (int32 for int8). Tile sizes are autotuned (``triton.autotune`` over
:func:`configs`, keyed on the problem's sizes); the tuning runs in ``prepare`` and is part of
``setup_s``.

Directions: fwd of 1D and 2D convs (1D as H = 1), groups 1, zero padding (any, asymmetric
included), any stride and dilation; dgrad at stride 1 as the forward conv of ``dy`` with the
flipped, channel-transposed kernel (reordered in ``prepare``) and padding ``dilation*(k-1) -
pad_before``. Everything else is answered by :func:`unsupported_reason`.

Without a GPU the same kernel runs in Triton's interpreter (``TRITON_INTERPRET=1`` set before
``triton`` is imported) on CPU torch tensors; that is how the test-suite checks it.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import Case, Inputs
from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec

ALGORITHM = "implicit-gemm"
#: Case dtypes the kernel runs.
DTYPES: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8")
#: Largest element count of one tensor (int32 address arithmetic in the kernel).
MAX_ELEMENTS = 2**31 - 1


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def configs():
    """Autotuning candidates (BLOCK_M over N*P*Q, BLOCK_N over K, BLOCK_K over one tap's C).

    The interpreter gets one small tile (it is slow, and tuning would only repeat the work)."""
    import triton

    if interpreting():
        return [triton.Config({"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "GROUP_M": 4}, num_warps=4)]
    shapes = [  # (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages)
        (128, 128, 64, 8, 3),
        (128, 64, 64, 4, 4),
        (64, 128, 64, 4, 4),
        (128, 256, 64, 8, 3),
        (256, 64, 64, 8, 3),
        (256, 128, 64, 8, 3),
        (64, 64, 64, 4, 4),
        (64, 64, 64, 4, 6),
        (32, 64, 64, 4, 4),
        (64, 32, 32, 4, 4),
    ]
    return [
        triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "GROUP_M": 8}, num_warps=w, num_stages=s)
        for m, n, k, w, s in shapes
    ]


@functools.lru_cache(maxsize=None)
def kernel():
    """The autotuned Triton kernel (built once per process; needs triton)."""
    import triton
    import triton.language as tl

    @triton.autotune(configs=configs(), key=["M", "H", "W", "C", "K", "P", "Q", "R", "S", "str_h", "str_w"])
    @triton.heuristics({"EVEN_C": lambda args: args["C"] % args["BLOCK_K"] == 0})
    @triton.jit
    def conv_igemm_fwd(
        x_ptr, w_ptr, b_ptr, y_ptr,
        M, H, W, C, K, P, Q, R, S,
        str_h, str_w, pad_h, pad_w, dil_h, dil_w,
        HAS_BIAS: tl.constexpr, IS_INT: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr,
        CHECK_HW: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
        EVEN_C: tl.constexpr,
    ):
        # CHECK_HW: some taps can fall outside the image (padding or a kernel wider than 1);
        # EVEN_C: BLOCK_K divides C, so no channel block needs a mask.
        # Program -> (tile row, tile column), GROUP_M row tiles side by side for L2 reuse of B.
        pid = tl.program_id(0)
        tiles_m = tl.cdiv(M, BLOCK_M)
        tiles_n = tl.cdiv(K, BLOCK_N)
        per_group = GROUP_M * tiles_n
        first_m = (pid // per_group) * GROUP_M
        group_rows = tl.minimum(tiles_m - first_m, GROUP_M)
        pid_m = first_m + (pid % per_group) % group_rows
        pid_n = (pid % per_group) // group_rows

        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        offs_k = tl.arange(0, BLOCK_K)
        m_ok = offs_m < M
        n_ok = offs_n < K
        q = offs_m % Q
        p = (offs_m // Q) % P
        img = offs_m // (P * Q)
        h0 = p * str_h - pad_h
        w0 = q * str_w - pad_w
        x_img = img * (H * W * C)

        if IS_INT:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
        else:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        c_blocks = tl.cdiv(C, BLOCK_K)
        # One flat loop over (tap, channel block) so the pipeliner sees every reduction step.
        for it in range(0, R * S * c_blocks):
            tap = it // c_blocks
            c0 = (it % c_blocks) * BLOCK_K
            r = tap // S
            s = tap % S
            h = h0 + r * dil_h
            w = w0 + s * dil_w
            if CHECK_HW:
                row_ok = m_ok & (h >= 0) & (h < H) & (w >= 0) & (w < W)
            else:
                row_ok = m_ok
            cc = c0 + offs_k
            if EVEN_C:
                a_mask = row_ok[:, None]
                b_mask = n_ok[None, :]
            else:
                c_ok = cc < C
                a_mask = row_ok[:, None] & c_ok[None, :]
                b_mask = c_ok[:, None] & n_ok[None, :]
            a = tl.load(x_ptr + (x_img + (h * W + w) * C)[:, None] + cc[None, :], mask=a_mask, other=0)
            b = tl.load(w_ptr + ((tap * C) + cc)[:, None] * K + offs_n[None, :], mask=b_mask, other=0)
            if WIDEN:  # interpreter only: its tl.dot multiplies bf16 bit patterns (exact widening)
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            if IS_INT:
                acc = tl.dot(a, b, acc, out_dtype=tl.int32)
            else:
                acc = tl.dot(a, b, acc, input_precision=PRECISION)
        if HAS_BIAS:
            acc += tl.load(b_ptr + offs_n, mask=n_ok, other=0)[None, :]
        tl.store(
            y_ptr + offs_m[:, None] * K + offs_n[None, :],
            acc.to(y_ptr.dtype.element_ty),
            mask=m_ok[:, None] & n_ok[None, :],
        )

    return conv_igemm_fwd


# ---- support ------------------------------------------------------------------------------------
def unsupported_reason(case: Case) -> str | None:
    """None when implicit-gemm runs this case (given a CUDA device); else one line saying why."""
    spec = case.spec
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install 'convbench[triton]')"
    if importlib.util.find_spec("torch") is None:
        return "implicit-gemm needs torch for its CUDA tensors (pip install torch)"
    if case.dtype not in DTYPES:
        return f"implicit-gemm runs {', '.join(DTYPES)}; got dtype {case.dtype} (tl.dot has no int4)"
    if case.layout not in ("native", "nhwc"):
        return f"implicit-gemm computes nhwc activations; got layout {case.layout}"
    return spec_unsupported_reason(spec, case.direction)


def spec_unsupported_reason(spec: ConvSpec, direction: str) -> str | None:
    """The shape and direction part of :func:`unsupported_reason` (no device, dtype or layout)."""
    if spec.kind == "deformable":
        return "implicit-gemm runs plain convs; kind deformable needs sampling offsets"
    if spec.dims == 3:
        return "implicit-gemm runs 1D and 2D convs; got 3D"
    if spec.groups != 1:
        return f"implicit-gemm runs groups=1; got groups={spec.groups}"
    if spec.transposed:
        return "implicit-gemm runs regular convs; transposed convs are not implemented in Triton"
    if spec.padding_mode != "zeros":
        return f"implicit-gemm pads with zeros; got padding_mode {spec.padding_mode}"
    if direction == "wgrad":
        return "implicit-gemm runs fwd (and dgrad at stride 1); wgrad is not implemented in Triton"
    if direction == "dgrad" and any(s != 1 for s in spec.stride):
        return (
            "implicit-gemm runs dgrad at stride 1 only (as a forward conv with the flipped kernel); "
            f"got stride {'x'.join(map(str, spec.stride))}"
        )
    big = max(math.prod(spec.input_shape), math.prod(spec.output_shape))
    if big > MAX_ELEMENTS:
        return f"implicit-gemm addresses tensors of up to 2^31-1 elements; this one has {big}"
    return None


# ---- the problem as the kernel sees it --------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """A forward conv in the kernel's terms (2D; a 1D conv has H = P = R = 1): input (N, H, W, C)
    NHWC, weight (R, S, C, K), output (N, P, Q, K), stride, padding before, dilation (h, w)."""

    n: int
    h: int
    w: int
    c: int
    k: int
    p: int
    q: int
    r: int
    s: int
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]

    @property
    def m(self) -> int:
        """GEMM rows: output positions N*P*Q."""
        return self.n * self.p * self.q


def _as_2d(t: tuple[int, ...], fill: int) -> tuple[int, int]:
    return (fill, t[0]) if len(t) == 1 else (t[0], t[1])


def problem(spec: ConvSpec, direction: str) -> Problem:
    """The kernel problem of fwd (the conv itself) or dgrad at stride 1 (the forward conv of dy
    with the flipped, transposed kernel, padded by dilation*(k-1) - pad_before)."""
    h, w = _as_2d(spec.input_size, 1)
    r, s = _as_2d(spec.kernel_size, 1)
    p, q = _as_2d(spec.output_size, 1)
    st = _as_2d(spec.stride, 1)
    dil = _as_2d(spec.dilation, 1)
    pad = _as_2d(tuple(b for b, _ in spec.padding), 0)
    if direction == "fwd":
        return Problem(spec.batch, h, w, spec.in_channels, spec.out_channels, p, q, r, s, st, pad, dil)
    pad_t = (dil[0] * (r - 1) - pad[0], dil[1] * (s - 1) - pad[1])
    return Problem(spec.batch, p, q, spec.out_channels, spec.in_channels, h, w, r, s, (1, 1), pad_t, dil)


def torch_dtype(dtype: str):
    """(operand dtype, output dtype) in torch for a case dtype."""
    import torch

    return {
        "fp32": (torch.float32, torch.float32),
        "tf32": (torch.float32, torch.float32),
        "fp16": (torch.float16, torch.float16),
        "bf16": (torch.bfloat16, torch.bfloat16),
        "int8": (torch.int8, torch.int32),
    }[dtype]


def _to_nhwc(a: np.ndarray, dims: int) -> np.ndarray:
    """(N, C, *S) -> (N, H, W, C) with H = 1 for 1D."""
    if dims == 1:
        a = a[:, :, None, :]
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _weight_rsck(w: np.ndarray, dims: int, direction: str) -> np.ndarray:
    """Weight (K, C, *k) -> (R, S, C, K) for fwd; for dgrad the flipped, transposed kernel
    (R, S, K, C) with taps reversed."""
    if dims == 1:
        w = w[:, :, None, :]
    if direction == "dgrad":
        w = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, K, R, S) flipped: a conv K -> C
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


class TritonKernel:
    """A prepared implicit-GEMM launch (fwd, or dgrad at stride 1).

    ``device`` is a torch device string: ``cuda:0`` normally; ``cpu`` only under the Triton
    interpreter (tests)."""

    layout = "nhwc"
    error_spread = "element"

    def __init__(self, case: Case, inputs: Inputs, device: str | None = None) -> None:
        import torch

        start = time.perf_counter()
        self.algorithm = ALGORITHM
        self._case = case
        spec = case.spec
        self._spec = spec
        self._direction = case.direction
        self._device = torch.device(device or case.device)
        self._problem = problem(spec, case.direction)
        op_dtype, out_dtype = torch_dtype(case.dtype)
        self._is_int = case.dtype == "int8"
        self._precision = "tf32" if case.dtype == "tf32" else "ieee"
        src = inputs.x if case.direction == "fwd" else inputs.dy
        self._check_int(src, inputs.w)
        pr = self._problem
        self._a = torch.from_numpy(_to_nhwc(np.asarray(src, np.float64), spec.dims)).to(self._device, op_dtype)
        self._w = torch.from_numpy(_weight_rsck(np.asarray(inputs.w, np.float64), spec.dims, case.direction)).to(
            self._device, op_dtype
        )
        self._bias = None
        if case.direction == "fwd" and spec.bias and inputs.b is not None:
            bias_dtype = torch.int32 if self._is_int else torch.float32
            b = np.asarray(inputs.b, np.float64)
            if not self._is_int:  # the bias is a value of the case dtype, added in fp32
                b = torch.from_numpy(b).to(op_dtype).double().numpy()
            self._bias = torch.from_numpy(b).to(self._device, bias_dtype)
        self._y = torch.empty((pr.n, pr.p, pr.q, pr.k), dtype=out_dtype, device=self._device)
        self._kernel = kernel()
        tiles = lambda meta: (  # noqa: E731
            -(-pr.m // meta["BLOCK_M"]) * -(-pr.k // meta["BLOCK_N"]),
        )
        self._launch = self._kernel[tiles]
        self._args = (
            self._a, self._w, self._bias if self._bias is not None else self._y, self._y,
            pr.m, pr.h, pr.w, pr.c, pr.k, pr.p, pr.q, pr.r, pr.s,
            pr.stride[0], pr.stride[1], pr.pad[0], pr.pad[1], pr.dilation[0], pr.dilation[1],
        )
        self._flags = {
            "HAS_BIAS": self._bias is not None,
            "IS_INT": self._is_int,
            "PRECISION": self._precision,
            "WIDEN": case.dtype == "bf16" and interpreting(),
            "CHECK_HW": not (pr.r == pr.s == 1 and pr.pad == (0, 0)),
        }
        self.run()  # autotune (benchmarks every config) and compile
        self.synchronize()
        self.run()  # one first call with the chosen tile
        self.synchronize()
        self.setup_s = time.perf_counter() - start
        best = getattr(self._kernel, "best_config", None)
        self.extra = {
            "input_precision": self._precision,
            "tf32": case.dtype == "tf32",
            "accumulate": "int32" if self._is_int else "fp32",
            "tile": _describe(best),
        }
        if case.direction == "dgrad":
            self.extra["dgrad_as"] = "fwd conv of dy with flipped, transposed kernel"

    def _check_int(self, src, w) -> None:
        if not self._is_int:
            return
        for name, a in (("x" if self._direction == "fwd" else "dy", src), ("w", w)):
            a = np.asarray(a, np.float64)
            if a.size and (not np.array_equal(a, np.round(a)) or a.min() < -128 or a.max() > 127):
                raise ConvbenchError(f"inputs.{name}: int8 needs integers in -128..127")

    def run(self) -> None:
        """One launch on the current stream (no host synchronisation, no allocation)."""
        self._launch(*self._args, **self._flags)

    def synchronize(self) -> None:
        import torch

        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)

    def result(self) -> np.ndarray:
        """Host copy in canonical layout: fwd (N, K, *out); dgrad (N, C, *in)."""
        import torch

        y = self._y
        if y.dtype == torch.bfloat16:  # numpy has no bfloat16; widening is exact
            y = y.float()
        a = y.cpu().numpy()  # (N, P, Q, K)
        a = np.moveaxis(a, -1, 1)  # (N, K, P, Q)
        if self._spec.dims == 1:
            a = a[:, :, 0, :]
        return np.ascontiguousarray(a)

    def timers(self) -> list[str]:
        if self._device.type == "cuda":
            return ["cuda-graph", "cuda-event-batch", "cuda-event", "wall-batch"]
        return ["wall", "wall-batch"]


def _describe(config) -> str:
    if config is None:
        return ""
    kw = dict(config.kwargs)
    return (
        f"BLOCK_M={kw.get('BLOCK_M')},BLOCK_N={kw.get('BLOCK_N')},BLOCK_K={kw.get('BLOCK_K')},"
        f"warps={config.num_warps},stages={config.num_stages}"
    )
