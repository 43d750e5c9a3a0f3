"""Verification: real kernels pass, deliberately wrong results are caught, in every dtype."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from convbench.backends.base import Case, Inputs
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import magnitude, reference
from convbench.harness.verify import (
    UNIT_ROUNDOFF,
    Verification,
    _spread_max,
    algorithm_family,
    default_spread,
    reduction_length,
    tolerance,
    verify,
    winograd_tile,
)
from convbench.workloads.spec import DIRECTIONS, DTYPES, ConvSpec

STORAGE = {
    "fp32": np.float32, "tf32": np.float32, "fp16": np.float16, "bf16": ml_dtypes.bfloat16,
    "fp8": ml_dtypes.float8_e4m3fn, "int8": np.int32, "int4": np.int32,
}


def stored(a: np.ndarray, dtype: str) -> np.ndarray:
    """What a kernel of ``dtype`` returns for the exact result ``a``: rounded to nearest in the
    storage format (int8/int4: the int32 accumulator)."""
    if dtype in ("int8", "int4"):
        return np.rint(a).astype(np.int32)
    return a.astype(STORAGE[dtype])


MID = ConvSpec(in_channels=16, out_channels=16, input_size=(10, 10), kernel_size=3, padding=1, batch=2)
LONG = ConvSpec(in_channels=512, out_channels=512, input_size=(7, 7), kernel_size=3, padding=1)


# ---- the exact result, rounded, passes -------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES + ("fp8",))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_exact_result_rounded_to_the_dtype_passes(dtype, direction):
    inputs = make_inputs(MID)
    case = Case(spec=MID, dtype=dtype, direction=direction)
    v = verify(stored(reference(MID, direction, inputs), dtype), case, inputs)
    assert v.ok, v.message
    assert v.message == "" and v.error_bound_ratio <= 1


def test_truncated_bf16_passes_but_two_ulps_do_not():
    """The bound allows an ulp of output rounding (round toward zero passes), not two."""
    inputs = make_inputs(LONG)
    case = Case(spec=LONG, dtype="bf16", direction="fwd")
    exact = reference(LONG, "fwd", inputs)
    bits = exact.astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)  # truncate to bf16
    truncated = bits.view(np.float32)
    assert verify(truncated, case, inputs).ok
    ulp = np.abs(np.spacing(truncated.astype(ml_dtypes.bfloat16)).astype(np.float64))
    v = verify(truncated + 2.5 * ulp * np.sign(exact), case, inputs)
    assert not v.ok


# ---- deliberately wrong results are caught -----------------------------------------------------
def _wrong_results(spec: ConvSpec, direction: str, inputs: Inputs) -> dict[str, np.ndarray]:
    """Results of plausible bugs, computed exactly by the oracle."""
    out = {}
    # one input element off by one (the operand the direction reads besides w)
    name = "dy" if direction == "dgrad" else "x"
    bumped = getattr(inputs, name).copy()
    bumped[(0, 0) + tuple(s // 2 for s in bumped.shape[2:])] += 1
    out["input element off by one"] = reference(spec, direction, Inputs(
        x=bumped if name == "x" else inputs.x, w=inputs.w, b=inputs.b,
        dy=bumped if name == "dy" else inputs.dy))
    # padding shifted by one (same output shape)
    (b0, a0), *rest = spec.padding
    shifted = spec.with_(padding=((b0 - 1, a0 + 1), *rest))
    out["padding shifted"] = reference(shifted, direction, inputs)
    # padding mode confused
    out["replicate instead of zeros"] = reference(spec.with_(padding_mode="replicate"), direction, inputs)
    # weights transposed (K == C)
    if direction == "wgrad":
        out["weights transposed"] = reference(spec, direction, inputs).swapaxes(0, 1)
    else:
        out["weights transposed"] = reference(spec, direction, Inputs(
            x=inputs.x, w=np.ascontiguousarray(inputs.w.swapaxes(0, 1)), b=inputs.b, dy=inputs.dy))
    # one result element off by one, where the dtype resolves 1 (smallest |expected|)
    exact = reference(spec, direction, inputs)
    off = exact.copy()
    off.flat[np.argmin(np.abs(exact))] += 1
    out["result element off by one"] = off
    return out


@pytest.mark.parametrize("dtype", DTYPES + ("fp8",))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_wrong_results_are_caught(dtype, direction):
    inputs = make_inputs(MID, 1)
    case = Case(spec=MID, dtype=dtype, direction=direction)
    expected, mag = reference(MID, direction, inputs), magnitude(MID, direction, inputs)
    for bug, result in _wrong_results(MID, direction, inputs).items():
        v = verify(stored(result, dtype), case, inputs, expected=expected, magnitude=mag)
        assert not v.ok, f"{bug} not caught ({dtype} {direction}): ratio {v.error_bound_ratio}"
        assert v.error_bound_ratio > 1 and "allowed" in v.message


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("direction", ["fwd", "dgrad"])
def test_wrong_results_are_caught_on_long_reductions(dtype, direction):
    """512 x 3 x 3 = 4608 terms per output: still caught in fp16 and bf16."""
    inputs = make_inputs(LONG)
    case = Case(spec=LONG, dtype=dtype, direction=direction)
    expected, mag = reference(LONG, direction, inputs), magnitude(LONG, direction, inputs)
    for bug, result in _wrong_results(LONG, direction, inputs).items():
        v = verify(stored(result, dtype), case, inputs, expected=expected, magnitude=mag)
        assert not v.ok, f"{bug} not caught ({dtype} {direction})"


def test_integers_beyond_fp32_exact_range_get_the_accumulation_term():
    """Integer inputs whose sums of |terms| pass 2^24 round in fp32; those elements only get the
    accumulation allowance, the others stay exact."""
    spec = ConvSpec(in_channels=256, out_channels=8, input_size=(6, 6), kernel_size=1, bias=False)
    inputs = make_inputs(spec)
    low_bits = make_inputs(spec, 1).x
    big = Inputs(x=inputs.x * 2.0**17 + low_bits, w=inputs.w, b=None, dy=inputs.dy)  # integers to 2^19
    mag = magnitude(spec, "fwd", big)
    assert mag.max() > 2**24
    x32, w32 = big.x.astype(np.float32), big.w.astype(np.float32)
    result = np.einsum("nchw,kc->nkhw", x32, w32[:, :, 0, 0])  # fp32 sums: not exact
    expected = reference(spec, "fwd", big)
    assert np.any(result != expected)
    case = Case(spec=spec, dtype="fp32")
    assert verify(result, case, big).ok
    wrong = expected.copy()
    wrong[0, 0, 0, 0] += 2.0**10
    assert not verify(wrong, case, big).ok


def test_int8_must_be_exact():
    inputs = make_inputs(MID)
    case = Case(spec=MID, dtype="int8")
    exact = reference(MID, "fwd", inputs).astype(np.int32)
    assert verify(exact, case, inputs) == Verification(True, 0.0, 0.0, 0.0, "")
    off = exact.copy()
    off[1, 3, 4, 5] += 1
    v = verify(off, case, inputs)
    assert not v.ok and v.error_bound_ratio == math.inf and v.max_abs_error == 1
    assert "(1, 3, 4, 5)" in v.message and "int8" in v.message


def test_int8_refuses_inputs_it_cannot_hold():
    inputs = make_inputs(MID, 0, "normal")
    with pytest.raises(ConvbenchError, match="int8 needs integer inputs"):
        verify(np.zeros(MID.output_shape), Case(spec=MID, dtype="int8"), inputs)


# ---- real kernels pass ---------------------------------------------------------------------------
torch_specs = {
    "512x3x3": LONG,
    "wgrad-8192": ConvSpec(in_channels=16, out_channels=16, input_size=(64, 64), kernel_size=3, padding=1, batch=2),
    "2048x1x1": ConvSpec(in_channels=2048, out_channels=64, input_size=(7, 7), kernel_size=1, batch=1),
    "grouped-strided-dilated": ConvSpec(in_channels=32, out_channels=64, input_size=(15, 15), kernel_size=3, stride=2,
                                        dilation=2, padding=2, groups=4, batch=2),
    "transposed": ConvSpec(in_channels=32, out_channels=16, input_size=(8, 8), kernel_size=4, stride=2, padding=1,
                           transposed=True, batch=2),
    "1d": ConvSpec(in_channels=64, out_channels=32, input_size=(50,), kernel_size=5, padding=2, batch=2),
    "3d": ConvSpec(in_channels=16, out_channels=16, input_size=(4, 8, 8), kernel_size=3, padding=1),
}


def _torch_result(torch, spec, direction, inputs, dtype):
    td = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    x, w, dy = (torch.tensor(a, dtype=td) for a in (inputs.x, inputs.w, inputs.dy))
    b = torch.tensor(inputs.b, dtype=td) if inputs.b is not None else None
    pad = [p for p, _ in spec.padding]
    if direction == "fwd":
        out = torch.ops.aten.convolution(x, w, b, spec.stride, pad, spec.dilation, spec.transposed,
                                         spec.output_padding, spec.groups)
    else:
        mask = [direction == "dgrad", direction == "wgrad", False]
        dx, dw, _ = torch.ops.aten.convolution_backward(dy, x, w, None, spec.stride, pad, spec.dilation,
                                                        spec.transposed, spec.output_padding, spec.groups, mask)
        out = dx if direction == "dgrad" else dw
    assert out.dtype == td
    return out.float().numpy()


@pytest.mark.parametrize("name", list(torch_specs))
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_real_torch_cpu_results_pass(name, dtype):
    torch = pytest.importorskip("torch")
    spec = torch_specs[name]
    for distribution in ("int", "normal"):
        inputs = make_inputs(spec, 0, distribution)
        for direction in DIRECTIONS:
            if dtype == "fp16" and direction == "wgrad" and name == "512x3x3":
                continue  # torch's CPU fp16 weight gradient is oneDNN's reference kernel: 4 s here
            result = _torch_result(torch, spec, direction, inputs, dtype)
            v = verify(result, Case(spec=spec, dtype=dtype, direction=direction), inputs)
            assert v.ok, f"{name} {distribution} {direction}: {v.message}"
            if distribution == "int" and dtype == "fp32":
                assert v.max_abs_error == 0  # integers in fp32: exact


def test_real_int8_kernel_is_exact():
    """oneDNN's int8 conv through torch (uint8 activations with zero point 128, int8 weights,
    unit scales, fp32 output) gives the exact result."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch.ops.onednn, "qconv2d_pointwise"):
        pytest.skip("torch has no onednn.qconv2d_pointwise")
    spec = ConvSpec(in_channels=64, out_channels=32, input_size=(12, 12), kernel_size=3, padding=1, bias=False,
                    batch=2)
    inputs = make_inputs(spec)
    zp = inputs.x_zero_point
    qx = torch.tensor(inputs.x + zp, dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    qw = torch.tensor(inputs.w, dtype=torch.int8)
    scales = torch.ones(spec.out_channels, dtype=torch.float64)
    try:
        packed = torch.ops.onednn.qconv_prepack(qw, scales, 1.0, zp, [1, 1], [1, 1], [1, 1], 1, list(spec.input_shape))
        y = torch.ops.onednn.qconv2d_pointwise(qx, 1.0, zp, packed, scales, torch.zeros(spec.out_channels,
                                               dtype=torch.int64), None, [1, 1], [1, 1], [1, 1], 1, 1.0, 0,
                                               torch.float32, "none", [], "")
    except RuntimeError as exc:  # an ISA without int8 support
        pytest.skip(f"oneDNN int8 conv unavailable: {exc}")
    v = verify(y.contiguous().numpy(), Case(spec=spec, dtype="int8"), inputs)
    assert v.ok and v.max_abs_error == 0, v.message


# ---- algorithms that spread their rounding ----------------------------------------------------
def _winograd_f23_fwd(x: np.ndarray, w: np.ndarray, dtype) -> np.ndarray:
    """A 1-D Winograd F(2,3), stride 1, no padding: transforms in float32, the transformed
    operands rounded to ``dtype`` (as tensor-core Winograd does), products and sums in float32."""
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)
    n, c, width = x.shape
    tiles = (width - 2) // 2
    d = np.stack([x[:, :, 2 * t: 2 * t + 4] for t in range(tiles)], axis=2).astype(np.float32)  # (n, c, t, 4)
    v = (d @ bt.T).astype(dtype).astype(np.float32)
    u = (w.astype(np.float32) @ g.T).astype(dtype).astype(np.float32)  # (k, c, 4)
    m = np.einsum("nctx,kcx->nktx", v, u)
    y = m @ at.T  # (n, k, t, 2)
    return y.reshape(n, w.shape[0], 2 * tiles)


