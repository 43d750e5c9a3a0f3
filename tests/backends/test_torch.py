"""The torch backend: aten.convolution / aten.convolution_backward, oneDNN's and torch.ao's
quantized convs on the CPU, cuDNN on CUDA.

Every result is checked against the float64 oracle. No test assumes an ISA or a kernel name:
the CPU differs between machines (Intel with AMX and avx512_fp16, AMD Zen 4 without fp16), so
tests only check that names come from oneDNN's verbose output when torch says it used oneDNN.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from convbench.backends.base import Case, Inputs  # noqa: E402
from convbench.backends.pytorch import (  # noqa: E402
    Geometry,
    InexactQuantizedOutput,
    TorchBackend,
    error_spread,
    geometry,
    layout_name,
    parse_mkl_version,
    parse_onednn_verbose,
    parse_onednn_version,
)
from convbench.errors import ConvbenchError  # noqa: E402
from convbench.harness.inputs import make_inputs  # noqa: E402
from convbench.harness.oracle import magnitude, reference  # noqa: E402
from convbench.harness.verify import verify  # noqa: E402
from convbench.workloads.spec import ConvSpec  # noqa: E402

BACKEND = TorchBackend()


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """These tests run torch on one thread; later test modules get the count back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)

#: Bound on |result - exact| as a fraction of sum|terms| per element: the inputs are small
#: integers, every stack here accumulates in fp32 or int32, so only the final rounding to the
#: storage dtype is left (fp32 and int8 results are exact).
_RTOL = {"fp32": 0.0, "tf32": 0.0, "bf16": 2.0**-8, "fp16": 2.0**-10, "int8": 0.0}

SPECS = {
    "1d": ConvSpec(in_channels=4, out_channels=6, input_size=(11,), kernel_size=3, padding=1, batch=2),
    "2d": ConvSpec(in_channels=8, out_channels=16, input_size=(9, 9), kernel_size=3, padding=1, batch=2),
    "3d": ConvSpec(in_channels=4, out_channels=8, input_size=(4, 5, 6), kernel_size=3, padding=1, bias=False),
    "grouped": ConvSpec(in_channels=8, out_channels=12, input_size=(7, 7), kernel_size=3, groups=4, padding=1),
    "depthwise": ConvSpec(in_channels=16, out_channels=16, input_size=(8, 8), kernel_size=3, groups=16,
                          padding=1, stride=2),
    "dilated": ConvSpec(in_channels=6, out_channels=8, input_size=(10, 10), kernel_size=3, dilation=2,
                        padding=2, bias=False),
    "strided": ConvSpec(in_channels=6, out_channels=8, input_size=(11, 12), kernel_size=(3, 2), stride=(2, 3)),
    "asym_pad": ConvSpec(in_channels=4, out_channels=6, input_size=(5, 6, 7), kernel_size=(3, 2, 3),
                         padding=((1, 0), (0, 1), (2, 1))),
    "same_s2": ConvSpec(in_channels=4, out_channels=8, input_size=(8, 8), kernel_size=3, padding="same",
                        stride=2),
    "reflect": ConvSpec(in_channels=4, out_channels=8, input_size=(7, 8), kernel_size=3,
                        padding=((1, 2), (2, 1)), padding_mode="reflect"),
    "replicate_1d": ConvSpec(in_channels=3, out_channels=5, input_size=(9,), kernel_size=4,
                             padding=((2, 1),), padding_mode="replicate"),
    "circular": ConvSpec(in_channels=4, out_channels=6, input_size=(6, 7), kernel_size=3,
                         padding=((1, 2), (2, 1)), padding_mode="circular", bias=False),
    "transposed": ConvSpec(in_channels=8, out_channels=6, input_size=(5, 6), kernel_size=3, stride=2,
                           padding=1, output_padding=1, transposed=True, groups=2),
    "transposed_asym_3d": ConvSpec(in_channels=4, out_channels=6, input_size=(3, 4, 3), kernel_size=4,
                                   stride=2, padding=((0, 2), (1, 0), (1, 1)), transposed=True),
    "linear": ConvSpec(in_channels=32, out_channels=10, input_size=(1,), kind="linear", batch=4),
}
FLOAT_DTYPES = ("fp32", "bf16", "fp16")
DIRECTIONS = ("fwd", "dgrad", "wgrad")


