"""The float64 oracle against torch (float64 autograd) and against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.backends.base import Inputs
from convbench.errors import ConvbenchError
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import magnitude, reference, unsupported_reason
from convbench.workloads.spec import DIRECTIONS, ConvSpec

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def torch_reference(spec: ConvSpec, direction: str, inputs: Inputs, use_torch_padding: bool = False) -> np.ndarray:
    """The same quantity from torch in float64: functional convs, F.pad, autograd."""
    x = torch.tensor(inputs.x, requires_grad=True)
    w = torch.tensor(inputs.w, requires_grad=True)
    b = torch.tensor(inputs.b) if inputs.b is not None else None
    d = spec.dims
    if not spec.transposed:
        conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
        if use_torch_padding:
            assert spec.symmetric_padding and spec.padding_mode == "zeros"
            y = conv(x, w, b, spec.stride, [p for p, _ in spec.padding], spec.dilation, spec.groups)
        else:
            flat = [v for pair in reversed(spec.padding) for v in pair]  # last dim first
            xp = F.pad(x, flat, mode=TORCH_PAD_MODES[spec.padding_mode]) if any(flat) else x
            y = conv(xp, w, b, spec.stride, 0, spec.dilation, spec.groups)
    else:
        convt = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[d - 1]
        if use_torch_padding:
            assert spec.symmetric_padding
            y = convt(x, w, b, spec.stride, [p for p, _ in spec.padding], spec.output_padding,
                      spec.groups, spec.dilation)
        else:
            full = convt(x, w, None, spec.stride, 0, spec.output_padding, spec.groups, spec.dilation)
            crop = (slice(None), slice(None)) + tuple(
                slice(bf, bf + o) for (bf, _), o in zip(spec.padding, spec.output_size)
            )
            y = full[crop]
            if b is not None:
                y = y + b.reshape((1, -1) + (1,) * d)
    assert tuple(y.shape) == spec.output_shape
    if direction == "fwd":
        return y.detach().numpy()
    dy = torch.tensor(inputs.dy)
    target = x if direction == "dgrad" else w
    (g,) = torch.autograd.grad((y * dy).sum(), target)
    return g.numpy()


@st.composite
def conv_specs(draw):
    dims = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    kind = "conv"
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(dims))
    mode = "zeros" if transposed else draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    max_size = (9, 6, 4)[dims - 1]
    size = tuple(draw(st.integers(1, max_size)) for _ in range(dims))
    output_padding = (
        tuple(draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dilation)) if transposed else 0
    )
    try:
        spec = ConvSpec(
            in_channels=groups * draw(st.integers(1, 3)),
            out_channels=groups * draw(st.integers(1, 3)),
            input_size=size,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=draw(st.booleans()),
            batch=draw(st.integers(1, 2)),
            padding_mode=mode,
            transposed=transposed,
            output_padding=output_padding,
            kind=kind,
        )
    except ConvbenchError:
        assume(False)
    return spec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=conv_specs(), direction=st.sampled_from(DIRECTIONS), seed=st.integers(0, 3),
       distribution=st.sampled_from(["int", "normal"]))
def test_matches_torch(spec, direction, seed, distribution):
    inputs = make_inputs(spec, seed, distribution)
    got = reference(spec, direction, inputs)
    want = torch_reference(spec, direction, inputs)
    assert got.dtype == np.float64
    assert got.shape == want.shape
    if distribution == "int":
        np.testing.assert_array_equal(got, want)  # integer data: both are exact
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=conv_specs(), direction=st.sampled_from(DIRECTIONS))
def test_matches_torch_own_padding_argument(spec, direction):
    """Where torch's padding argument can express the spec, it agrees with pad-then-conv/crop."""
    assume(spec.symmetric_padding and spec.padding_mode == "zeros")
    inputs = make_inputs(spec, 1)
    np.testing.assert_array_equal(
        reference(spec, direction, inputs), torch_reference(spec, direction, inputs, use_torch_padding=True)
    )


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec(in_channels=8, out_channels=16, input_size=(7, 9), kernel_size=3, stride=2, padding=((0, 1), (2, 1)),
                 groups=4, dilation=(2, 1), batch=3),
        ConvSpec(in_channels=6, out_channels=6, input_size=(11, 10), kernel_size=5, padding=2, groups=6,
                 padding_mode="reflect"),
        ConvSpec(in_channels=4, out_channels=6, input_size=(5, 6, 7), kernel_size=3, stride=(1, 2, 3), padding=1,
                 padding_mode="circular", groups=2),
        ConvSpec(in_channels=3, out_channels=5, input_size=(13,), kernel_size=4, stride=3, padding=((3, 0),),
                 padding_mode="replicate"),
        ConvSpec(in_channels=6, out_channels=4, input_size=(4, 5), kernel_size=3, stride=2, dilation=3,
                 padding=((1, 2), (0, 3)), transposed=True, output_padding=(2, 1), groups=2, batch=2),
        ConvSpec(in_channels=4, out_channels=2, input_size=(3, 3, 4), kernel_size=(2, 3, 3), stride=2, padding=1,
                 transposed=True, output_padding=1),
        ConvSpec(in_channels=20, out_channels=7, input_size=(1,), kind="linear", batch=4),
        ConvSpec(in_channels=3, out_channels=8, input_size=(32, 32), kernel_size=16, stride=16),
        ConvSpec(in_channels=5, out_channels=5, input_size=(9,), kernel_size=2, dilation=4, padding="causal"),
    ],
    ids=["grouped-asym-2d", "depthwise-reflect", "circular-3d", "replicate-1d", "transposed-asym-dilated",
         "transposed-3d", "linear", "patchify", "causal-dilated"],
)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_fixed_specs_match_torch(spec, direction):
    inputs = make_inputs(spec, 7)
    np.testing.assert_array_equal(reference(spec, direction, inputs), torch_reference(spec, direction, inputs))


