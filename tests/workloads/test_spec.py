"""ConvSpec: pinned facts, impossible specs, and its formulas against torch's own shape rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.workloads.spec import (
    DTYPE_BITS,
    DIRECTIONS,
    ConvSpec,
    effective_stride,
    receptive_field,
)

# ---- pinned facts ---------------------------------------------------------------------------


def test_2d_same_size_3x3():
    spec = ConvSpec(in_channels=16, out_channels=16, input_size=(32, 32), kernel_size=3, padding=1)
    assert spec.output_size == (32, 32)
    assert spec.dims == 2


def test_stem_224_k7_s2_p3_gives_112():
    spec = ConvSpec(in_channels=3, out_channels=64, input_size=(224, 224), kernel_size=7, stride=2, padding=3)
    assert spec.output_size == (112, 112)


def test_1d_dilated_no_padding():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=64, kernel_size=3, dilation=4)
    assert spec.input_size == (64,)
    assert spec.output_size == (56,)


def test_params_3x3_64_to_128_with_bias():
    spec = ConvSpec(in_channels=64, out_channels=128, input_size=(56, 56), kernel_size=3, padding=1)
    assert spec.params == 73_856
    assert spec.with_(bias=False).params == 73_728


def test_depthwise_then_pointwise_weights():
    dw = ConvSpec(in_channels=32, out_channels=32, input_size=(56, 56), kernel_size=3, padding=1, groups=32)
    pw = ConvSpec(in_channels=32, out_channels=64, input_size=(56, 56), kernel_size=1)
    assert dw.is_depthwise and not pw.is_depthwise
    assert dw.weight_count == 32 * 9
    assert dw.weight_shape == (32, 1, 3, 3)
    assert pw.weight_count == 32 * 64


def test_transposed_doubles_16_to_32():
    spec = ConvSpec(in_channels=8, out_channels=4, input_size=(16, 16), kernel_size=4, stride=2, padding=1,
                    transposed=True)
    assert spec.output_size == (32, 32)
    assert spec.weight_shape == (8, 4, 4, 4)


@pytest.mark.parametrize("groups", [1, 2, 4, 8, 32])
def test_grouped_is_one_over_g_of_dense(groups):
    dense = ConvSpec(in_channels=32, out_channels=64, input_size=(14, 14), kernel_size=3, padding=1, bias=False)
    grouped = dense.with_(groups=groups)
    assert grouped.macs * groups == dense.macs
    assert grouped.params * groups == dense.params
    assert grouped.flops("fwd") * groups == dense.flops("fwd")


def test_wavenet_receptive_field_is_1024():
    stack = [
        ConvSpec(in_channels=32, out_channels=32, input_size=4096, kernel_size=2, dilation=2**i, padding="causal")
        for i in range(10)
    ]
    assert [s.dilation[0] for s in stack][-1] == 512
    assert receptive_field(stack) == 1024
    assert effective_stride(stack) == 1
    assert all(s.output_size == (4096,) for s in stack)


def test_receptive_field_and_stride_of_a_2d_stack():
    stem = ConvSpec(in_channels=3, out_channels=64, input_size=(224, 224), kernel_size=7, stride=2, padding=3)
    pool_like = ConvSpec(in_channels=64, out_channels=64, input_size=(112, 112), kernel_size=3, stride=2, padding=1)
    conv = ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1)
    assert receptive_field([stem, pool_like, conv]) == (7 + 2 * 2 + 2 * 4,) * 2
    assert effective_stride([stem, pool_like, conv]) == (4, 4)
    with pytest.raises(ConvbenchError, match="receptive_field"):
        receptive_field([])
    with pytest.raises(ConvbenchError, match="receptive_field"):
        receptive_field([stem, ConvSpec(in_channels=1, out_channels=1, input_size=8, kernel_size=3)])


@pytest.mark.parametrize(
    "size, out, pads",
    [(7, 4, (1, 1)), (8, 4, (0, 1)), (9, 5, (1, 1)), (1, 1, (1, 1)), (2, 1, (0, 1))],
)
def test_same_is_tensorflow_rule_at_stride_2(size, out, pads):
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=size, kernel_size=3, stride=2, padding="same")
    assert spec.output_size == (out,)
    assert spec.padding == (pads,)


def test_same_at_stride_1_keeps_size_and_puts_odd_pad_at_end():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=(10, 10), kernel_size=(4, 3), padding="same")
    assert spec.output_size == (10, 10)
    assert spec.padding == ((1, 2), (1, 1))
    # a "same" spec equals the explicit one it resolves to
    assert spec == spec.with_(padding=((1, 2), (1, 1)))


def test_causal_pads_only_the_start():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=20, kernel_size=3, dilation=2, padding="causal")
    assert spec.padding == ((4, 0),)
    assert spec.output_size == (20,)
    with pytest.raises(ConvbenchError, match="^padding:"):
        ConvSpec(in_channels=1, out_channels=1, input_size=(8, 8), kernel_size=3, padding="causal")


def test_valid_and_pairs():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=(9, 9), kernel_size=3, padding="valid")
    assert spec.padding == ((0, 0), (0, 0)) and spec.output_size == (7, 7)
    asym = ConvSpec(in_channels=1, out_channels=1, input_size=(9, 9), kernel_size=3, padding=((0, 1), (2, 0)))
    assert asym.output_size == (8, 9)
    assert not asym.symmetric_padding


def test_name_is_not_part_of_equality():
    a = ConvSpec(in_channels=4, out_channels=4, input_size=8, kernel_size=3, name="a")
    b = a.with_(name="b")
    assert a == b and hash(a) == hash(b) and a.shape_key() == b.shape_key()
    assert a != a.with_(batch=2)


def test_flops_bytes_intensity_figures():
    spec = ConvSpec(in_channels=64, out_channels=128, input_size=(56, 56), kernel_size=3, padding=1, batch=2)
    macs = 2 * 56 * 56 * 128 * 64 * 9
    assert spec.macs == macs
    for direction in DIRECTIONS:
        assert spec.flops(direction) == 2 * macs
    elements = 2 * 64 * 56 * 56 + 128 * 64 * 9 + 2 * 128 * 56 * 56
    assert spec.bytes("fp32") == 4 * (elements + 128)
    assert spec.bytes("bf16") == 2 * (elements + 128)
    assert spec.bytes("int8") == elements + 4 * 128  # int8 bias counted at int32
    assert spec.intensity("fp32") == pytest.approx(2 * macs / (4 * (elements + 128)))
    with pytest.raises(ConvbenchError, match="^dtype:"):
        spec.bytes("fp12")
    with pytest.raises(ConvbenchError, match="^direction:"):
        spec.flops("backward")


def test_int4_rounds_each_tensor_up_to_whole_bytes():
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=3, kernel_size=1, bias=False)
    # input 3, weights 1, output 3 elements: 2 + 1 + 2 bytes
    assert spec.bytes("int4") == 5


def test_transposed_macs_convention():
    spec = ConvSpec(in_channels=8, out_channels=4, input_size=(16, 16), kernel_size=4, stride=2, padding=1,
                    transposed=True, groups=2, batch=3)
    assert spec.macs == 3 * 16 * 16 * 8 * (4 // 2) * 16


# ---- impossible specs -------------------------------------------------------------------------
BASE = dict(in_channels=4, out_channels=8, input_size=(8, 8), kernel_size=3)


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(input_size=(2, 2)), "output_size"),
        (dict(input_size=(8, 8), kernel_size=3, dilation=4), "output_size"),
        (dict(groups=3), "groups"),
        (dict(in_channels=6, out_channels=8, groups=4), "groups"),
        (dict(in_channels=0), "in_channels"),
        (dict(out_channels=-1), "out_channels"),
        (dict(batch=0), "batch"),
        (dict(groups=0), "groups"),
        (dict(input_size=(0, 8)), "input_size"),
        (dict(input_size=(-3,)), "input_size"),
        (dict(input_size=(1, 2, 3, 4)), "input_size"),
        (dict(input_size=()), "input_size"),
        (dict(kernel_size=0), "kernel_size"),
        (dict(kernel_size=(3, 3, 3)), "kernel_size"),
        (dict(stride=0), "stride"),
        (dict(stride=(1, -1)), "stride"),
        (dict(dilation=0), "dilation"),
        (dict(padding=-1), "padding"),
        (dict(padding=((0, -1), (0, 0))), "padding"),
        (dict(padding="full"), "padding"),
        (dict(padding_mode="mirror"), "padding_mode"),
        (dict(padding=8, padding_mode="reflect"), "padding"),
        (dict(padding=9, padding_mode="circular"), "padding"),
        (dict(kind="pooling"), "kind"),
        (dict(bias=1), "bias"),
        (dict(transposed=True, stride=2, output_padding=2), "output_padding"),
        (dict(transposed=True, stride=2, dilation=3, output_padding=3), "output_padding"),
        (dict(transposed=True, output_padding=1), "output_padding"),
        (dict(output_padding=1), "output_padding"),
        (dict(transposed=True, padding="same"), "padding"),
        (dict(transposed=True, padding_mode="reflect"), "padding_mode"),
        (dict(transposed=True, padding=6), "output_size"),
    ],
)
def test_impossible_specs_name_the_field(changes, field):
    with pytest.raises(ConvbenchError) as info:
        ConvSpec(**{**BASE, **changes})
    message = str(info.value)
    assert message.startswith(field + ":"), message
    assert "\n" not in message


def test_output_padding_below_max_of_stride_and_dilation_is_allowed():
    spec = ConvSpec(**{**BASE, "transposed": True, "stride": 2, "dilation": 3, "output_padding": 2})
    assert spec.output_padding == (2, 2)
    assert spec.output_size == ((8 - 1) * 2 + 3 * 2 + 2 + 1,) * 2


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        ConvSpec(**{**BASE, "in_channels": 0})


# ---- against torch ----------------------------------------------------------------------------
@st.composite
def torch_specs(draw):
    """Valid specs that torch can state: any conv (asymmetric padding through F.pad), and
    transposed convs with symmetric padding."""
    dims = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    per = lambda lo, hi: tuple(draw(st.integers(lo, hi)) for _ in range(dims))  # noqa: E731
    kernel, stride, dilation = per(1, 4), per(1, 3), per(1, 3)
    groups = draw(st.sampled_from([1, 2, 3]))
    if transposed:
        pads = per(0, 2)
        padding = tuple((p, p) for p in pads)
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        mode = "zeros"
    else:
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(dims))
        output_padding = 0
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    ext = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(max(1, e - b - a, max(b, a) + 1), 12)) for e, (b, a) in zip(ext, padding))
    try:
        return ConvSpec(
            in_channels=groups * draw(st.integers(1, 3)),
            out_channels=groups * draw(st.integers(1, 3)),
            input_size=size,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=draw(st.booleans()),
            batch=draw(st.integers(1, 3)),
            padding_mode=mode,
            transposed=transposed,
            output_padding=output_padding,
        )
    except ConvbenchError:
        assume(False)


def _torch_output_shape(torch, spec: ConvSpec) -> tuple[int, ...]:
    F = torch.nn.functional
    x = torch.empty(spec.input_shape, device="meta")
    w = torch.empty(spec.weight_shape, device="meta")
    if spec.transposed:
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[spec.dims - 1]
        y = fn(x, w, stride=spec.stride, padding=tuple(b for b, _ in spec.padding),
               output_padding=spec.output_padding, groups=spec.groups, dilation=spec.dilation)
    else:
        flat = [p for pair in reversed(spec.padding) for p in pair]  # F.pad: last dim first
        x = F.pad(x, flat)
        fn = (F.conv1d, F.conv2d, F.conv3d)[spec.dims - 1]
        y = fn(x, w, stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    return tuple(y.shape)


def _torch_module(torch, spec: ConvSpec):
    nn = torch.nn
    if spec.transposed:
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[spec.dims - 1]
        return cls(spec.in_channels, spec.out_channels, spec.kernel_size, stride=spec.stride,
                   padding=tuple(b for b, _ in spec.padding), output_padding=spec.output_padding,
                   groups=spec.groups, bias=spec.bias, dilation=spec.dilation, device="meta")
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[spec.dims - 1]
    return cls(spec.in_channels, spec.out_channels, spec.kernel_size, stride=spec.stride,
               padding=0, dilation=spec.dilation, groups=spec.groups, bias=spec.bias,
               padding_mode=spec.padding_mode, device="meta")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(torch_specs())
def test_output_shape_agrees_with_torch(spec):
    torch = pytest.importorskip("torch")
    assert _torch_output_shape(torch, spec) == spec.output_shape


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(torch_specs())
def test_params_agree_with_torch_modules(spec):
    torch = pytest.importorskip("torch")
    module = _torch_module(torch, spec)
    assert sum(p.numel() for p in module.parameters()) == spec.params
    assert tuple(module.weight.shape) == spec.weight_shape
    assert spec.weight_count == module.weight.numel()


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_torch_padding_modes_keep_the_output_size(padding_mode):
    torch = pytest.importorskip("torch")
    spec = ConvSpec(in_channels=2, out_channels=3, input_size=(6, 7), kernel_size=3, padding=(1, 2),
                    padding_mode=padding_mode)
    module = torch.nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=padding_mode)
    assert tuple(module(torch.zeros(spec.input_shape)).shape) == spec.output_shape


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_agrees_with_torch_at_stride_1():
    torch = pytest.importorskip("torch")
    for k in (1, 2, 3, 4, 5):
        for d in (1, 2):
            spec = ConvSpec(in_channels=1, out_channels=1, input_size=(11,), kernel_size=k, dilation=d, padding="same")
            y = torch.nn.functional.conv1d(torch.zeros(1, 1, 11), torch.zeros(1, 1, k), padding="same", dilation=d)
            assert spec.output_size == tuple(y.shape[2:])
            # torch puts the odd pad at the end as well: the same explicit padding gives the same result
            x = torch.arange(11.0).reshape(1, 1, 11)
            w = torch.arange(1.0, k + 1).reshape(1, 1, k)
            explicit = torch.nn.functional.conv1d(torch.nn.functional.pad(x, spec.padding[0]), w, dilation=d)
            assert torch.equal(explicit, torch.nn.functional.conv1d(x, w, padding="same", dilation=d))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 2), st.integers(1, 3)), min_size=1, max_size=4))
def test_receptive_field_matches_autograd_span(layers):
    """The receptive field of a 1D stack equals the span of inputs one output depends on."""
    torch = pytest.importorskip("torch")
    probe = [ConvSpec(in_channels=1, out_channels=1, input_size=4096, kernel_size=k, stride=s, dilation=d)
             for k, s, d in layers]
    r = receptive_field(probe)
    x = torch.ones(1, 1, r, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = torch.nn.functional.conv1d(y, torch.ones(1, 1, k), stride=s, dilation=d)
    assert y.shape[-1] >= 1
    y[0, 0, 0].backward()
    nonzero = torch.nonzero(x.grad[0, 0]).flatten()
    assert int(nonzero.max() - nonzero.min()) + 1 == r
    assert effective_stride(probe) == math.prod(s for _, s, _ in layers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(torch_specs(), st.sampled_from(sorted(DTYPE_BITS)), st.sampled_from(DIRECTIONS))
def test_bytes_and_intensity_are_consistent(spec, dtype, direction):
    bits = DTYPE_BITS[dtype]
    n_in, n_w, n_out = math.prod(spec.input_shape), math.prod(spec.weight_shape), math.prod(spec.output_shape)
    bias_bits = 32 if dtype in ("int8", "int4") else bits
    expect = sum(-(-n * bits // 8) for n in (n_in, n_w, n_out))
    expect += -(-spec.out_channels * bias_bits // 8) if spec.bias else 0
    assert spec.bytes(dtype) == expect
    assert spec.tensor_elements() == {"input": n_in, "weights": n_w, "output": n_out,
                                      "bias": spec.out_channels if spec.bias else 0}
    assert spec.flops(direction) == 2 * spec.macs
    assert spec.intensity(dtype, direction) == pytest.approx(spec.flops(direction) / spec.bytes(dtype))
    positions = math.prod(spec.input_size if spec.transposed else spec.output_size)
    channels_out = spec.out_channels if not spec.transposed else spec.in_channels
    channels_in = spec.in_channels if not spec.transposed else spec.out_channels
    assert spec.macs == spec.batch * positions * channels_out * channels_in // spec.groups * math.prod(spec.kernel_size)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(torch_specs())
def test_with_revalidates_and_keeps_equality(spec):
    assert spec.with_() == spec
    assert spec.with_(name="x").name == "x"
    with pytest.raises(ConvbenchError):
        spec.with_(in_channels=0)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda dims: st.tuples(
            st.tuples(*[st.integers(1, 40)] * dims),
            st.tuples(*[st.integers(1, 6)] * dims),
            st.tuples(*[st.integers(1, 4)] * dims),
            st.tuples(*[st.integers(1, 3)] * dims),
        )
    )
)
def test_same_agrees_with_jax_at_any_stride(shape):
    """jax's "SAME" follows TensorFlow: out = ceil(in / stride), the odd pad at the end."""
    lax = pytest.importorskip("jax.lax")
    size, kernel, stride, dilation = shape
    spec = ConvSpec(in_channels=1, out_channels=1, input_size=size, kernel_size=kernel, stride=stride,
                    dilation=dilation, padding="same")
    window = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    assert spec.padding == tuple(tuple(p) for p in lax.padtype_to_pads(size, window, stride, "SAME"))
    assert spec.output_size == tuple(-(-i // s) for i, s in zip(size, stride))