def _check(case: Case, inputs: Inputs, kernel) -> None:
    """The harness's own verdict (oracle + tolerance by dtype and algorithm), plus a stricter
    one for kernels whose rounding stays local: only the final rounding to the storage dtype."""
    result = kernel.result()
    v = verify(result, case, inputs, algorithm=kernel.algorithm, spread=kernel.error_spread)
    assert v.ok, v.message
    if kernel.error_spread == "element":
        expected = reference(case.spec, case.direction, inputs)
        bound = _RTOL[case.dtype] * magnitude(case.spec, case.direction, inputs)
        err = np.abs(result.astype(np.float64) - expected)
        assert np.all(err <= bound), f"max error {err.max()} (bound there {bound.flat[err.argmax()]})"


def _run(spec: ConvSpec, **fields) -> tuple:
    fields.setdefault("threads", 1)  # one OpenMP thread: steady on a shared 2-core machine
    case = Case(spec=spec, **fields)
    assert BACKEND.unsupported_reason(case) is None, BACKEND.unsupported_reason(case)
    inputs = make_inputs(spec, seed=3)
    kernel = BACKEND.prepare(case, inputs)
    kernel.run()
    kernel.synchronize()
    return case, inputs, kernel


# ---- pure helpers ---------------------------------------------------------------------------
def test_parse_versions_from_config_text():
    text = ("PyTorch built with:\n  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605"
            " for Intel(R) 64 architecture applications\n  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71)\n")
    assert parse_onednn_version(text) == "3.12.0"
    assert parse_mkl_version(text) == "2024.2"
    assert parse_onednn_version("  - oneDNN v3.7 (Git Hash x)") == "3.7"
    assert parse_onednn_version("no such library") is None


def test_parse_onednn_verbose_both_line_formats():
    text = "\n".join([
        "onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71)",
        "onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:abcd::f0,,,1x8x9x9,0.01",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core,"
        "backward_data,src:f32,,alg:convolution_direct,mb1,0.02",
        "dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_training,src_f32,,alg:convolution_direct,mb1,0.3",
        "some other line on stdout",
    ])
    trace = parse_onednn_verbose(text)
    assert trace.convolutions == ("brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core", "jit:avx2")
    assert trace.reorders == 1
    assert trace.describe().startswith("reorder:jit:uni;convolution:brg_conv_bwd")
    assert parse_onednn_verbose("").primitives == ()


def test_error_spread_from_kernel_names():
    assert error_spread("void fft2d_r2c_16x16<float>(...);sm80_xmma_gemm_cf32cf32") == "output"
    assert error_spread("jit_wino_4x3:avx512_core") == "tile"
    assert error_spread("winograd_nonfused::winogradForwardData4x4") == "tile"
    assert error_spread("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc") == "element"
    assert error_spread("") == "element"


def test_layout_names():
    assert [layout_name(l, 2) for l in ("native", "nchw", "nhwc")] == ["nchw", "nchw", "nhwc"]
    assert layout_name("nhwc", 3) == "ndhwc" and layout_name("native", 1) == "ncw"