def test_known_answers_1d():
    """Hand-computed: x = [1, 2, 3, 4], w = [1, 10] (cross-correlation, not convolution)."""
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=(4,), kernel_size=2, bias=True)
    inp = Inputs(x=np.array([[[1.0, 2, 3, 4]]]), w=np.array([[[1.0, 10]]]), b=np.array([100.0]),
                 dy=np.array([[[1.0, 0, 2]]]))
    np.testing.assert_array_equal(reference(spec, "fwd", inp), [[[121, 132, 143]]])
    # dx[i] = sum_o dy[o] w[i - o]: [1*1, 1*10 + 0*1, 0*10 + 2*1, 2*10]
    np.testing.assert_array_equal(reference(spec, "dgrad", inp), [[[1, 10, 2, 20]]])
    # dw[t] = sum_o dy[o] x[o + t]: [1*1 + 2*3, 1*2 + 2*4]
    np.testing.assert_array_equal(reference(spec, "wgrad", inp), [[[7, 10]]])


def test_known_answers_padding_modes_1d():
    """x = [1, 2, 3], w = [1, 0, 0] reads the left neighbour; each mode fills position -1."""
    x = np.array([[[1.0, 2, 3]]])
    w = np.array([[[1.0, 0, 0]]])
    expected_left = {"zeros": 0, "reflect": 2, "replicate": 1, "circular": 3}
    for mode, left in expected_left.items():
        spec = ConvSpec(in_channels=1, out_channels=1, input_size=(3,), kernel_size=3, padding=1,
                        padding_mode=mode, bias=False)
        inp = Inputs(x=x, w=w, b=None, dy=np.array([[[1.0, 10, 100]]]))
        np.testing.assert_array_equal(reference(spec, "fwd", inp), [[[left, 1, 2]]])
        # y0 = x[-1] (the pad), y1 = x0, y2 = x1: dx = [10, 100, 0] plus dy0 folded onto the
        # element the pad copied (reflect: x1, replicate: x0, circular: x2; zeros: dropped).
        dx = np.array([10.0, 100, 0])
        source = {"zeros": None, "reflect": 1, "replicate": 0, "circular": 2}[mode]
        if source is not None:
            dx[source] += 1
        np.testing.assert_array_equal(reference(spec, "dgrad", inp), [[dx]])


def test_known_answer_transposed_1d():
    """Transposed, stride 2: every input element stamps the kernel at 2*i."""
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=(3,), kernel_size=3, stride=2, bias=False,
                    transposed=True, output_padding=1)
    inp = Inputs(x=np.array([[[1.0, 2, 3]]]), w=np.array([[[1.0, 10, 100]]]), b=None, dy=np.zeros((1, 1, 8)))
    # positions 0..7: 1*[1,10,100] at 0, 2*[1,10,100] at 2, 3*[...] at 4, one output_padding zero
    np.testing.assert_array_equal(reference(spec, "fwd", inp), [[[1, 10, 102, 20, 203, 30, 300, 0]]])


def test_known_answer_grouped():
    """Two groups of one channel each: output k only sees input k."""
    spec = ConvSpec(in_channels=2, out_channels=2, input_size=(2,), kernel_size=1, groups=2, bias=False)
    inp = Inputs(x=np.array([[[1.0, 2], [3, 4]]]), w=np.array([[[10.0]], [[100.0]]]), b=None,
                 dy=np.array([[[1.0, 1], [1, 1]]]))
    np.testing.assert_array_equal(reference(spec, "fwd", inp), [[[10, 20], [300, 400]]])
    np.testing.assert_array_equal(reference(spec, "wgrad", inp), [[[3.0]], [[7.0]]])


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_magnitude_is_sum_of_absolute_terms(direction):
    spec = ConvSpec(in_channels=4, out_channels=6, input_size=(6, 5), kernel_size=3, stride=2, padding=((1, 0), (2, 1)),
                    groups=2, padding_mode="reflect")
    inputs = make_inputs(spec, 3, "normal")
    mag = magnitude(spec, direction, inputs)
    ref = reference(spec, direction, inputs)
    assert mag.shape == ref.shape
    assert np.all(mag >= np.abs(ref) - 1e-12)
    absolute = Inputs(x=np.abs(inputs.x), w=np.abs(inputs.w), b=np.abs(inputs.b), dy=np.abs(inputs.dy))
    np.testing.assert_allclose(mag, reference(spec, direction, absolute), rtol=1e-14)
    # with non-negative inputs the magnitude is the result itself
    np.testing.assert_allclose(magnitude(spec, direction, absolute), reference(spec, direction, absolute), rtol=1e-14)


