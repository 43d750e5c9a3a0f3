"""The tf-xla backend: TensorFlow's conv ops (and tf2xla's xla.conv for int8) under
tf.function(jit_compile=True), one convolution per compiled function.

Every result is checked against the float64 oracle; the plan geometry is checked by
hypothesis against the spec's own size formulas.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.backends.base import Case
from convbench.backends.tf_xla import TfXlaBackend, tf_filter, tf_plan, untf_filter
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import reference
from convbench.harness.verify import verify
from convbench.workloads.spec import ConvSpec

# ---- pure parts ---------------------------------------------------------------------------

_fields = st.fixed_dictionaries({
    "dims": st.integers(1, 3),
    "size": st.integers(3, 9),
    "k": st.integers(1, 3),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 3),
    "groups": st.sampled_from([1, 2]),
    "lo": st.integers(0, 3),
    "hi": st.integers(0, 3),
    "transposed": st.booleans(),
    "output_padding": st.integers(0, 2),
    "mode": st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]),
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


def _tf_out(n: int, k: int, s: int, d: int, padding: str, pair) -> int:
    """TF's output size of the direct conv for one dim."""
    k_eff = d * (k - 1) + 1
    if padding == "SAME":
        return -(-n // s)
    lo, hi = pair if padding == "EXPLICIT" else (0, 0)
    return (n + lo + hi - k_eff) // s + 1


@given(_fields, st.sampled_from(["fwd", "dgrad", "wgrad"]))
@settings(max_examples=300, deadline=None)
def test_plan_geometry_matches_the_spec(f, direction):
    spec = _spec_or_none(f)
    if spec is None:
        return
    plan = tf_plan(spec, direction)
    unit = (1,) if spec.dims == 1 else ()
    v_size = unit + (spec.input_size if spec.transposed else spec.output_size)
    u_size = unit + (spec.output_size if spec.transposed else spec.input_size)
    assert plan.u_size == u_size
    assert plan.rank == max(spec.dims, 2)
    assert all(c >= 0 for c in plan.crop) and all(lo >= 0 and hi >= 0 for lo, hi in plan.explicit)
    for i in range(plan.rank):
        got = _tf_out(plan.u_op_size[i], plan.kernel[i], plan.strides[i], plan.dilations[i],
                      plan.padding, plan.explicit[i])
        assert got == v_size[i]
    if plan.rank == 3:
        assert plan.padding in ("SAME", "VALID")
    if spec.padding_mode != "zeros":
        assert plan.pre_mode == spec.padding_mode and plan.padding == "VALID"
    expected_op = {("fwd", False): "conv", ("dgrad", False): "input_grad", ("fwd", True): "input_grad",
                   ("dgrad", True): "conv"}.get((direction, spec.transposed), "filter_grad")
    assert plan.op == expected_op


@given(_fields, st.integers(0, 2**16))
@settings(max_examples=100, deadline=None)
def test_tf_filter_round_trips(f, seed):
    spec = _spec_or_none(f)
    if spec is None:
        return
    w = np.random.default_rng(seed).integers(-2, 3, spec.weight_shape).astype(np.float64)
    t = tf_filter(spec, w)
    assert t.ndim == max(spec.dims, 2) + 2
    np.testing.assert_array_equal(untf_filter(spec, t), w)


def test_plan_examples():
    same3d = ConvSpec(in_channels=4, out_channels=4, input_size=(5, 6, 7), kernel_size=3, padding="same",
                      stride=2)
    assert tf_plan(same3d, "fwd").padding == "SAME" and not tf_plan(same3d, "fwd").needs_pad_op
    asym3d = same3d.with_(padding=((1, 0), (0, 1), (2, 1)))
    p = tf_plan(asym3d, "dgrad")
    assert (p.padding, p.pre_mode, p.tf_op) == ("VALID", "constant", "Conv3DBackpropInputV2")
    two_d = ConvSpec(in_channels=4, out_channels=4, input_size=(5, 6), kernel_size=3, padding=((1, 2), (0, 1)))
    p = tf_plan(two_d, "wgrad")
    assert (p.padding, p.explicit, p.tf_op, p.needs_pad_op) == ("EXPLICIT", ((1, 2), (0, 1)), "Conv2DBackpropFilter",
                                                               False)
    # transposed with output_padding beyond its high padding: the direct conv crops its input
    t = ConvSpec(in_channels=4, out_channels=4, input_size=(6,), kernel_size=3, dilation=2, output_padding=1,
                 transposed=True)
    p = tf_plan(t, "fwd")
    assert (p.op, p.crop, p.rank, p.u_size) == ("input_grad", (0, 1), 2, (1, t.output_size[0]))


# ---- the backend --------------------------------------------------------------------------

_BACKEND = TfXlaBackend()
_TF = _BACKEND.unavailable_reason() is None
needs_tf = pytest.mark.skipif(not _TF, reason=f"tf-xla backend unavailable: {_BACKEND.unavailable_reason()}")

SPECS = {
    "1d": ConvSpec(in_channels=4, out_channels=6, input_size=(11,), kernel_size=3, padding=((1, 2),), batch=2),
    "2d": ConvSpec(in_channels=8, out_channels=16, input_size=(9, 9), kernel_size=3, padding=1, batch=2),
    "3d_asym": ConvSpec(in_channels=4, out_channels=6, input_size=(5, 6, 7), kernel_size=(3, 2, 3),
                        padding=((1, 0), (0, 1), (2, 1)), bias=False),
    "3d_same": ConvSpec(in_channels=4, out_channels=4, input_size=(4, 5, 4), kernel_size=3, padding="same",
                        stride=2, groups=2),
    "grouped_dilated_strided": ConvSpec(in_channels=8, out_channels=12, input_size=(11, 12),
                                        kernel_size=3, groups=4, dilation=2, stride=(2, 3),
                                        padding=((2, 1), (1, 2))),
    "depthwise": ConvSpec(in_channels=16, out_channels=16, input_size=(8, 8), kernel_size=3,
                          groups=16, padding=1, stride=2),
    "transposed": ConvSpec(in_channels=8, out_channels=6, input_size=(5, 6), kernel_size=3, stride=2,
                           padding=1, output_padding=1, groups=2, transposed=True),
    # output_padding beyond the high padding (stride 1, dilation 2): a crop beside the op
    "transposed_1d": ConvSpec(in_channels=4, out_channels=6, input_size=(7,), kernel_size=3, stride=1,
                              dilation=2, padding=(1, 0), output_padding=1, transposed=True),
    "transposed_3d": ConvSpec(in_channels=4, out_channels=4, input_size=(3, 4, 3), kernel_size=2,
                              stride=2, output_padding=(1, 0, 1), groups=4, transposed=True, bias=False),
    "reflect": ConvSpec(in_channels=4, out_channels=6, input_size=(7, 8), kernel_size=3,
                        padding=((2, 1), (1, 2)), padding_mode="reflect"),
    "replicate_1d": ConvSpec(in_channels=4, out_channels=6, input_size=(9,), kernel_size=3,
                             padding=2, padding_mode="replicate", stride=2),
    "circular_3d": ConvSpec(in_channels=4, out_channels=6, input_size=(4, 5, 4), kernel_size=3,
                            padding=1, padding_mode="circular", bias=False),
}


def _run(case: Case):
    inputs = make_inputs(case.spec)
    assert _BACKEND.unsupported_reason(case) is None
    kernel = _BACKEND.prepare(case, inputs)
    kernel.run()
    kernel.run()
    kernel.synchronize()
    v = verify(kernel.result(), case, inputs, algorithm=kernel.algorithm)
    assert v.ok, f"{case.spec} {case.dtype} {case.direction} {case.layout} {kernel.algorithm}: {v.message}"
    extra = kernel.extra
    assert extra["hlo_convolutions"] + extra["hlo_dots"] == 1, extra
    assert kernel.algorithm.split("xla:", 1)[1] == extra["hlo_compute"]
    assert kernel.setup_s > 0
    assert kernel.timers() == ["wall", "wall-batch"]
    assert extra["synchronize"].startswith("none")
    assert all(isinstance(v, (int, float, str, bool)) for v in extra.values())
    return kernel, inputs


_FP32_SPECS = ["1d", "3d_asym", "3d_same", "grouped_dilated_strided", "depthwise", "transposed",
               "transposed_1d", "transposed_3d", "reflect", "circular_3d"]


@needs_tf
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("name", _FP32_SPECS)
def test_fp32_every_direction_matches_oracle(name, direction):
    case = Case(SPECS[name], direction=direction)
    kernel, inputs = _run(case)
    np.testing.assert_array_equal(kernel.result(), reference(case.spec, direction, inputs))
    plan = tf_plan(case.spec, direction)
    assert kernel.extra["tf_op"].startswith(plan.tf_op)
    assert kernel.algorithm.startswith("pad+") == plan.needs_pad_op
    assert ("1D as 2D" in kernel.extra["tf_op"]) == (case.spec.dims == 1)
    kernel.close()


@needs_tf
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_types_every_direction(dtype, direction):
    kernel, _ = _run(Case(SPECS["2d"], dtype=dtype, direction=direction))
    assert kernel.layout == "nhwc"
    kernel.close()


@needs_tf
@pytest.mark.parametrize("direction", ["fwd", "dgrad", "wgrad"])
@pytest.mark.parametrize("name", ["1d", "transposed"])
def test_nchw_layout(name, direction):
    kernel, _ = _run(Case(SPECS[name], direction=direction, layout="nchw"))
    assert kernel.layout == ("ncw" if SPECS[name].dims == 1 else "nchw")
    kernel.close()


@needs_tf
@pytest.mark.parametrize("name, layout", [("2d", "native"), ("transposed", "native"),
                                          ("replicate_1d", "nchw"), ("circular_3d", "native"),
                                          ("grouped_dilated_strided", "nchw")])
def test_int8_forward_is_exact(name, layout):
    case = Case(SPECS[name], dtype="int8", layout=layout)
    kernel, inputs = _run(case)
    got = kernel.result()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, reference(case.spec, "fwd", inputs))
    assert kernel.extra["accumulator"] == "s32" and kernel.extra["hlo_conv_type"] == "s32"
    assert kernel.extra["tf_op"].startswith("XlaConvV2")
    kernel.close()


