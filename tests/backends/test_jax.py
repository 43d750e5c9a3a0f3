"""The jax backend: lax.conv_general_dilated under jax.jit, one convolution per compiled program.

Every result is checked against the float64 oracle. No test assumes an XLA:CPU kernel name
(YNNPACK fusion or XLA's own emitter depends on the shape, the version and the CPU); each
asserts that the compiled program holds exactly one convolution.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.backends.base import Case, Inputs
from convbench.backends.jax_xla import (
    JaxBackend,
    cuda_int8_reason,
    data_perm,
    direct_weight,
    hlo_summary,
    inverse_perm,
    layout_name,
    partial_sum_bound,
    undirect_weight,
    weight_perm,
    xla_conv,
)
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import reference
from convbench.harness.verify import verify
from convbench.workloads.spec import ConvSpec

# ---- pure parts (no jax needed) -----------------------------------------------------------

_CPU_HLO = """\
HloModule jit_f, is_scheduled=true, entry_computation_layout={(f32[1,56,56,64]{3,2,1,0})->f32[1,56,56,64]{3,2,1,0}}

FileLocations
1 {file_name_id=1 function_name_id=1 line=7 end_line=7 column=27 end_column=41}

%fused_computation (param_0: f32[1,56,56,64], param_1: f32[3,3,64,64]) -> f32[1,56,56,64] {
  %param_0 = f32[1,56,56,64]{3,2,1,0} parameter(0)
  %param_1 = f32[3,3,64,64]{3,2,1,0} parameter(1)
  ROOT %conv.0 = f32[1,56,56,64]{3,2,1,0} convolution(%param_0, %param_1), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, metadata={op_name="jit(f)/conv"}
}

%fused_computation.1 (param_0.3: f32[3,3,64,64]) -> f32[3,3,64,64] {
  %param_0.3 = f32[3,3,64,64]{3,2,1,0} parameter(0)
  ROOT %rev.0 = f32[3,3,64,64]{3,2,1,0} reverse(%param_0.3), dimensions={0,1}
}

ENTRY %main.1 (w.1: f32[3,3,64,64], dy.1: f32[1,56,56,64]) -> f32[1,56,56,64] {
  %w.1 = f32[3,3,64,64]{3,2,1,0} parameter(0), metadata={op_name="w"}
  %dy.1 = f32[1,56,56,64]{3,2,1,0} parameter(1), metadata={op_name="dy"}
  %reverse_fusion = f32[3,3,64,64]{3,2,1,0} fusion(%w.1), kind=kLoop, calls=%fused_computation.1
  ROOT %ynn_fusion = f32[1,56,56,64]{3,2,1,0} fusion(%dy.1, %reverse_fusion), kind=kCustom, calls=%fused_computation, backend_config={"fusion_config":{"kind":"__ynn_fusion"},"outer_dimension_partitions":[]}
}
"""

_GPU_HLO = """\
HloModule jit_f, entry_computation_layout={(f16[32,7,7,2048]{3,2,1,0}, f16[1,1,2048,512]{3,2,1,0})->f16[32,7,7,512]{3,2,1,0}}