@settings(max_examples=200, deadline=None)
@given(
    dims=st.integers(1, 3),
    pads=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=3, max_size=3),
    mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    transposed=st.booleans(),
)
def test_geometry_reconstructs_the_spec_padding(dims, pads, mode, transposed):
    pads = tuple(pads[:dims])
    spec = ConvSpec(in_channels=2, out_channels=2, input_size=(8,) * dims, kernel_size=3, padding=pads,
                    padding_mode="zeros" if transposed else mode, transposed=transposed,
                    stride=2 if transposed else 1)
    g = geometry(spec)
    assert isinstance(g, Geometry) and len(g.conv_padding) == dims
    assert not (g.pad and g.crop)
    if transposed:
        crop = g.crop or ((0, 0),) * dims
        assert tuple((p + b, p + a) for p, (b, a) in zip(g.conv_padding, crop)) == spec.padding
        assert g.prefix == ("crop+" if not spec.symmetric_padding else "")
        return
    explicit = g.pad_pairs() if g.pad else ((0, 0),) * dims
    assert tuple((p + b, p + a) for p, (b, a) in zip(g.conv_padding, explicit)) == spec.padding
    needs_pad = any(b or a for b, a in pads) and (mode != "zeros" or not spec.symmetric_padding)
    assert bool(g.pad) == needs_pad
    assert g.prefix == ("pad+" if needs_pad else "")
    if g.pad and mode != "zeros":
        assert g.conv_padding == (0,) * dims  # the whole pad is explicit, as nn.Conv2d does it