@pytest.mark.parametrize("distribution", ["int", "normal"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_winograd_passes_with_output_spread_only(distribution, dtype):
    spec = ConvSpec(in_channels=64, out_channels=8, input_size=(66,), kernel_size=3, bias=False, batch=2)
    inputs = make_inputs(spec, 0, distribution)
    storage = {"fp32": np.float32, "fp16": np.float16}[dtype]
    result = _winograd_f23_fwd(inputs.x, inputs.w, storage).astype(storage)
    case = Case(spec=spec, dtype=dtype, algorithm="winograd-2x2")
    v = verify(result, case, inputs)  # the algorithm's name selects the output spread
    assert v.ok, v.message
    assert verify(result, case, inputs, spread="element") == v  # widened for Winograd
    if distribution == "normal" and dtype == "fp16":
        # judged as a direct kernel, element by element, the same result need not pass; the
        # Winograd bound is looser
        direct = verify(result, case, inputs, algorithm="direct")
        assert direct.error_bound_ratio > v.error_bound_ratio


def test_fft_passes():
    spec = ConvSpec(in_channels=32, out_channels=8, input_size=(40, 40), kernel_size=5, padding=2, bias=False)
    for distribution in ("int", "normal"):
        inputs = make_inputs(spec, 0, distribution)
        xp = np.pad(inputs.x, ((0, 0), (0, 0), (2, 2), (2, 2))).astype(np.float32)
        size = xp.shape[2:]
        xf = np.fft.rfft2(xp, s=size)
        wf = np.fft.rfft2(inputs.w[:, :, ::-1, ::-1].astype(np.float32), s=size)
        yf = np.einsum("ncij,kcij->nkij", xf, wf)
        full = np.fft.irfft2(yf, s=size).astype(np.float32)
        result = full[:, :, 4:, 4:]
        assert result.shape == spec.output_shape
        v = verify(result, Case(spec=spec, dtype="fp32", algorithm="fft"), inputs)
        assert v.ok, v.message
        # integer data and a direct kernel's bound: FFT's rounding is not exact
        if distribution == "int":
            assert not verify(result, Case(spec=spec, dtype="fp32"), inputs).ok


def test_spread_max():
    m = np.arange(2 * 1 * 5 * 4, dtype=float).reshape(2, 1, 5, 4)
    np.testing.assert_array_equal(_spread_max(m, "element", None), m)
    assert np.all(_spread_max(m, "output", None) == m.max())
    assert np.all(_spread_max(m, "tile", None) == m.max())  # no tile shape: the whole output
    t = _spread_max(m, "tile", (2, 2))
    assert t.shape == m.shape
    assert t[0, 0, 0, 0] == m[0, 0, 1, 1] and t[0, 0, 1, 3] == m[0, 0, 1, 3]
    assert t[0, 0, 4, 0] == m[0, 0, 4, 1]  # the cut tile at the edge
    assert t[1, 0, 0, 0] == m[1, 0, 1, 1]  # per sample
    with pytest.raises(ConvbenchError, match="tile"):
        _spread_max(m, "tile", (2, 2, 2))


def test_tile_spread_in_verify():
    spec = ConvSpec(in_channels=4, out_channels=2, input_size=(8, 8), kernel_size=3, padding=1, bias=False)
    inputs = make_inputs(spec, 0, "normal")
    expected, mag = reference(spec, "fwd", inputs), magnitude(spec, "fwd", inputs)
    case = Case(spec=spec, dtype="fp16")
    atol, rtol = tolerance("fp16", None, "fwd", reduction_length(spec, "fwd"))
    # an error just inside the tile-max bound at the element with the smallest magnitude
    where = np.unravel_index(np.argmin(mag), mag.shape)
    tiled = _spread_max(mag, "tile", (2, 2))
    result = expected.copy()
    result[where] += 0.9 * rtol * tiled[where]
    assert verify(result, case, inputs, spread="tile", tile=(2, 2)).ok
    assert not verify(result, case, inputs, spread="element").ok


# ---- the tolerance formula ------------------------------------------------------------------------
def test_tolerance_formula():
    assert tolerance("int8", "default", "fwd", 4608) == (0.0, 0.0)
    assert tolerance("int4", "winograd", "wgrad", 10**6, exact_inputs=False) == (0.0, 0.0)
    # exact integer inputs, direct kernels: only the final rounding (added by verify) remains
    for dtype in ("fp32", "tf32", "fp16", "bf16"):
        atol, rtol = tolerance(dtype, "default", "fwd", 4608, exact_inputs=True)
        assert rtol == 0 and 0 < atol < 1e-7
    # inexact inputs: input rounding 2u (+ 4u for 16-bit accumulation) + 8 sqrt(n) 2^-24
    _, r = tolerance("fp16", None, "fwd", 4608)
    u = 2.0**-11
    assert r == pytest.approx(2 * u + u * u + 4 * u + 8 * math.sqrt(4608) * 2.0**-24)
    _, r32 = tolerance("fp32", None, "fwd", 4608)
    assert r32 == pytest.approx(2 * 2.0**-24 + 8 * math.sqrt(4608) * 2.0**-24, rel=1e-6)
    _, rtf = tolerance("tf32", None, "fwd", 4608)
    assert r32 < rtf < r
    assert tolerance("bf16", None, "fwd", 4608)[1] > r
    # grows with the reduction
    assert tolerance("fp32", None, "wgrad", 10**6)[1] > tolerance("fp32", None, "wgrad", 100)[1]
    # Winograd and FFT: larger, even for exact inputs; Winograd grows with the dims
    w2 = tolerance("fp32", "winograd-4x4", "fwd", 576, exact_inputs=True, dims=2)[1]
    w3 = tolerance("fp32", "winograd-4x4", "fwd", 576, exact_inputs=True, dims=3)[1]
    f = tolerance("fp32", "fft", "fwd", 576, exact_inputs=True)[1]
    assert 0 < w2 < w3 and f > 0
    assert w2 > tolerance("fp32", "im2col", "fwd", 576)[1]
    # larger tiles are worse: cuDNN's fp32 9x9_5x5 weight gradient erred by 8,200 u of the
    # largest magnitude on an H200; the bound leaves twice that
    big = tolerance("fp32", "cudnn::winograd_nonfused::winogradWgradOutput9x9_5x5", "wgrad", 12544,
                    exact_inputs=True, dims=2)[1]
    assert big >= 2 * 8200 * 2.0**-24 and big > w2
    assert tolerance("fp32", "winograd", "fwd", 576, dims=2)[1] == big_default(576)
    with pytest.raises(ConvbenchError, match="dtype"):
        tolerance("fp12", None, "fwd", 9)
    with pytest.raises(ConvbenchError, match="direction"):
        tolerance("fp32", None, "bwd", 9)
    with pytest.raises(ConvbenchError, match="reduction_length"):
        tolerance("fp32", None, "fwd", 0)


def big_default(n):
    """An unnamed Winograd tile is taken as alpha = 9."""
    return tolerance("fp32", "winograd F(5x5,5x5)", "fwd", n, dims=2)[1]


def test_winograd_tile_from_names():
    assert winograd_tile("winograd-2x2") == 4
    assert winograd_tile("winograd-4x4") == 6
    assert winograd_tile("F(4x4,3x3)") == 6
    assert winograd_tile("winograd_f6x6_3x3") == 8
    assert winograd_tile("void cudnn::winograd_nonfused::winogradWgradData4x4<float, float>") == 6
    assert winograd_tile("gemm;void cudnn::winograd_nonfused::winogradForwardData9x9_5x5<float, float>") == 9
    assert winograd_tile("jit_wino") == 9


def test_algorithm_families_and_spread():
    assert algorithm_family("winograd-4x4") == "winograd"
    assert algorithm_family("pad+winograd-2x2") == "winograd"
    assert algorithm_family("CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING") == "fft"
    assert algorithm_family("sm90_xmma_fprop_implicit_gemm_f16f16") == "direct"
    assert algorithm_family("brg_conv_fwd:avx10_1_512_amx") == "direct"
    assert algorithm_family(None) == "direct"
    assert default_spread("fft") == "output" and default_spread("im2col") == "element"


def test_reduction_length():
    assert reduction_length(LONG, "fwd") == 4608
    assert reduction_length(LONG, "dgrad") == 4608
    assert reduction_length(LONG, "wgrad") == 49
    t = ConvSpec(in_channels=8, out_channels=6, input_size=(5, 5), kernel_size=3, stride=2, groups=2,
                 transposed=True, batch=3)
    assert reduction_length(t, "fwd") == 4 * 9
    assert reduction_length(t, "dgrad") == 3 * 9
    assert reduction_length(t, "wgrad") == 3 * 25


def test_output_rounding_is_relative_to_expected():
    """bf16 results of a few thousand are off by whole units after rounding, and pass."""
    spec = ConvSpec(in_channels=4, out_channels=4, input_size=(4, 4), kernel_size=1, bias=False)
    inputs = make_inputs(spec)
    scaled = Inputs(x=inputs.x * 500, w=inputs.w, b=None, dy=inputs.dy)  # |y| up to 16000
    exact = reference(spec, "fwd", scaled)
    result = stored(exact, "bf16")
    assert np.abs(result.astype(np.float64) - exact).max() >= 8
    assert verify(result, Case(spec=spec, dtype="bf16"), scaled).ok
    assert UNIT_ROUNDOFF["bf16"] == 2.0**-8


# ---- malformed results -------------------------------------------------------------------------
def test_wrong_shape():
    inputs = make_inputs(MID)
    v = verify(np.zeros((2, 16, 10, 9)), Case(spec=MID), inputs)
    assert not v.ok and v.error_bound_ratio == math.inf
    assert v.message == "result shape (2, 16, 10, 9) != expected (2, 16, 10, 10) (fwd output_shape)"
    v = verify(np.zeros(MID.output_shape), Case(spec=MID, direction="wgrad"), inputs)
    assert not v.ok and "weight_shape" in v.message


def test_nan_and_inf():
    inputs = make_inputs(MID)
    result = reference(MID, "fwd", inputs)
    result[0, 1, 2, 3] = np.nan
    result[1, 0, 0, 0] = np.inf
    v = verify(result.astype(np.float16), Case(spec=MID, dtype="fp16"), inputs)
    assert not v.ok and math.isinf(v.max_abs_error)
    assert v.message == "result has 1 NaN and 1 Inf of 3200 values (first at (0, 1, 2, 3))"


def test_message_and_errors():
    inputs = make_inputs(MID)
    exact = reference(MID, "fwd", inputs)
    result = exact.copy()
    where = np.unravel_index(np.argmin(np.abs(exact)), exact.shape)
    result[where] += 3
    v = verify(result.astype(np.float16), Case(spec=MID, dtype="fp16"), inputs)
    assert not v.ok and v.max_abs_error == 3
    assert v.message.startswith(f"abs error 3 at {tuple(int(i) for i in where)} > allowed ")
    assert "fp16, default, rtol 0, sum|x||w| " in v.message and "1 of 3200 values outside" in v.message
    # max_rel_error: |err| / |expected|, the absolute error where expected is 0
    assert v.max_rel_error == (3 / abs(exact[where]) if exact[where] else 3)


def test_given_oracle_is_used_and_checked():
    inputs = make_inputs(MID)
    case = Case(spec=MID, dtype="fp32")
    exact, mag = reference(MID, "fwd", inputs), magnitude(MID, "fwd", inputs)
    assert verify(exact, case, inputs, expected=exact, magnitude=mag).ok
    assert not verify(exact, case, inputs, expected=exact + 1, magnitude=mag).ok
    with pytest.raises(ConvbenchError, match="expected"):
        verify(exact, case, inputs, expected=exact[:1], magnitude=mag)
    with pytest.raises(ConvbenchError, match="spread"):
        verify(exact, case, inputs, spread="plane")