def test_magnitude_known_answer():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=(3,), kernel_size=2, bias=True)
    inp = Inputs(x=np.array([[[1.0, -2, 3]]]), w=np.array([[[-1.0, 1]]]), b=np.array([-5.0]), dy=np.zeros((1, 1, 2)))
    np.testing.assert_array_equal(reference(spec, "fwd", inp), [[[-8, 0]]])
    np.testing.assert_array_equal(magnitude(spec, "fwd", inp), [[[8, 10]]])


def test_deformable_is_refused():
    spec = ConvSpec(in_channels=2, out_channels=2, input_size=(5, 5), kernel_size=3, kind="deformable")
    assert "offsets" in unsupported_reason(spec, "fwd")
    with pytest.raises(ConvbenchError, match="deformable"):
        reference(spec, "fwd", make_inputs(spec))


def test_wrong_input_shapes_are_user_errors():
    spec = ConvSpec(in_channels=2, out_channels=3, input_size=(5, 5), kernel_size=3)
    good = make_inputs(spec)
    with pytest.raises(ConvbenchError, match="inputs.w"):
        reference(spec, "fwd", Inputs(x=good.x, w=good.w[:, :1], b=good.b, dy=good.dy))
    with pytest.raises(ConvbenchError, match="inputs.b"):
        reference(spec, "fwd", Inputs(x=good.x, w=good.w, b=None, dy=good.dy))
    with pytest.raises(ConvbenchError, match="direction"):
        reference(spec, "bwd", good)
    with pytest.raises(ConvbenchError, match="inputs.dy"):
        reference(spec, "dgrad", Inputs(x=good.x, w=good.w, b=good.b, dy=good.dy[:, :, :1]))
    # operands a direction does not read are not looked at
    assert reference(spec, "fwd", Inputs(x=good.x, w=good.w, b=good.b, dy=np.zeros(0))).shape == spec.output_shape


def test_does_not_modify_inputs_and_is_contiguous():
    spec = ConvSpec(in_channels=2, out_channels=4, input_size=(6, 6), kernel_size=3, padding=((2, 1), (0, 2)),
                    padding_mode="replicate")
    inputs = make_inputs(spec)
    copies = {k: getattr(inputs, k).copy() for k in ("x", "w", "b", "dy")}
    for direction in DIRECTIONS:
        out = reference(spec, direction, inputs)
        assert out.flags.c_contiguous
        magnitude(spec, direction, inputs)
    for k, v in copies.items():
        np.testing.assert_array_equal(getattr(inputs, k), v)


@pytest.mark.parametrize("budget", [1, 2000, 20000])
@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec(in_channels=3, out_channels=4, input_size=(6, 7), kernel_size=3, stride=2, padding=1, batch=5),
        ConvSpec(in_channels=4, out_channels=6, input_size=(9, 5, 4), kernel_size=(3, 2, 2), stride=(2, 1, 2),
                 dilation=(2, 1, 1), padding=((2, 1), (0, 1), (1, 0)), groups=2, batch=3, padding_mode="circular"),
        ConvSpec(in_channels=4, out_channels=2, input_size=(5, 6), kernel_size=3, stride=3, dilation=2, padding=1,
                 transposed=True, output_padding=(1, 2), batch=3),
    ],
    ids=["2d-strided", "3d-grouped-dilated", "transposed"],
)
def test_chunking_matches_unchunked(monkeypatch, spec, budget):
    """The im2col is built per block (samples, or rows of one sample); any budget gives the same
    answer (budget 1: one output row at a time)."""
    import convbench.harness.oracle as oracle

    inputs = make_inputs(spec, 2, "normal")
    whole = {d: reference(spec, d, inputs) for d in DIRECTIONS}
    monkeypatch.setattr(oracle, "CHUNK_BYTES", budget)
    for d in DIRECTIONS:
        np.testing.assert_allclose(reference(spec, d, inputs), whole[d], rtol=1e-13, atol=1e-13)
        ints = make_inputs(spec)
        np.testing.assert_array_equal(reference(spec, d, ints), torch_reference(spec, d, ints))