# ---- capability answers ---------------------------------------------------------------------
def test_backend_identity_versions_devices():
    assert BACKEND.name == "torch" and BACKEND.unavailable_reason() is None
    v = BACKEND.versions()
    assert v["torch"] == torch.__version__
    if torch.backends.mkldnn.is_available():
        assert v["onednn"].count(".") >= 1
    assert BACKEND.devices()[0] == "cpu"
    assert len(BACKEND.devices()) == 1 + (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_algorithms():
    spec = SPECS["2d"]
    assert BACKEND.algorithms(Case(spec=spec, dtype="int8")) == ["default", "ao-quantized"]
    assert BACKEND.algorithms(Case(spec=spec, dtype="fp32")) == ["default"]
    assert BACKEND.algorithms(Case(spec=spec, dtype="int8", device="cuda:0")) == ["default"]


@pytest.mark.parametrize("fields, words", [
    (dict(dtype="tf32"), "tf32 is a CUDA tensor-core mode"),
    (dict(dtype="int8", direction="dgrad"), "torch has no int8 backward conv"),
    (dict(dtype="int8", direction="wgrad", algorithm="ao-quantized"), "torch has no int8 backward conv"),
    (dict(dtype="int4"), "no int4"),
    (dict(algorithm="winograd"), "not a torch algorithm"),
    (dict(layout="blocked"), "not a torch layout"),
    (dict(device="tpu:0"), "runs on cpu and cuda"),
])
def test_unsupported_reasons(fields, words):
    reason = BACKEND.unsupported_reason(Case(spec=SPECS["2d"], **fields))
    assert reason and words in reason and "\n" not in reason


def test_unsupported_reasons_that_depend_on_the_spec():
    assert "channels-last" in BACKEND.unsupported_reason(Case(spec=SPECS["1d"], layout="nhwc"))
    assert "quantized transposed" in BACKEND.unsupported_reason(Case(spec=SPECS["transposed"], dtype="int8"))
    assert BACKEND.unsupported_reason(Case(spec=SPECS["transposed"], dtype="int8", algorithm="ao-quantized")) is None
    assert "replicate" in BACKEND.unsupported_reason(
        Case(spec=SPECS["replicate_1d"], dtype="int8", algorithm="ao-quantized"))
    deform = ConvSpec(in_channels=2, out_channels=2, input_size=(5, 5), kernel_size=3, kind="deformable")
    assert "deformable" in BACKEND.unsupported_reason(Case(spec=deform))
    if not torch.cuda.is_available():
        assert "no CUDA device" in BACKEND.unsupported_reason(Case(spec=SPECS["2d"], device="cuda:0"))
    with pytest.raises(ConvbenchError, match="tf32"):
        BACKEND.prepare(Case(spec=SPECS["2d"], dtype="tf32"), make_inputs(SPECS["2d"]))


# ---- floating point on the CPU --------------------------------------------------------------
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", list(SPECS))
def test_cpu_float_directions_verify(name, dtype, direction):
    spec = SPECS[name]
    case, inputs, kernel = _run(spec, dtype=dtype, direction=direction)
    _check(case, inputs, kernel)
    assert kernel.setup_s > 0 and kernel.timers() == ["wall", "wall-batch"]
    assert kernel.layout == layout_name("native", spec.dims)
    assert kernel.algorithm.startswith(geometry(spec).prefix)
    assert isinstance(kernel.extra["torch_conv_backend"], str)
    geo = geometry(spec)
    if geo.pad or geo.crop:  # fwd pads x (a crop is a view); dgrad runs the pad's backward
        assert kernel.extra["pad_in_timed_op"] == (direction == "dgrad" or (direction == "fwd" and bool(geo.pad)))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", ["2d", "3d", "depthwise", "reflect", "circular", "transposed"])
def test_cpu_nhwc_layout_verifies_and_is_recorded(name, direction):
    spec = SPECS[name]
    case, inputs, kernel = _run(spec, dtype="bf16", direction=direction, layout="nhwc")
    _check(case, inputs, kernel)
    assert kernel.layout == ("nhwc" if spec.dims == 2 else "ndhwc")
    assert kernel.extra["memory_format"] == "channels_last"


def test_algorithm_names_what_ran():
    """oneDNN path: the algorithm is the convolution impl(s) of oneDNN's verbose output; torch's
    own path: aten:<backend>."""
    seen_onednn = False
    for dtype in FLOAT_DTYPES:
        for direction in DIRECTIONS:
            _, _, kernel = _run(SPECS["2d"], dtype=dtype, direction=direction)
            backend = kernel.extra["torch_conv_backend"]
            if backend == "Mkldnn":
                seen_onednn = True
                impls = [p.split(":", 1)[1] for p in kernel.extra["onednn_primitives"].split(";")
                         if p.startswith("convolution:")]
                assert kernel.algorithm == "+".join(impls) and kernel.algorithm
                assert not kernel.algorithm.startswith("aten:")
            else:
                assert kernel.algorithm.startswith("aten:") and len(kernel.algorithm) > 5
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert seen_onednn


def test_verbose_capture_leaves_stdout_clean(capfd):
    print("before")
    _run(SPECS["2d"], dtype="bf16")
    print("after")
    out = capfd.readouterr().out
    assert out == "before\nafter\n"


def test_threads_set_and_restored():
    _, _, kernel = _run(SPECS["2d"], threads=1)
    assert kernel.extra["threads"] == 1 and torch.get_num_threads() == 1
    _, _, kernel = _run(SPECS["2d"], threads=0)  # 0: the count the process had at the first prepare
    assert kernel.extra["threads"] == BACKEND._default_threads >= 1


def test_result_shapes_are_canonical():
    spec = SPECS["transposed_asym_3d"]
    for direction, shape in (("fwd", spec.output_shape), ("dgrad", spec.input_shape), ("wgrad", spec.weight_shape)):
        _, _, kernel = _run(spec, direction=direction, layout="nhwc")
        r = kernel.result()
        assert r.shape == shape and r.flags.c_contiguous


class _OpRecorder:
    """Records every aten/custom op a block of torch code dispatches (TorchDispatchMode)."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        ops = self.ops = []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                ops.append(str(func))
                return func(*args, **(kwargs or {}))

        self.mode = Mode()

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)


@pytest.mark.parametrize("name, dtype, direction, algorithm, expected", [
    ("2d", "fp32", "fwd", "default", ["aten.convolution.default"]),
    ("2d", "bf16", "dgrad", "default", ["aten.convolution_backward.default"]),
    ("2d", "fp16", "wgrad", "default", ["aten.convolution_backward.default"]),
    ("transposed", "fp32", "dgrad", "default", ["aten.convolution_backward.default"]),
    ("reflect", "fp32", "fwd", "default", ["aten.reflection_pad2d.default", "aten.convolution.default"]),
    ("reflect", "fp32", "dgrad", "default",
     ["aten.convolution_backward.default", "aten.reflection_pad2d_backward.default"]),
    ("reflect", "fp32", "wgrad", "default", ["aten.convolution_backward.default"]),
    ("2d", "int8", "fwd", "default", ["onednn.qconv2d_pointwise.default"]),
    ("3d", "int8", "fwd", "default", ["onednn.qconv_pointwise.default"]),
    ("2d", "int8", "fwd", "ao-quantized", ["quantized.conv2d.new"]),
])
def test_run_is_the_op_alone(name, dtype, direction, algorithm, expected):
    """run() dispatches the op and nothing else: no input allocation, copy or dtype conversion."""
    _, _, kernel = _run(SPECS[name], dtype=dtype, direction=direction, algorithm=algorithm)
    with _OpRecorder() as rec:
        kernel.run()
    assert rec.ops == expected


# ---- int8 on the CPU ------------------------------------------------------------------------
_INT8_SMALL = {  # reductions short enough that the exact result fits quint8 (ao-quantized)
    "2d": ConvSpec(in_channels=2, out_channels=8, input_size=(6, 7), kernel_size=2, padding=1, batch=2),
    "depthwise": SPECS["depthwise"],
    "asym": ConvSpec(in_channels=1, out_channels=4, input_size=(8, 8), kernel_size=3, padding="same", stride=2),
    "reflect": ConvSpec(in_channels=1, out_channels=3, input_size=(6, 6), kernel_size=3, padding=((1, 2), (0, 1)),
                        padding_mode="reflect"),
    "1d": ConvSpec(in_channels=2, out_channels=4, input_size=(9,), kernel_size=3, padding=1),
    "3d": ConvSpec(in_channels=1, out_channels=4, input_size=(3, 4, 5), kernel_size=2, bias=False),
    "transposed_k3": ConvSpec(in_channels=4, out_channels=4, input_size=(4, 5), kernel_size=2, stride=2,
                              transposed=True),
}


@pytest.mark.parametrize("layout", ["native", "nhwc"])
@pytest.mark.parametrize("name", ["2d", "depthwise", "asym", "reflect"])
@pytest.mark.parametrize("algorithm", ["default", "ao-quantized"])
def test_int8_fwd_exact_2d(name, algorithm, layout):
    spec = _INT8_SMALL[name]
    case, inputs, kernel = _run(spec, dtype="int8", algorithm=algorithm, layout=layout)
    _check(case, inputs, kernel)
    prefix = geometry(spec).prefix + ("onednn.qconv:" if algorithm == "default" else "ao-quantized:")
    assert kernel.algorithm.startswith(prefix) and len(kernel.algorithm) > len(prefix)
    extra = kernel.extra
    assert extra["x_zero_point"] == inputs.x_zero_point and extra["x_scale"] == 1.0 and extra["w_scale"] == 1.0
    assert extra["op"] == ("onednn::qconv2d_pointwise" if algorithm == "default" else "quantized::conv2d")
    if algorithm == "ao-quantized":
        assert extra["output_dtype"] == "quint8" and 0 <= extra["output_zero_point"] <= 255
    else:
        assert extra["output_dtype"] == "fp32"


@pytest.mark.parametrize("name", ["1d", "3d", "transposed_k3"])
@pytest.mark.parametrize("algorithm", ["default", "ao-quantized"])
def test_int8_fwd_exact_other_ranks(name, algorithm):
    spec = _INT8_SMALL[name]
    case = Case(spec=spec, dtype="int8", algorithm=algorithm)
    if BACKEND.unsupported_reason(case):
        assert spec.transposed and algorithm == "default"
        return
    case, inputs, kernel = _run(spec, dtype="int8", algorithm=algorithm)
    _check(case, inputs, kernel)


def test_int8_default_is_exact_on_a_long_reduction():
    spec = ConvSpec(in_channels=64, out_channels=32, input_size=(6, 6), kernel_size=3, padding=1)
    case, inputs, kernel = _run(spec, dtype="int8", layout="nhwc")
    _check(case, inputs, kernel)


def test_ao_quantized_refuses_a_result_quint8_cannot_hold():
    spec = ConvSpec(in_channels=64, out_channels=32, input_size=(6, 6), kernel_size=3, padding=1)
    case = Case(spec=spec, dtype="int8", algorithm="ao-quantized")
    with pytest.raises(InexactQuantizedOutput, match=r"spans \[-?\d+, \d+\]"):
        BACKEND.prepare(case, make_inputs(spec))


def test_int8_refuses_non_integer_inputs():
    spec = _INT8_SMALL["2d"]
    with pytest.raises(ConvbenchError, match="int8 needs integer inputs"):
        BACKEND.prepare(Case(spec=spec, dtype="int8"), make_inputs(spec, distribution="normal"))


# ---- CUDA -----------------------------------------------------------------------------------
_GPU_SPECS = ["2d", "3d", "depthwise", "asym_pad", "circular", "transposed", "transposed_asym_3d", "linear"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
@pytest.mark.parametrize("layout", ["native", "nhwc"])
@pytest.mark.parametrize("name", _GPU_SPECS)
def test_cuda_directions_verify(name, layout, dtype, direction):
    spec = SPECS[name]
    case = Case(spec=spec, dtype=dtype, direction=direction, layout=layout, device="cuda:0")
    reason = BACKEND.unsupported_reason(case)
    if reason:
        assert layout == "nhwc" and spec.dims == 1
        return
    inputs = make_inputs(spec, seed=3)
    kernel = BACKEND.prepare(case, inputs)
    _check(case, inputs, kernel)
    extra = kernel.extra
    assert extra["cudnn_benchmark"] is True and extra["cudnn_deterministic"] is False
    assert extra["cudnn_allow_tf32"] is (dtype == "tf32") and extra["matmul_allow_tf32"] is (dtype == "tf32")
    prefix = geometry(spec).prefix
    assert kernel.algorithm.startswith(prefix)
    ran = kernel.algorithm[len(prefix):]
    assert ran == "cudnn" or ran.startswith("aten:")
    assert extra.get("cuda_kernel_count", 1) >= 1
    assert kernel.timers()[0] == "cuda-graph"
    kernel.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", ["2d", "circular", "transposed_asym_3d"])
def test_cuda_run_captures_in_a_cuda_graph(name, direction):
    spec = SPECS[name]
    case = Case(spec=spec, dtype="fp16", direction=direction, layout="nhwc", device="cuda:0")
    inputs = make_inputs(spec, seed=3)
    kernel = BACKEND.prepare(case, inputs)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        kernel.run()
    stream.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        for _ in range(3):
            kernel.run()
    kernel._out.zero_()  # the graph's replay must write the output again
    torch.cuda.synchronize()
    with torch.cuda.stream(stream):
        graph.replay()
    torch.cuda.synchronize()
    _check(case, inputs, kernel)
    graph.reset()
    kernel.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_int8_unsupported_and_flags_reasserted():
    reason = BACKEND.unsupported_reason(Case(spec=SPECS["2d"], dtype="int8", device="cuda:0"))
    assert "no int8 convolution on CUDA" in reason
    kernel = BACKEND.prepare(Case(spec=SPECS["2d"], dtype="fp32", device="cuda:0"), make_inputs(SPECS["2d"]))
    torch.backends.cudnn.allow_tf32 = True  # another case's prepare
    kernel.run()
    assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cudnn.benchmark is True
