"""Every reference CPU algorithm, on every spec it claims to support, matches the float64 oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.backends.base import Case
from convbench.backends.reference import CPU_FLOAT_ALGORITHMS, ReferenceBackend
from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec
from reference_helpers import run_case

BACKEND = ReferenceBackend()


@st.composite
def conv_specs(draw):
    """Small valid ConvSpecs over dims, strides, dilations, groups, padding modes, transposed."""
    dims = draw(st.integers(1, 3))
    winograd_friendly = draw(st.booleans())
    depthwise = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, kg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if depthwise:
        cg, kg = 1, draw(st.integers(1, 2))
        groups = draw(st.integers(2, 4))
    transposed = draw(st.booleans())
    max_size = {1: 9, 2: 7, 3: 5}[dims]
    if winograd_friendly:
        kernel, stride, dilation = (3,) * dims, (1,) * dims, (1,) * dims
    else:
        kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    size = tuple(draw(st.integers(1, max_size)) for _ in range(dims))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(dims))
    mode = "zeros" if transposed else draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    output_padding = 0
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    try:
        spec = ConvSpec(
            in_channels=cg * groups,
            out_channels=kg * groups,
            input_size=size,
            kernel_size=kernel,
            stride=stride,
            dilation=dilation,
            padding=padding,
            padding_mode=mode,
            groups=groups,
            bias=draw(st.booleans()),
            batch=draw(st.integers(1, 2)),
            transposed=transposed,
            output_padding=output_padding,
        )
    except ConvbenchError:
        assume(False)
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=conv_specs(), direction=st.sampled_from(["fwd", "dgrad", "wgrad"]))
def test_every_claimed_algorithm_matches_the_oracle(spec, direction):
    base = Case(spec, "fp32", direction)
    claimed = BACKEND.algorithms(base)
    assert "im2col" in claimed and "direct" in claimed and "fft" in claimed  # these run everything
    for algorithm in claimed:
        kernel = run_case(spec, "fp32", direction, algorithm)
        assert kernel.algorithm == algorithm
    for algorithm in set(CPU_FLOAT_ALGORITHMS) - set(claimed):
        assert BACKEND.unsupported_reason(Case(spec, "fp32", direction, algorithm=algorithm))


# Named shapes: each direction x dtype on the features the backend conventions list.
SHAPES = {
    "1d": ConvSpec(in_channels=3, out_channels=4, input_size=(11,), kernel_size=3, padding=1, batch=2),
    "2d": ConvSpec(in_channels=4, out_channels=5, input_size=(7, 6), kernel_size=3, padding=1),
    "3d": ConvSpec(in_channels=2, out_channels=3, input_size=(4, 5, 4), kernel_size=3, padding=1),
    "grouped": ConvSpec(in_channels=6, out_channels=4, input_size=(6, 6), kernel_size=3, padding=1, groups=2),
    "depthwise": ConvSpec(in_channels=4, out_channels=4, input_size=(6, 7), kernel_size=3, padding=1, groups=4),
    "dilated": ConvSpec(in_channels=3, out_channels=3, input_size=(9, 8), kernel_size=3, padding=2, dilation=2),
    "strided": ConvSpec(in_channels=3, out_channels=4, input_size=(9, 8), kernel_size=3, padding=1, stride=2),
    "asymmetric": ConvSpec(in_channels=3, out_channels=2, input_size=(7, 7), kernel_size=3, padding=((0, 2), (1, 0))),
    "reflect": ConvSpec(in_channels=2, out_channels=3, input_size=(6, 5), kernel_size=3, padding=2, padding_mode="reflect"),
    "transposed": ConvSpec(
        in_channels=4, out_channels=6, input_size=(4, 5), kernel_size=3, padding=1, stride=2,
        output_padding=1, transposed=True, groups=2,
    ),
    "linear": ConvSpec(in_channels=8, out_channels=5, input_size=(3,), kernel_size=1, kind="linear", batch=2),
}


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shapes_directions_dtypes(shape, direction, dtype):
    spec = SHAPES[shape]
    algorithms = BACKEND.algorithms(Case(spec, dtype, direction))
    assert algorithms, BACKEND.unsupported_reason(Case(spec, dtype, direction))
    for algorithm in algorithms:
        kernel = run_case(spec, dtype, direction, algorithm)
        want = {"fp32": np.float32, "fp16": np.float16}.get(dtype)
        if want is not None:
            assert kernel.result().dtype == want


def test_default_is_im2col_and_runs_the_normal_distribution():
    spec = SHAPES["2d"]
    kernel = run_case(spec, "fp32", "fwd", "default", distribution="normal")
    assert kernel.algorithm == "im2col"


def test_repeated_runs_give_the_same_result():
    """Work buffers are reused across runs; nothing may leak from one run into the next."""
    for direction in ("fwd", "dgrad", "wgrad"):
        for algorithm in ("direct", "im2col", "winograd-4x4", "fft"):
            spec = SHAPES["transposed"] if algorithm != "winograd-4x4" else SHAPES["2d"]
            if BACKEND.unsupported_reason(Case(spec, "fp32", direction, algorithm=algorithm)):
                continue
            kernel = run_case(spec, "fp32", direction, algorithm)
            first = kernel.result()
            for _ in range(3):
                kernel.run()
            np.testing.assert_array_equal(kernel.result(), first)


def test_threads_limit_runs():
    kernel = run_case(SHAPES["2d"], "fp32", "fwd", "im2col", threads=1)
    assert kernel.extra["blas_threads"] == 1


def test_im2col_batch_chunks(monkeypatch):
    """A column buffer over CHUNK_BYTES is built per chunk of the batch (uneven last chunk)."""
    from convbench.backends.reference import im2col

    monkeypatch.setattr(im2col, "CHUNK_BYTES", 1)  # one sample per chunk
    spec = ConvSpec(in_channels=4, out_channels=6, input_size=(6, 5), kernel_size=3, padding=1, stride=(1, 2),
                    groups=2, batch=3)
    for direction in ("fwd", "dgrad", "wgrad"):
        kernel = run_case(spec, "fp32", direction, "im2col")
        first = kernel.result()
        kernel.run()
        np.testing.assert_array_equal(kernel.result(), first)
    monkeypatch.setattr(im2col, "CHUNK_BYTES", 2 * 4 * 9 * 15 * 4)  # two samples, then one
    for direction in ("fwd", "dgrad", "wgrad"):
        run_case(spec, "fp32", direction, "im2col")
    run_case(spec, "int8", "fwd", "int-gemm")
