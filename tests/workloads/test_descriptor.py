"""Descriptors: benchdnn's rules, convbench's extensions, errors, and the round trip."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.workloads.descriptor import (
    format_benchdnn,
    format_entry,
    format_spec,
    parse,
    parse_entry,
    quote_name,
    read,
    split_count,
)
from convbench.workloads.spec import ConvSpec


def conv(**kw) -> ConvSpec:
    return ConvSpec(**{"in_channels": 3, "out_channels": 3, "batch": 2, **kw})


# ---- benchdnn's rules ---------------------------------------------------------------------------
def test_design_example():
    spec = parse('mb32ic64ih56oc64kh3ph1n"layer3.0.conv1"')
    assert spec == ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1,
                            batch=32)
    assert spec.name == "layer3.0.conv1"
    assert format_spec(spec) == 'mb32ic64ih56oc64kh3ph1n"layer3.0.conv1"'
    assert str(spec) == format_spec(spec)


def test_benchdnn_canonical_form():
    text = "g1mb2ic16id8ih8iw8oc16od8oh8ow8kd3kh3kw3sd1sh1sw1pd1ph1pw1dd0dh0dw0n\"c\""
    assert parse(text) == conv(in_channels=16, out_channels=16, input_size=(8, 8, 8), kernel_size=3, padding=1)


def test_defaults_mb2_g1_stride1_no_dilation():
    spec = parse("ic3ih10oc8kh3")
    assert spec == ConvSpec(in_channels=3, out_channels=8, input_size=(10, 10), kernel_size=3, batch=2)
    assert read("ic3ih10oc8kh3").batch is None
    assert format_spec(spec).startswith("mb2")


def test_dilation_token_is_dilation_minus_one():
    assert parse("ic3ih10oc3kh3dh0").dilation == (1, 1)
    assert parse("ic3ih10oc3kh3dh1").dilation == (2, 2)
    assert parse("ic3iw10oc3kw3dw3").dilation == (4,)
    assert format_spec(conv(input_size=20, kernel_size=3, dilation=4)) == "mb2ic3iw20oc3kw3dw3"


def test_square_2d_copies_every_h_value_to_w():
    assert parse("ic3ih10oc3kh3sh2ph1dh1") == conv(input_size=(10, 10), kernel_size=3, stride=2, padding=1,
                                                  dilation=2)


def test_given_w_group_takes_its_own_defaults():
    # benchdnn: once any w token is given, w's stride, padding and dilation default on their own
    spec = parse("ic3ih10iw12oc3kh3kw3sh2ph1dh1")
    assert spec.stride == (2, 1) and spec.padding == ((1, 1), (0, 0)) and spec.dilation == (2, 1)


def test_zero_padding_token_alone_does_not_give_a_dim():
    # benchdnn's rule: pw0 (like sw1, dw0) does not make w given, so w copies h, ph included
    assert parse("ic3ih10oc3kh3ph1pw0").padding == ((1, 1), (1, 1))
    assert parse("ic3iw10oc3kw3sh1ph0dh0").dims == 1


def test_dims_from_tokens():
    assert parse("ic3iw10oc3kw3").input_size == (10,)
    assert parse("ic3ih10oc3kh3").input_size == (10, 10)
    assert parse("ic3id6oc3kd3").input_size == (6, 6, 6)
    assert parse("ic3id6oc3kd3pd1").padding == ((1, 1),) * 3
    spec = parse("ic3id4ih6iw8oc3kd1kh3kw5")
    assert spec.input_size == (4, 6, 8) and spec.kernel_size == (1, 3, 5)


def test_1d_underscores_and_groups():
    spec = parse('g2_ic32oc32_iw27kw2_n"1d_gconv_channel-block-16"')
    assert spec == conv(in_channels=32, out_channels=32, input_size=27, kernel_size=2, groups=2)
    assert spec.name == "1d_gconv_channel-block-16"


def test_stated_output_with_symmetric_padding_stays_symmetric():
    text = 'mb50ic64ih56oc64oh28kh3sh2ph1n"resnet_50_sparse:res2c_branch2b"'
    d = read(text)
    assert d.benchdnn_pad_after() == (0, 0)  # benchdnn's own end padding
    spec = d.to_spec()
    assert spec.padding == ((1, 1), (1, 1))
    # the same layer from torch compares equal
    assert spec == ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, stride=2,
                            padding=1, batch=50)


def test_stated_output_that_needs_more_end_padding():
    spec = parse("ic3ih8oc3oh4kh3sh2ph0")
    assert spec.padding == ((0, 1), (0, 1))
    assert spec == conv(input_size=(8, 8), kernel_size=3, stride=2, padding="same")


def test_negative_benchdnn_end_padding_is_clamped():
    d = read("ic3ih9oc3oh4kh3sh2ph1")
    assert d.benchdnn_pad_after() == (-1, -1)
    spec = d.to_spec()
    assert spec.padding == ((1, 0), (1, 0))
    assert spec.output_size == (4, 4)


def test_stated_output_that_no_padding_gives_is_an_error():
    with pytest.raises(ConvbenchError, match=r"^oh3: output size 3 does not follow"):
        parse("ic3ih9oc3oh3kh3sh2ph1")
    with pytest.raises(ConvbenchError, match=r"^oh2: output size 2 needs a negative padding"):
        parse("ic3ih9oc3oh2kh3sh1")


def test_missing_padding_is_derived_with_c_division():
    # benchdnn: p = ((o-1)*s - i + ext) / 2 rounded toward zero: (6 - 10 + 3) / 2 = 0, not -1
    d = read("ic3iw10oc3ow4kw3sw2")
    assert d.pad_before == (0,)
    assert d.benchdnn_pad_after() == (-1,)
    assert d.to_spec().padding == ((0, 0),)
    assert parse("ic3ih10oc3oh10kh3").padding == ((1, 1), (1, 1))
    assert parse("ic3ih10oc3oh10kh4").padding == ((1, 2), (1, 2))


def test_benchdnn_output_size_without_stated_output():
    d = read("ic3ih8oc3kh3sh2")
    assert d.output_size == (None, None)
    assert d.benchdnn_output_size() == (3, 3)
    assert d.benchdnn_pad_after() == (-1, -1)
    assert d.to_spec().padding == ((0, 0), (0, 0))


def test_explicit_end_padding_must_agree_with_stated_output():
    assert parse("ic3ih8oc3oh4kh3sh2ph0rh1").padding == ((0, 1), (0, 1))
    with pytest.raises(ConvbenchError, match=r"^oh5:"):
        parse("ic3ih8oc3oh5kh3sh2ph0rh1")


# ---- transposed -------------------------------------------------------------------------------
def test_deconv_stated_outputs():
    base = dict(in_channels=8, out_channels=4, input_size=(16, 16), kernel_size=4, stride=2, transposed=True)
    assert parse("ic8ih16oc4oh32kh4sh2ph1_deconv") == conv(**base, padding=1)
    assert parse("ic8ih16oc4kh4sh2ph1_deconv").output_size == (32, 32)
    # torch's form: symmetric padding plus output padding
    assert parse("ic8ih16oc4oh33kh4sh2ph1_deconv") == conv(**base, padding=1, output_padding=1)
    assert parse("ic8ih16oc4oh35kh4sh2ph0_deconv") == conv(**base, padding=0, output_padding=1)
    # else the end padding benchdnn derives, and a negative one becomes output padding
    assert parse("ic8ih16oc4oh33kh4sh2ph0_deconv") == conv(**base, padding=((0, 1), (0, 1)))
    assert parse("ic8ih16oc4oh33kh4sh2ph2_deconv") == conv(**base, padding=((2, 0), (2, 0)), output_padding=1)
    with pytest.raises(ConvbenchError, match=r"^oh36:"):
        parse("ic8ih16oc4oh36kh4sh2ph0_deconv")


# ---- extensions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, text",
    [
        (conv(input_size=(8, 8), kernel_size=3, stride=2, padding="same"), "mb2ic3ih8oc3kh3sh2rh1"),
        (conv(input_size=(8, 9), kernel_size=3, padding=((1, 0), (1, 1))),
         "mb2ic3ih8iw9oc3kh3kw3ph1pw1rh0"),
        (conv(input_size=20, kernel_size=3, dilation=2, padding="causal"), "mb2ic3iw20oc3kw3pw4rw0dw1"),
        (conv(input_size=(7, 7), kernel_size=3, padding=1, padding_mode="reflect"), "mb2ic3ih7oc3kh3ph1_reflect"),
        (conv(input_size=(7, 7), kernel_size=3, padding=1, padding_mode="circular", bias=False),
         "mb2ic3ih7oc3kh3ph1_circular_bias0"),
        (conv(input_size=7, kernel_size=3, padding_mode="replicate"), "mb2ic3iw7oc3kw3_replicate"),
        (conv(input_size=(4, 4), kernel_size=4, stride=2, padding=1, output_padding=1, transposed=True),
         "mb2ic3ih4oc3kh4sh2ph1oph1_deconv"),
        (conv(in_channels=512, out_channels=1000, input_size=(1, 1), kind="linear", batch=8),
         "mb8ic512ih1oc1000kh1_linear"),
        (conv(input_size=(9, 9), kernel_size=3, kind="deformable", groups=3), "g3mb2ic3ih9oc3kh3_deformable"),
        (conv(input_size=(6, 6, 6), kernel_size=3, padding=1), "mb2ic3id6oc3kd3pd1"),
        (conv(input_size=(4, 6, 6), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
         "mb2ic3id4ih6iw6oc3kd1kh3kw3ph1pw1"),
        (conv(input_size=(6, 6, 6), kernel_size=3, stride=(1, 1, 2)),
         "mb2ic3id6ih6iw6oc3kd3kh3kw3sw2"),
    ],
)
def test_canonical_text(spec, text):
    assert format_spec(spec) == text
    back = parse(text)
    assert back == spec
    assert format_spec(back) == text


def test_keyword_followed_directly_by_name():
    spec = parse('ic3ih5oc3kh3_deconvn"up"')
    assert spec.transposed and spec.name == "up"


# ---- names and counts -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ['plain', 'with "quotes"', "back\\slash", 'end\\', '"', "", "new\nline\r", "spaces  and\ttabs",
     "#not a comment", "n\"x\"", "star*3", "ünïcødé ∑", "*"],
)
def test_names_round_trip(name):
    spec = conv(input_size=5, kernel_size=3, name=name)
    text = format_spec(spec)
    assert "\n" not in text and "\r" not in text
    assert parse(text).name == name
    back, count = parse_entry(format_entry(spec, 7))
    assert (back, back.name, count) == (spec, name, 7)
    back, count = parse_entry(format_entry(spec))
    assert (back.name, count) == (name, 1)


def test_quote_name_escapes():
    assert quote_name('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_unquoted_benchdnn_name_runs_to_the_end():
    assert parse("ic3ih5oc3kh3nconv1_a").name == "conv1_a"
    assert parse("ic3ih5oc3kh3n").name == ""


def test_count_suffix():
    spec, count = parse_entry('mb50ic64ih56oc256oh56kh1ph0n"resnet_50:res2a_branch1*4"')
    assert (spec.name, count) == ("resnet_50:res2a_branch1", 4)
    assert parse('ic3ih5oc3kh3n"x*4"').name == "x*4"  # parse keeps the name whole
    assert parse_entry("ic3ih5oc3kh3")[1] == 1
    assert split_count("a*b") == ("a*b", 1)
    assert split_count("a*2*3") == ("a*2", 3)
    assert split_count("a*-1") == ("a*-1", 1)
    with pytest.raises(ConvbenchError, match=r"^\*0: count must be positive"):
        parse_entry('ic3ih5oc3kh3n"x*0"')
    assert format_entry(conv(input_size=5, kernel_size=3, name="x*2"), 1).endswith('n"x*2*1"')
    with pytest.raises(ConvbenchError, match="^count:"):
        format_entry(conv(input_size=5, kernel_size=3), 0)


# ---- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ("ic3ih5oc3kh3xy5", "xy5: unknown token"),
        ("ic3ih5oc3kh3 @", "@: unknown token"),
        ("IC3ih5oc3kh3", "IC3: unknown token"),
        ("ic0ih5oc3kh3", "ic0: ic must be positive"),
        ("ic3ih5oc3kh0", "kh0: kh must be positive"),
        ("ic3ih5oc3kh3sh0", "sh0: sh must be positive"),
        ("g0ic3ih5oc3kh3", "g0: g must be positive"),
        ("mb0ic3ih5oc3kh3", "mb0: mb must be positive"),
        ("ic3ih-5oc3kh3", "ih-5: ih must be positive"),
        ("ic3ih5oc3kh3ph-1", "ph-1: ph must be >= 0"),
        ("ic3ih5oc3kh3ph+1", "ph+1: ph numbers are written without a sign"),
        ("ic3ih5oc3kh", "kh: kh needs a number"),
        ("ic3ih5oc3kh3ih6", "ih6: ih given twice"),
        ("ih5oc3kh3", "ic: missing"),
        ("ic3ih5kh3", "oc: missing"),
        ("ic3oc3", "id/ih/iw: missing: the descriptor has no spatial size"),
        ("", "ic: missing"),
        ("ic3ih5oc3", "kh: missing (h is given by ih5)"),
        ("ic3oc3kh3", "ih: missing (h is given by kh3)"),
        ("ic3ih5iw5oc3kh3", "kw: missing (w is given by iw5)"),
        ("ic3id5ih5oc3kd3kh3", "iw: a 3D descriptor gives both h and w sizes or neither"),
        ("ic3id5iw5oc3kd3kw3", "ih: a 3D descriptor gives both h and w sizes or neither"),
        ("ic3ih5oc3kh3bias2", "bias2: bias must be 0 or 1"),
        ("ic3ih5oc3kh3_deconv2", "deconv2: unknown token (deconv takes no number)"),
        ("ic3ih5oc3kh3_deconv_deconv", "deconv: given twice"),
        ("ic3ih5oc3kh3_reflect_circular", "reflect_circular: choose one padding mode"),
        ("ic3ih5oc3kh3_linear_deformable", "linear_deformable: choose one kind"),
        ('ic3ih5oc3kh3n"abc', '"abc: name has no closing quote'),
        ('ic3ih5oc3kh3n"a"b', "b: text after the closing quote of the name"),
        ('ic3ih5oc3kh3n"a\\qb"', "\\q: unknown escape in name"),
        ('ic3ih5oc3kh3nab"c', 'nab"c: a name with a quote must be quoted'),
        ("g3ic4ih5oc3kh3", "groups: in_channels=4 and out_channels=3 must both be divisible by groups=3"),
        ("ic3ih2oc3kh3", "output_size: (0, 0) has a size below 1"),
        ("ic3ih5oc3kh3oph1", "output_padding: only a transposed conv has output padding"),
        ("ic3ih5oc3kh3ph5_reflect", "padding: reflect padding (5, 5) must be smaller than input size 5"),
    ],
)
def test_errors_name_the_token(text, message):
    with pytest.raises(ConvbenchError) as info:
        parse(text)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_not_a_string():
    with pytest.raises(ConvbenchError, match="^descriptor:"):
        parse(42)


# ---- benchdnn export ---------------------------------------------------------------------------
def test_format_benchdnn_states_outputs_and_count():
    spec = conv(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, stride=2, padding=1,
                batch=50, name="layer2.0 conv1")
    text = format_benchdnn(spec, count=6)
    assert text == 'mb50ic64ih56oc64oh28kh3sh2ph1n"layer2.0_conv1*6"'
    back, count = parse_entry(text)
    assert back == spec and count == 6


def test_format_benchdnn_asymmetric_and_refusals():
    same = conv(input_size=(8, 8), kernel_size=3, stride=2, padding="same")
    assert parse(format_benchdnn(same)) == same
    with pytest.raises(ConvbenchError, match=r"^padding: \(\(1, 0\),\) cannot be stated to benchdnn"):
        format_benchdnn(conv(input_size=8, kernel_size=3, stride=2, padding=((1, 0),)))
    with pytest.raises(ConvbenchError, match="^padding_mode:"):
        format_benchdnn(conv(input_size=8, kernel_size=3, padding=1, padding_mode="reflect"))
    with pytest.raises(ConvbenchError, match="^kind:"):
        format_benchdnn(conv(input_size=8, kernel_size=3, kind="deformable"))
    with pytest.raises(ConvbenchError, match="^count:"):
        format_benchdnn(conv(input_size=8, kernel_size=3), count=0)
    starred = conv(input_size=8, kernel_size=3, name="x*2")
    assert parse_entry(format_benchdnn(starred)) == (starred, 1)
    assert parse_entry(format_benchdnn(starred))[0].name == "x*2"


# ---- properties -------------------------------------------------------------------------------
@st.composite
def conv_specs(draw):
    """Any valid ConvSpec: every field, square and non-square shapes, any name."""
    dims = draw(st.integers(1, 3))
    uniform = draw(st.booleans())

    def per(strategy):
        if uniform:
            return (draw(strategy),) * dims
        return tuple(draw(strategy) for _ in range(dims))

    transposed = draw(st.booleans())
    kernel, stride, dilation = per(st.integers(1, 5)), per(st.integers(1, 3)), per(st.integers(1, 3))
    padding = per(st.tuples(st.integers(0, 4), st.integers(0, 4)))
    if transposed:
        mode = "zeros"
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    else:
        mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
        output_padding = 0
    ext = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    low = [max(1, e - b - a, max(b, a) + 1) for e, (b, a) in zip(ext, padding)]
    size = per(st.integers(max(low), 64)) if uniform else tuple(draw(st.integers(lo, 64)) for lo in low)
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    try:
        return ConvSpec(
            in_channels=groups * draw(st.integers(1, 64)),
            out_channels=groups * draw(st.integers(1, 64)),
            input_size=size,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=draw(st.booleans()),
            batch=draw(st.integers(1, 256)),
            padding_mode=mode,
            transposed=transposed,
            output_padding=output_padding,
            kind=draw(st.sampled_from(["conv", "conv", "linear", "deformable"])),
            name=draw(st.one_of(st.text(), st.text(alphabet='ab"\\\n\r *0123456789#_ '))),
        )
    except ConvbenchError:
        assume(False)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(conv_specs())
def test_round_trip(spec):
    text = format_spec(spec)
    back = parse(text)
    assert back == spec
    assert back.name == spec.name
    assert format_spec(back) == text
    assert "\n" not in text and "\r" not in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(conv_specs(), st.integers(1, 10_000))
def test_entry_round_trip(spec, count):
    back, back_count = parse_entry(format_entry(spec, count))
    assert (back, back.name, back_count) == (spec, spec.name, count)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(conv_specs())
def test_benchdnn_export_reads_back_the_same_computation(spec):
    spec = spec.with_(padding_mode="zeros", kind="conv", bias=True)
    try:
        text = format_benchdnn(spec)
    except ConvbenchError as e:
        assert str(e).startswith("padding:")
        # only an end padding that no stated output implies is refused
        assert not spec.symmetric_padding or spec.transposed
        return
    core, quote, name = text.partition('n"')
    back = parse(core + ("_deconv" if spec.transposed else "") + quote + name)
    effective = lambda s: [(b, a - op) for (b, a), op in zip(s.padding, s.output_padding)]  # noqa: E731
    assert effective(back) == effective(spec)
    assert back.output_size == spec.output_size
    assert back.with_(padding=spec.padding, output_padding=spec.output_padding) == spec
    if not spec.transposed or not any(spec.output_padding):
        if spec.symmetric_padding:
            assert back == spec
