"""The reference backend's answers: registry, algorithms, unsupported reasons, kernel attributes."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.backends.base import Backend, Case, Kernel
from convbench.backends.reference import ReferenceBackend
from convbench.backends.registry import get_backend
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.workloads.spec import ConvSpec

BACKEND = ReferenceBackend()
SPEC = ConvSpec(in_channels=4, out_channels=6, input_size=(8, 8), kernel_size=3, padding=1)
STRIDED = SPEC.with_(stride=2)


def test_registry_and_protocol():
    backend = get_backend("reference")
    assert isinstance(backend, ReferenceBackend) and isinstance(backend, Backend)
    assert backend.name == "reference" and backend.unavailable_reason() is None
    assert "cpu" in backend.devices()
    versions = backend.versions()
    assert versions["numpy"] == np.__version__ and "scipy" in versions


def test_algorithm_lists():
    assert BACKEND.algorithms(Case(SPEC)) == ["direct", "im2col", "winograd-2x2", "winograd-4x4", "fft"]
    assert BACKEND.algorithms(Case(STRIDED)) == ["direct", "im2col", "fft"]
    assert BACKEND.algorithms(Case(SPEC, direction="wgrad")) == ["direct", "im2col", "fft"]
    assert BACKEND.algorithms(Case(SPEC, direction="dgrad"))[2:4] == ["winograd-2x2", "winograd-4x4"]
    assert BACKEND.algorithms(Case(SPEC, dtype="int8")) == ["int-gemm"]
    assert BACKEND.algorithms(Case(SPEC, dtype="tf32")) == []
    one_d = ConvSpec(in_channels=2, out_channels=2, input_size=(9,), kernel_size=3)
    assert "winograd-4x4" in BACKEND.algorithms(Case(one_d))


def test_plan_expands_winograd_to_both_variants():
    from convbench.harness.plan import Workload, build_plan

    plan = build_plan([Workload(SPEC)], ["reference"], algorithms=["winograd", "default"],
                      algorithms_of=lambda b, c: get_backend(b).algorithms(c))
    assert [pc.case.algorithm for pc in plan] == ["winograd-2x2", "winograd-4x4", "default"]


@pytest.mark.parametrize(
    "case,reason",
    [
        (Case(STRIDED, algorithm="winograd-2x2"),
         "winograd needs stride 1, dilation 1, 3x3 kernel; got stride 2x2, dilation 1x1, kernel 3x3"),
        (Case(STRIDED, algorithm="winograd"),
         "winograd needs stride 1, dilation 1, 3x3 kernel; got stride 2x2, dilation 1x1, kernel 3x3"),
        (Case(SPEC, dtype="tf32"), "tf32 is a CUDA tensor-core mode"),
        (Case(SPEC, layout="nhwc"), "the reference CPU kernels compute channels-first (nchw); got layout nhwc"),
        (Case(SPEC, device="xpu:0"), "reference runs on cpu (numpy) and cuda (Triton); got device xpu:0"),
        (Case(SPEC, algorithm="gemm"),
         "reference has no algorithm 'gemm' (known: direct, im2col, winograd-2x2, winograd-4x4, fft, int-gemm, "
         "implicit-gemm)"),
        (Case(SPEC, algorithm="implicit-gemm"),
         "implicit-gemm is the Triton CUDA kernel; on cpu the reference runs im2col and others"),
        (Case(SPEC.with_(kind="deformable")),
         "kind deformable needs sampling offsets; the reference runs conv and linear layers"),
        (Case(SPEC, dtype="fp8"), "the reference CPU kernels run fp32, fp16, bf16, int8, int4; got dtype fp8"),
        (Case(SPEC, direction="wgrad", algorithm="winograd-4x4"),
         "winograd F(m,3) runs fwd and dgrad; wgrad correlates the input with the output gradient "
         "(its kernel is not 3 taps)"),
    ],
)
def test_unsupported_reasons(case, reason):
    assert BACKEND.unsupported_reason(case) == reason
    with pytest.raises(ConvbenchError, match="reference: "):
        BACKEND.prepare(case, make_inputs(case.spec))


def test_cuda_cases_answer_without_a_gpu():
    reason = BACKEND.unsupported_reason(Case(SPEC, device="cuda:0", algorithm="im2col"))
    assert reason == "on cuda the reference runs implicit-gemm (Triton); im2col is a CPU algorithm"
    grouped = Case(SPEC.with_(groups=2), device="cuda:0")
    assert BACKEND.unsupported_reason(grouped) == "implicit-gemm runs groups=1; got groups=2"
    assert "wgrad is not implemented" in BACKEND.unsupported_reason(Case(SPEC, direction="wgrad", device="cuda:0"))
    assert "stride 1 only" in BACKEND.unsupported_reason(Case(STRIDED, direction="dgrad", device="cuda:0"))
    assert "int4" in BACKEND.unsupported_reason(Case(SPEC, dtype="int4", device="cuda:0"))
    assert "nhwc" in BACKEND.unsupported_reason(Case(SPEC, layout="nchw", device="cuda:0"))
    if "cuda:0" not in BACKEND.devices():
        assert BACKEND.unsupported_reason(Case(SPEC, device="cuda:0")) in (
            "device cuda:0 is not present here", "triton is not installed (pip install 'convbench[triton]')")


@pytest.mark.parametrize("algorithm,spread", [
    ("direct", "element"), ("im2col", "element"), ("winograd-2x2", "tile"), ("winograd-4x4", "tile"),
    ("fft", "output"), ("default", "element"),
])
def test_kernel_attributes(algorithm, spread):
    kernel = BACKEND.prepare(Case(SPEC, algorithm=algorithm), make_inputs(SPEC))
    assert isinstance(kernel, Kernel)
    assert kernel.algorithm == ("im2col" if algorithm == "default" else algorithm)
    assert kernel.layout == "nchw" and kernel.error_spread == spread
    assert kernel.setup_s > 0 and kernel.timers() == ["wall", "wall-batch"]
    assert kernel.extra["storage"] == "fp32" and kernel.extra["accumulate"] == "fp32"
    assert all(isinstance(v, (int, float, str, bool)) for v in kernel.extra.values())


def test_fft_extra_says_how_stride_and_dilation_ran():
    fwd = BACKEND.prepare(Case(STRIDED, algorithm="fft"), make_inputs(STRIDED)).extra
    assert fwd["fft_subsampled"] is True and fwd["fft_lengths"] == "10x10"
    dgrad = BACKEND.prepare(Case(STRIDED, direction="dgrad", algorithm="fft"), make_inputs(STRIDED)).extra
    assert dgrad["fft_zero_inserted"] is True and "fft_subsampled" not in dgrad
    dilated = SPEC.with_(dilation=2, padding=2)
    assert BACKEND.prepare(Case(dilated, algorithm="fft"), make_inputs(dilated)).extra["fft_dilated_kernel"]
    plain = BACKEND.prepare(Case(SPEC, algorithm="fft"), make_inputs(SPEC)).extra
    assert not any(k in plain for k in ("fft_subsampled", "fft_zero_inserted", "fft_dilated_kernel"))


def test_result_dtypes():
    for dtype, want in (("fp32", np.float32), ("fp16", np.float16), ("int8", np.int32), ("int4", np.int32)):
        kernel = BACKEND.prepare(Case(SPEC, dtype=dtype), make_inputs(SPEC))
        assert kernel.result().dtype == want
    import ml_dtypes

    assert BACKEND.prepare(Case(SPEC, dtype="bf16"), make_inputs(SPEC)).result().dtype == ml_dtypes.bfloat16


def test_winograd_error_tile_is_the_output_tile_of_a_forward():
    from convbench.harness.verify import verify

    inputs = make_inputs(SPEC, distribution="normal")
    for m in (2, 4):
        case = Case(SPEC, "fp16", "fwd", algorithm=f"winograd-{m}x{m}")
        kernel = BACKEND.prepare(case, inputs)
        assert kernel.error_tile == (m, m)
        v = verify(kernel.result(), case, inputs, algorithm=kernel.algorithm, spread="tile", tile=kernel.error_tile)
        assert v.ok, v.message
    dgrad = BACKEND.prepare(Case(SPEC, "fp32", "dgrad", algorithm="winograd-2x2"), inputs)
    assert dgrad.error_tile is None
    assert BACKEND.prepare(Case(SPEC, algorithm="im2col"), inputs).error_tile is None
