"""int-gemm: int8 and int4 convolutions are exact (int32 accumulation)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.backends.base import Case, Inputs
from convbench.backends.reference import ReferenceBackend
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import reference
from convbench.workloads.spec import ConvSpec

BACKEND = ReferenceBackend()
SPECS = [
    ConvSpec(in_channels=6, out_channels=4, input_size=(7, 6), kernel_size=3, padding=((1, 0), (2, 1)), stride=2,
             groups=2),
    ConvSpec(in_channels=3, out_channels=5, input_size=(9,), kernel_size=3, padding=2, dilation=2,
             padding_mode="replicate"),
    ConvSpec(in_channels=4, out_channels=2, input_size=(3, 4, 3), kernel_size=2, transposed=True, stride=2),
]


def _extreme_inputs(spec, low, high, seed=0):
    rng = np.random.default_rng(seed)
    draw = lambda shape: rng.integers(low, high, size=shape, endpoint=True).astype(np.float64)  # noqa: E731
    return Inputs(draw(spec.input_shape), draw(spec.weight_shape), draw((spec.out_channels,)) * 1000,
                  draw(spec.output_shape))


@pytest.mark.parametrize("dtype,low,high", [("int8", -128, 127), ("int4", -8, 7)])
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("index", range(len(SPECS)))
def test_exact_over_the_whole_range(dtype, low, high, direction, index):
    spec = SPECS[index]
    case = Case(spec, dtype, direction)
    assert BACKEND.algorithms(case) == ["int-gemm"]
    inputs = _extreme_inputs(spec, low, high, seed=index)
    kernel = BACKEND.prepare(case, inputs)
    kernel.run()
    got = kernel.result()
    assert got.dtype == np.int32 and kernel.algorithm == "int-gemm" and kernel.error_spread == "element"
    np.testing.assert_array_equal(got.astype(np.float64), reference(spec, direction, inputs))


def test_default_algorithm_for_int8_is_int_gemm():
    spec = SPECS[0]
    kernel = BACKEND.prepare(Case(spec, "int8", "fwd"), make_inputs(spec))
    assert kernel.algorithm == "int-gemm" and kernel.extra["accumulate"] == "int32"


def test_out_of_range_and_non_integer_inputs_are_refused():
    spec = SPECS[0]
    inputs = make_inputs(spec)
    bad = Inputs(inputs.x * 3, inputs.w, inputs.b, inputs.dy)  # x in [-12, 12]
    with pytest.raises(ConvbenchError, match=r"inputs.x: int4 holds -8..7, got values in -12..12"):
        BACKEND.prepare(Case(spec, "int4", "fwd"), bad)
    normal = make_inputs(spec, distribution="normal")
    with pytest.raises(ConvbenchError, match="int8 needs integer values"):
        BACKEND.prepare(Case(spec, "int8", "fwd"), normal)


def test_float_algorithms_refuse_integer_dtypes():
    spec = SPECS[0]
    for algorithm in ("direct", "im2col", "fft"):
        reason = BACKEND.unsupported_reason(Case(spec, "int8", "fwd", algorithm=algorithm))
        assert reason == f"{algorithm} computes in floating point; int8 runs int-gemm (exact int32 accumulation)"
    assert BACKEND.unsupported_reason(Case(spec, "fp32", "fwd", algorithm="int-gemm")) == (
        "int-gemm is the exact integer reference for int8/int4; got dtype fp32"
    )