@needs_tf
@pytest.mark.parametrize(
    "case, words",
    [
        (Case(SPECS["2d"], dtype="tf32"), "tf32 is a CUDA tensor-core mode"),
        (Case(SPECS["2d"], dtype="int4"), "int4"),
        (Case(SPECS["2d"], dtype="int8", direction="dgrad"), "no integer convolution gradient"),
        (Case(SPECS["2d"], dtype="int8", direction="wgrad"), "no integer convolution gradient"),
        (Case(SPECS["2d"].with_(kind="deformable")), "deformable"),
        (Case(SPECS["2d"], algorithm="winograd"), "'default'"),
        (Case(SPECS["2d"], layout="blocked"), "layout"),
        (Case(SPECS["2d"], device="cuda:7"), "not visible to tensorflow"),
    ],
)
def test_unsupported_answers(case, words):
    reason = _BACKEND.unsupported_reason(case)
    assert reason is not None and words in reason and "\n" not in reason
    with pytest.raises(ConvbenchError, match="tf-xla cannot run it"):
        _BACKEND.prepare(case, make_inputs(case.spec))


@needs_tf
def test_backend_facts():
    assert _BACKEND.name == "tf-xla"
    v = _BACKEND.versions()
    assert v["tensorflow"] and "cuda_build" in v
    assert "cpu" in _BACKEND.devices()
    assert _BACKEND.algorithms(Case(SPECS["2d"])) == ["default"]


@needs_tf
def test_jax_and_tf_run_in_one_process():
    from convbench.backends.jax_xla import JaxBackend

    jax_backend = JaxBackend()
    if jax_backend.unavailable_reason() is not None:
        pytest.skip("jax unavailable")
    case = Case(SPECS["2d"])
    inputs = make_inputs(case.spec)
    results = []
    for backend in (jax_backend, _BACKEND):
        kernel = backend.prepare(case, inputs)
        kernel.run()
        kernel.synchronize()
        results.append(kernel.result())
        kernel.close()
    np.testing.assert_array_equal(results[0], results[1])


def test_module_imports_without_tensorflow():
    code = ("import sys, convbench.backends.tf_xla, convbench.backends.registry as r; "
            "assert 'tensorflow' not in sys.modules and 'jax' not in sys.modules; "
            "assert r.get_backend('tf-xla').name == 'tf-xla'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