ENTRY %main.4 (x.1: f16[32,7,7,2048], w.1: f16[1,1,2048,512]) -> f16[32,7,7,512] {
  %x.1 = f16[32,7,7,2048]{3,2,1,0} parameter(0)
  %w.1 = f16[1,1,2048,512]{3,2,1,0} parameter(1)
  %transpose = f16[512,1,1,2048]{3,2,1,0} transpose(%w.1), dimensions={3,0,1,2}
  %cudnn-conv.1 = (f16[32,7,7,512]{3,2,1,0}, u8[0]{0}) custom-call(%x.1, %transpose), window={size=1x1}, dim_labels=b01f_o01i->b01f, custom_call_target="__cudnn$convForward", backend_config={"cudnn_conv_backend_config":{}}
  ROOT %get-tuple-element = f16[32,7,7,512]{3,2,1,0} get-tuple-element(%cudnn-conv.1), index=0
}
"""


def test_hlo_summary_reads_a_cpu_ynn_fusion():
    s = hlo_summary(_CPU_HLO)
    assert s.convolutions == 1 and s.dots == 0
    assert s.fusions == 2
    assert s.entry_ops == ("reverse_fusion", "ynn_fusion")
    assert s.compute_kind == "ynn_fusion(convolution)"
    assert s.conv_type == "f32"
    assert s.dim_labels == "b01f_01io->b01f"
    extra = s.as_extra()
    assert extra["hlo_convolutions"] == 1 and extra["hlo_entry_ops"] == "reverse_fusion,ynn_fusion"
    assert all(isinstance(v, (int, str)) for v in extra.values())


def test_hlo_summary_reads_a_cudnn_custom_call():
    s = hlo_summary(_GPU_HLO)
    assert s.convolutions == 1
    assert s.compute_kind == "cudnn$convForward"
    assert s.conv_type == "f16"
    assert s.entry_ops == ("transpose", "custom-call")
    assert s.fusions == 0


def test_hlo_summary_of_no_convolution():
    s = hlo_summary("ENTRY %m (a: f32[2]) -> f32[2] {\n  ROOT %a = f32[2]{0} parameter(0)\n}\n")
    assert (s.convolutions, s.dots, s.compute_kind, s.entry_ops) == (0, 0, "none", ())


_spec_fields = st.fixed_dictionaries({
    "dims": st.integers(1, 3),
    "size": st.integers(3, 9),
    "k": st.integers(1, 3),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 2),
    "groups": st.sampled_from([1, 2]),
    "lo": st.integers(0, 2),
    "hi": st.integers(0, 2),
    "transposed": st.booleans(),
    "output_padding": st.integers(0, 2),
    "mode": st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
})


def _spec_or_none(f) -> ConvSpec | None:
    d = f["dims"]
    try:
        return ConvSpec(
            in_channels=2 * f["groups"], out_channels=4, input_size=(f["size"],) * d,
            kernel_size=f["k"], stride=f["stride"], dilation=f["dilation"], groups=f["groups"],
            padding=((f["lo"], f["hi"]),) * d, transposed=f["transposed"],
            output_padding=f["output_padding"] if f["transposed"] else 0,
            padding_mode="zeros" if f["transposed"] else f["mode"], bias=False,
        )
    except ConvbenchError:
        return None


@given(_spec_fields)
@settings(max_examples=200, deadline=None)
def test_xla_conv_geometry_gives_the_spec_output_size(f):
    spec = _spec_or_none(f)
    if spec is None:
        return
    geo = xla_conv(spec)
    for i in range(spec.dims):
        n = spec.input_size[i]
        if geo.pre_pad is not None:
            n += sum(geo.pre_pad[i])
        n = (n - 1) * geo.lhs_dilation[i] + 1 + sum(geo.padding[i])
        k_eff = geo.rhs_dilation[i] * (spec.kernel_size[i] - 1) + 1
        assert (n - k_eff) // geo.window_strides[i] + 1 == spec.output_size[i]
    assert geo.feature_group_count == spec.groups
    assert (geo.pre_pad is not None) == (spec.padding_mode != "zeros")


@given(_spec_fields, st.integers(0, 2**16))
@settings(max_examples=100, deadline=None)
def test_direct_weight_round_trips(f, seed):
    spec = _spec_or_none(f)
    if spec is None:
        return
    w = np.random.default_rng(seed).integers(-2, 3, spec.weight_shape).astype(np.float64)
    v = direct_weight(spec, w)
    assert v.shape == (spec.out_channels, spec.in_channels // spec.groups, *spec.kernel_size)
    np.testing.assert_array_equal(undirect_weight(spec, v), w)


def test_layout_permutations_and_names():
    assert data_perm(2, True) == (0, 2, 3, 1) and weight_perm(2, True) == (2, 3, 1, 0)
    assert data_perm(3, False) == (0, 1, 2, 3, 4)
    assert inverse_perm((0, 2, 3, 1)) == (0, 3, 1, 2)
    assert [layout_name(d, True) for d in (1, 2, 3)] == ["nwc", "nhwc", "ndhwc"]
    assert [layout_name(d, False) for d in (1, 2, 3)] == ["ncw", "nchw", "ncdhw"]


def test_partial_sum_bound_covers_every_output():
    spec = ConvSpec(in_channels=4, out_channels=6, input_size=(6, 6), kernel_size=3, padding=1,
                    stride=2, output_padding=1, groups=2, transposed=True)
    inputs = make_inputs(spec)
    y = reference(spec, "fwd", inputs)
    assert np.abs(y).max() <= partial_sum_bound(spec, inputs)


# ---- the backend --------------------------------------------------------------------------

_BACKEND = JaxBackend()
_JAX = _BACKEND.unavailable_reason() is None
needs_jax = pytest.mark.skipif(not _JAX, reason=f"jax backend unavailable: {_BACKEND.unavailable_reason()}")

SPECS = {
    "1d": ConvSpec(in_channels=4, out_channels=6, input_size=(11,), kernel_size=3, padding=1, batch=2),
    "2d": ConvSpec(in_channels=8, out_channels=16, input_size=(9, 9), kernel_size=3, padding=1, batch=2),
    "3d_asym": ConvSpec(in_channels=4, out_channels=6, input_size=(5, 6, 7), kernel_size=(3, 2, 3),
                        padding=((1, 0), (0, 1), (2, 1)), bias=False),
    "grouped_dilated_strided": ConvSpec(in_channels=8, out_channels=12, input_size=(11, 12),
                                        kernel_size=3, groups=4, dilation=2, stride=(2, 3),
                                        padding=((2, 1), (1, 2))),
    "depthwise": ConvSpec(in_channels=16, out_channels=16, input_size=(8, 8), kernel_size=3,
                          groups=16, padding=1, stride=2),
    "transposed": ConvSpec(in_channels=8, out_channels=6, input_size=(5, 6), kernel_size=3, stride=2,
                           padding=1, output_padding=1, groups=2, transposed=True),
    # padding beyond dilation*(kernel-1): XLA's padding goes negative
    "transposed_1d": ConvSpec(in_channels=4, out_channels=6, input_size=(7,), kernel_size=3, stride=1,
                              dilation=2, padding=5, output_padding=1, transposed=True),
    "transposed_3d": ConvSpec(in_channels=4, out_channels=4, input_size=(3, 4, 3), kernel_size=2,
                              stride=2, output_padding=(1, 0, 1), groups=4, transposed=True, bias=False),
    "reflect": ConvSpec(in_channels=4, out_channels=6, input_size=(7, 8), kernel_size=3,
                        padding=((2, 1), (1, 2)), padding_mode="reflect"),
    "replicate_1d": ConvSpec(in_channels=4, out_channels=6, input_size=(9,), kernel_size=3,
                             padding=2, padding_mode="replicate", stride=2),
    "circular": ConvSpec(in_channels=4, out_channels=6, input_size=(6, 7), kernel_size=3,
                         padding=1, padding_mode="circular", bias=False),
    "linear": ConvSpec(in_channels=32, out_channels=10, input_size=(1,), kind="linear", batch=4),
    "transposed_g4": ConvSpec(in_channels=8, out_channels=8, input_size=(5, 6), kernel_size=3, stride=2,
                              padding=1, output_padding=1, groups=2, transposed=True),
}


def _run(case: Case, inputs: Inputs | None = None):
    """Prepare, run twice, synchronise; verify against the oracle; return (kernel, inputs)."""
    inputs = inputs if inputs is not None else make_inputs(case.spec)
    assert _BACKEND.unsupported_reason(case) is None
    kernel = _BACKEND.prepare(case, inputs)
    kernel.run()
    kernel.run()
    kernel.synchronize()
    v = verify(kernel.result(), case, inputs, algorithm=kernel.algorithm)
    assert v.ok, f"{case.spec} {case.dtype} {case.direction} {case.layout} {kernel.algorithm}: {v.message}"
    return kernel, inputs


def _check_attributes(kernel, case: Case) -> None:
    extra = kernel.extra
    assert extra["hlo_convolutions"] + extra["hlo_dots"] == 1, extra
    assert kernel.algorithm.startswith("pad+xla:" if case.spec.padding_mode != "zeros" else "xla:")
    assert kernel.algorithm.split("xla:", 1)[1] == extra["hlo_compute"]
    assert kernel.layout == layout_name(case.spec.dims, case.layout != "nchw")
    assert kernel.setup_s > 0
    assert kernel.timers() == ["wall", "wall-batch"]
    assert extra["threads"].startswith("unknown")
    assert extra["cpu_affinity"] >= 1
    assert all(isinstance(v, (int, float, str, bool)) for v in extra.values())


_FP32_SPECS = ["1d", "3d_asym", "grouped_dilated_strided", "depthwise", "transposed", "transposed_1d", "reflect"]


@needs_jax
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("name", _FP32_SPECS)
def test_fp32_every_direction_matches_oracle(name, direction):
    case = Case(SPECS[name], direction=direction)
    kernel, inputs = _run(case)
    _check_attributes(kernel, case)
    assert kernel.extra["hlo_conv_type"] == "f32"
    # integer inputs, f32 accumulation: the result is exact
    np.testing.assert_array_equal(kernel.result(), reference(case.spec, direction, inputs))
    kernel.close()


@needs_jax
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_types_every_direction(dtype, direction):
    case = Case(SPECS["2d"], dtype=dtype, direction=direction)
    kernel, _ = _run(case)
    _check_attributes(kernel, case)
    assert kernel.result().dtype == np.float32
    kernel.close()


@needs_jax
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
def test_bf16_transposed_3d(direction):
    case = Case(SPECS["transposed_3d"], dtype="bf16", direction=direction)
    kernel, _ = _run(case)
    _check_attributes(kernel, case)
    kernel.close()


@needs_jax
@pytest.mark.parametrize("name, layout", [("2d", "native"), ("transposed_3d", "native"),
                                          ("replicate_1d", "native"), ("circular", "nchw"),
                                          ("grouped_dilated_strided", "nhwc")])
def test_int8_forward_is_exact(name, layout):
    case = Case(SPECS[name], dtype="int8", layout=layout)
    kernel, inputs = _run(case)
    _check_attributes(kernel, case)
    got = kernel.result()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, reference(case.spec, "fwd", inputs))
    assert kernel.extra["accumulator"] == "s32"
    assert kernel.extra["hlo_conv_type"] == "s32"
    kernel.close()


@needs_jax
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
def test_nchw_layout(direction):
    case = Case(SPECS["grouped_dilated_strided"], direction=direction, layout="nchw")
    kernel, _ = _run(case)
    _check_attributes(kernel, case)
    assert kernel.layout == "nchw"
    kernel.close()


@needs_jax
def test_linear_runs_as_one_product():
    case = Case(SPECS["linear"])
    kernel, _ = _run(case)
    _check_attributes(kernel, case)
    kernel.close()


@needs_jax
@given(_spec_fields, st.sampled_from(["fwd", "dgrad", "wgrad"]))
@settings(max_examples=5, deadline=None)
def test_random_specs_match_oracle(f, direction):
    spec = _spec_or_none(f)
    if spec is None:
        return
    kernel, _ = _run(Case(spec, direction=direction))
    assert kernel.extra["hlo_convolutions"] + kernel.extra["hlo_dots"] == 1
    kernel.close()


@needs_jax
def test_bias_only_in_forward_and_results_stay_canonical():
    spec = SPECS["2d"]
    inputs = make_inputs(spec)
    no_bias = Inputs(x=inputs.x, w=inputs.w, b=np.zeros_like(inputs.b), dy=inputs.dy)
    with_b, _ = _run(Case(spec), inputs)
    without_b, _ = _run(Case(spec), no_bias)
    diff = with_b.result() - without_b.result()
    np.testing.assert_array_equal(diff, np.broadcast_to(inputs.b[None, :, None, None], diff.shape))
    assert with_b.result().shape == spec.output_shape


@needs_jax
@pytest.mark.parametrize(
    "case, words",
    [
        (Case(SPECS["2d"], dtype="tf32"), "tf32 is a CUDA tensor-core mode"),
        (Case(SPECS["2d"], dtype="int4"), "int4"),
        (Case(SPECS["2d"], dtype="int8", direction="dgrad"), "not differentiable"),
        (Case(SPECS["2d"], dtype="int8", direction="wgrad"), "not differentiable"),
        (Case(SPECS["2d"].with_(kind="deformable")), "deformable"),
        (Case(SPECS["2d"], algorithm="im2col"), "'default'"),
        (Case(SPECS["2d"], layout="nchw16c"), "layout"),
        (Case(SPECS["2d"], device="cuda:7"), "not visible to jax"),
    ],
)
def test_unsupported_answers(case, words):
    reason = _BACKEND.unsupported_reason(case)
    assert reason is not None and words in reason and "\n" not in reason
    with pytest.raises(ConvbenchError, match="jax cannot run it"):
        _BACKEND.prepare(case, make_inputs(case.spec))


@needs_jax
def test_backend_facts():
    assert _BACKEND.name == "jax"
    v = _BACKEND.versions()
    assert v["jax"] and v["jaxlib"] and v["xla_platform"]
    assert "cpu" in _BACKEND.devices()
    assert _BACKEND.algorithms(Case(SPECS["2d"])) == ["default"]


def test_module_imports_without_jax_and_sets_no_framework_state():
    code = ("import sys, convbench.backends.jax_xla, convbench.backends.registry as r; "
            "assert 'jax' not in sys.modules, 'jax imported at module import'; "
            "b = r.get_backend('jax'); assert b.name == 'jax'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---- GPU ----------------------------------------------------------------------------------

def _cuda_visible() -> bool:
    return _JAX and "cuda:0" in _BACKEND.devices()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_visible(), reason="jax sees no CUDA device")
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("dtype", ["fp32", "tf32", "bf16", "fp16"])
def test_cuda_floats(dtype, direction):
    case = Case(SPECS["2d"], dtype=dtype, direction=direction, device="cuda:0")
    kernel, _ = _run(case)
    assert kernel.timers() == ["wall-batch", "wall"]
    assert kernel.extra["hlo_convolutions"] + kernel.extra["hlo_dots"] == 1
    if dtype in ("fp32", "tf32"):
        assert kernel.extra["tf32"] is (dtype == "tf32")
    assert kernel.extra["preallocate"] == "false"
    kernel.close()


def test_cuda_int8_grouped_channel_rule():
    # measured on an H200 (jax 0.11.2): 3 channels per group came out wrong, 4 were exact
    assert cuda_int8_reason(SPECS["transposed"]) is not None  # 8 -> 6 channels in 2 groups
    assert "wrong results" in cuda_int8_reason(SPECS["depthwise"])
    assert cuda_int8_reason(SPECS["2d"]) is None
    assert cuda_int8_reason(ConvSpec(in_channels=6, out_channels=6, input_size=(5, 6), kernel_size=3)) is None
    assert cuda_int8_reason(ConvSpec(in_channels=8, out_channels=8, input_size=(5, 6), kernel_size=3,
                                     groups=2)) is None


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_visible(), reason="jax sees no CUDA device")
@pytest.mark.parametrize("name", ["2d", "transposed_g4"])
def test_cuda_int8_accumulates_in_f32_exactly(name):
    case = Case(SPECS[name], dtype="int8", device="cuda:0")
    kernel, inputs = _run(case)
    np.testing.assert_array_equal(kernel.result(), reference(case.spec, "fwd", inputs))
    assert kernel.extra["accumulator"] == "f32"
    assert kernel.extra["f32_accumulator_exact"] is True
    kernel.close()
