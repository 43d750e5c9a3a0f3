"""Workload files: every benchdnn shape line, flags, includes, errors, and save/load."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.workloads.descriptor import read
from convbench.workloads.io import WorkloadEntry, WorkloadWarning, dumps, load, save
from convbench.workloads.spec import DIRECTIONS, DTYPES, ConvSpec

BENCHDNN = Path(__file__).resolve().parents[3] / "shared" / "benchdnn"
DATA = Path(__file__).resolve().parents[1] / "data" / "workloads"
SHAPE_FILES = sorted(BENCHDNN.glob("shapes_*"))
needs_benchdnn = pytest.mark.skipif(not SHAPE_FILES, reason=f"no benchdnn shape files in {BENCHDNN}")


# ---- every benchdnn shape line -------------------------------------------------------------------
@pytest.fixture(scope="module")
def shape_lines():
    """{"FILE:LINE": descriptor word} for every shape line, read independently of io.py."""
    lines = {}
    for path in SHAPE_FILES:
        for n, line in enumerate(path.read_text().split("\n"), 1):
            words = line.split("#")[0].split()  # no name in these files holds a '#' or a space
            if words:
                lines[f"{path}:{n}"] = words[-1]
    return lines


@pytest.fixture(scope="module")
def loaded():
    """(entries, warnings) of loading every shape file strictly."""
    entries, warned = [], []
    for path in SHAPE_FILES:
        entries += load(path, strict=True, on_warning=warned.append)
    return entries, warned


@needs_benchdnn
def test_every_shape_line_loads(shape_lines, loaded):
    entries, warned = loaded
    assert len(SHAPE_FILES) == 106
    assert len(shape_lines) == 35_308
    assert len(entries) == 35_308
    assert [e.source for e in entries] == list(shape_lines)
    assert Counter(e.spec.dims for e in entries) == {3: 25_146, 2: 10_058, 1: 104}
    # the 49 `--strides=... desc` lines of shapes_mem_strided: one warning for the file
    assert warned == [f"{BENCHDNN / 'shapes_mem_strided'}:1: --strides: flag ignored "
                      "(memory strides (use convbench's layouts))"]
    strided = [e for e in entries if "shapes_mem_strided:" in e.source]
    assert len(strided) == 49
    assert all(e.direction is None and e.dtype is None and e.spec.bias for e in entries)


@needs_benchdnn
def test_reference_facts_of_the_shape_lines(shape_lines, loaded):
    entries, _ = loaded
    by_source = {e.source: e for e in entries}
    no_mb = negative = asymmetric = symmetric_differs = 0
    for source, word in shape_lines.items():
        d = read(word)
        spec = by_source[source].spec
        no_mb += d.batch is None
        benchdnn_r = d.benchdnn_pad_after()
        negative += any(r < 0 for r in benchdnn_r)
        asymmetric += any(r != p for r, p in zip(benchdnn_r, d.pad_before))
        ext = [(k - 1) * (dd + 1) + 1 for k, dd in zip(d.kernel_size, d.dilation)]
        symmetric_differs += any(
            o is not None and (i + 2 * p - e) // s + 1 != o
            for o, i, p, e, s in zip(d.output_size, d.input_size, d.pad_before, ext, d.stride)
        )
        # benchdnn's negative end padding is always above -stride: clamping keeps the output
        assert all(r > -s for r, s in zip(benchdnn_r, d.stride)), source
        # the stored spec gives the stated output size on every dim of every line
        for stated, derived in zip(d.output_size, spec.output_size):
            assert stated is None or stated == derived, source
        assert spec.output_size == d.benchdnn_output_size(), source
        # the stored end padding is symmetric, or benchdnn's (clamped)
        for (b, a), r in zip(spec.padding, benchdnn_r):
            assert a == b or a == max(r, 0), source
    assert no_mb == 347
    assert negative == 8_204
    assert asymmetric == 27_695
    assert symmetric_differs == 21_009


@needs_benchdnn
def test_counts_come_from_names(loaded):
    entries, _ = loaded
    first = next(e for e in entries if e.source.endswith("shapes_mem_strided:2"))
    assert first.spec.name == "resnet_50:res2a_branch1" and first.count == 4
    assert first.spec.batch == 50
    assert Counter(e.count for e in entries)[1] == 34_973


@needs_benchdnn
def test_benchdnn_lines_save_and_load_back(loaded, tmp_path):
    entries, _ = loaded
    sample = entries[::97]
    path = tmp_path / "sample.txt"
    save(sample, path)
    back = load(path, strict=True)
    assert back == sample
    assert [e.spec.name for e in back] == [e.spec.name for e in sample]


# ---- flags ------------------------------------------------------------------------------------
def _load(text, **kw):
    errors, warned = [], []
    entries = load(text, on_error=errors.append, on_warning=warned.append, **kw)
    return entries, errors, warned


@pytest.mark.parametrize(
    "flag, direction, bias",
    [
        ("--dir=FWD_B", "fwd", True),
        ("--dir=FWD_D", "fwd", False),
        ("--dir=FWD_I", "fwd", False),
        ("--dir=BWD_D", "dgrad", False),
        ("--dir=BWD_W", "wgrad", False),
        ("--dir=BWD_WB", "wgrad", True),
        ("--dir=bwd_wb", "wgrad", True),
        ("--dir=fwd", "fwd", True),
        ("--dir=dgrad", "dgrad", True),
        ("--dir=wgrad", "wgrad", True),
        ("--dir=FWD_D --bia-dt=f32", "fwd", True),
        ("--dir=BWD_W --bia_dt=bf16", "wgrad", True),
        ("--dir=FWD_I --bia-dt=undef", "fwd", False),
        ("--dir=BWD_D --bia-dt=f32", "dgrad", False),
        ("", None, True),
    ],
)
def test_direction_and_bias(flag, direction, bias):
    entries, errors, warned = _load(f"{flag}\nmb4ic3ih8oc8kh3\n")
    assert not errors and not warned
    [entry] = entries
    assert (entry.direction, entry.spec.bias) == (direction, bias)


def test_descriptor_bias0_stays_off_under_a_bias_direction():
    [entry] = _load("--dir=FWD_B\nmb4ic3ih8oc8kh3_bias0\n")[0]
    assert not entry.spec.bias


@pytest.mark.parametrize(
    "flag, dtype",
    [
        ("--dt=f32", "fp32"), ("--dt=bf16", "bf16"), ("--dt=f16", "fp16"), ("--dt=f16:f16:f16", "fp16"),
        ("--dt=bf16:bf16:f32", "bf16"), ("--dt=u8:s8:f32", "int8"), ("--dt=s8:s8:s32", "int8"),
        ("--dt=u8:s8:u8", "int8"), ("--dt=s4:s4:f32", "int4"), ("--dt=f8_e5m2:f8_e4m3:f32", "fp8"),
        ("--dt=f64", "fp64"), ("--dt=fp32", "fp32"), ("--dt=int8", "int8"), ("--dt=tf32", "tf32"),
        ("--cfg=f32", "fp32"), ("--cfg=u8s8s32", "int8"), ("--cfg=s8s8f32", "int8"),
        ("--cfg=bf16bf16f32", "bf16"), ("--cfg=f16", "fp16"), ("--cfg=f32_wino", "fp32"),
    ],
)
def test_dtype_flags(flag, dtype):
    entries, errors, warned = _load(f"{flag} mb4ic3ih8oc8kh3\n")
    assert not errors and not warned
    assert entries[0].dtype == dtype


@pytest.mark.parametrize("flag", ["--dt=u8:s4:f32", "--dt=f16:bf16:f32", "--dt=s32", "--cfg=fancy"])
def test_unclear_dtype_is_left_unset_with_a_warning(flag):
    entries, errors, warned = _load(f"{flag}\nmb4ic3ih8oc8kh3\nmb4ic3ih9oc8kh3\n")
    assert not errors
    assert [e.dtype for e in entries] == [None, None]
    assert len(warned) == 1 and warned[0].startswith(f"<text>:1: {flag}: ") and "dtype left unset" in warned[0]


def test_lists_expand_to_every_combination():
    entries, errors, _ = _load("--dir=FWD_B,BWD_D --dt=f32,bf16 --mb=1,16\nmb4ic3ih8oc8kh3\n")
    assert not errors
    got = [(e.direction, e.dtype, e.spec.batch, e.spec.bias) for e in entries]
    assert got == [
        ("fwd", "fp32", 1, True), ("fwd", "fp32", 16, True), ("fwd", "bf16", 1, True), ("fwd", "bf16", 16, True),
        ("dgrad", "fp32", 1, False), ("dgrad", "fp32", 16, False), ("dgrad", "bf16", 1, False),
        ("dgrad", "bf16", 16, False),
    ]


def test_mb_overrides_batch_and_zero_does_not():
    entries, _, _ = _load("--mb=32\nmb4ic3ih8oc8kh3\nic3ih8oc8kh3\n--mb=0\nmb4ic3ih8oc8kh3\nic3ih8oc8kh3\n")
    assert [e.spec.batch for e in entries] == [32, 32, 4, 2]


def test_reset_and_persistence():
    text = "--dir=BWD_D --dt=bf16 --mb=8 --layout=nhwc\nic3ih8oc8kh3\n\nic3ih9oc8kh3\n--reset\nic3ih8oc8kh3\n"
    entries, errors, warned = _load(text)
    assert not errors and not warned
    got = [(e.direction, e.dtype, e.spec.batch, e.layout, e.spec.bias) for e in entries]
    assert got == [("dgrad", "bf16", 8, "nhwc", False)] * 2 + [(None, None, 2, None, True)]


def test_unknown_flags_warn_once_each():
    text = "--alg=WINO ic3ih8oc8kh3\n--alg=DIRECT\n--attr-post-ops=relu\n--stag=axb ic3ih8oc8kh3\n--strides=::\n"
    entries, errors, warned = _load(text)
    assert len(entries) == 2 and not errors
    assert warned == [
        "<text>:1: --alg: flag ignored (algorithm choice (convbench's own option chooses algorithms))",
        "<text>:3: --attr-post-ops: flag ignored (primitive attributes (post-ops, scales, ...) are not part of "
        "a ConvSpec)",
        "<text>:4: --stag: flag ignored (memory format (use convbench's layouts))",
        "<text>:5: --strides: flag ignored (memory strides (use convbench's layouts))",
    ]


def test_default_warning_channel():
    with pytest.warns(WorkloadWarning, match="--match: flag ignored"):
        assert len(load("--match=.*\nic3ih8oc8kh3\n")) == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("--dir=SIDEWAYS ic3ih8oc8kh3", "--dir=SIDEWAYS: unknown direction 'SIDEWAYS'"),
        ("--dir=BWD_DW ic3ih8oc8kh3", "--dir=BWD_DW: BWD_DW is two directions: use BWD_D,BWD_W"),
        ("--dir", "--dir: --dir needs a value (--dir=...)"),
        ("--dt=f33", "--dt=f33: unknown data type 'f33'"),
        ("--dt=f32:f32", "--dt=f32:f32: data types 'f32:f32': expected one type or src:wei:dst"),
        ("--dt=f32,,bf16", "--dt=f32,,bf16: empty item in the list"),
        ("--mb=-1", "--mb=-1: expected non-negative integers, got '-1'"),
        ("--bia-dt=x", "--bia-dt=x: unknown data type 'x'"),
        ("--layout=NH-WC", "--layout=NH-WC: layout 'NH-WC' is not a layout name"),
        ("--reset=1", "--reset=1: --reset takes no value"),
        ("ic3ih8oc8kh3xy5", "xy5: unknown token"),
        ("ic0ih8oc8kh3", "ic0: ic must be positive"),
        ('ic3ih8oc8kh3n"open', '"open: name has no closing quote'),
        ("g3ic4ih8oc6kh3", "groups: in_channels=4 and out_channels=6 must both be divisible by groups=3"),
    ],
)
def test_bad_lines_are_reported_with_file_line_token(tmp_path, line, message):
    path = tmp_path / "work.txt"
    path.write_text(f"# header\nmb1ic3ih8oc8kh3\n{line}\nmb2ic3ih8oc8kh3\n")
    entries, errors, _ = _load(path)
    assert [e.spec.batch for e in entries] == [1, 2]  # the good lines are kept, the bad one dropped
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:3: {message}"), errors[0]
    assert "\n" not in errors[0]
    with pytest.raises(ConvbenchError) as info:
        load(path, strict=True)
    assert str(info.value) == errors[0]


def test_one_report_per_bad_line_and_default_stderr(capsys):
    entries = load("ic3ih8oc8kh3xy5 ic0ih8oc8kh3\nic3ih8oc8kh3\nzz\n")
    assert len(entries) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["<text>:1: xy5: unknown token", "<text>:3: zz: unknown token"]


def test_bad_flag_drops_the_rest_of_its_line():
    entries, errors, _ = _load("--dir=nope ic3ih8oc8kh3\nic3ih9oc8kh3\n")
    assert [e.spec.input_size for e in entries] == [(9, 9)]
    assert len(errors) == 1


# ---- comments, quotes, continuation ---------------------------------------------------------------
def test_comments_blank_lines_and_quoted_hashes():
    text = '\n# comment\n   \nic3ih8oc8kh3   # trailing\nic3ih8oc8kh3n"a # b"#c\n\tic3ih8oc8kh3n"x y"\n'
    entries, errors, _ = _load(text)
    assert not errors
    assert [e.spec.name for e in entries] == ["", "a # b", "x y"]
    assert [e.source for e in entries] == ["<text>:4", "<text>:5", "<text>:6"]


def test_several_descriptors_on_a_line():
    entries, errors, _ = _load("ic3ih8oc8kh3 ic3ih9oc8kh3\n")
    assert [e.spec.input_size[0] for e in entries] == [8, 9] and not errors


def test_line_continuation_joins_words_as_benchdnn_does():
    text = "--dir=BWD_D\nmb2ic3\\\nih8oc8kh3\nic3ih9oc8 \\\n kh3 ic3ih10oc8kh3\n"
    entries, errors, _ = _load(text)
    assert not errors
    assert [(e.direction, e.spec.input_size[0], e.source) for e in entries] == [
        ("dgrad", 8, "<text>:2"), ("dgrad", 9, "<text>:4"), ("dgrad", 10, "<text>:4")]
    # a break after a flag glues it to the next word too (benchdnn would fail the same way)
    entries, errors, _ = _load("--dir=BWD_D \\\nmb2ic3ih8oc8kh3\n")
    assert not entries and errors[0].startswith("<text>:1: --dir=BWD_Dmb2ic3ih8oc8kh3: unknown direction")


def test_crlf_text():
    entries, errors, _ = _load("ic3ih8oc8kh3\r\nic3ih9oc8kh3n\"a\"\r\n")
    assert not errors and [e.spec.name for e in entries] == ["", "a"]


# ---- includes ---------------------------------------------------------------------------------
def test_batch_includes_relative_to_the_including_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner").write_text("ic3ih7oc8kh3\n--dir=BWD_W\n")
    (tmp_path / "sub" / "middle").write_text("--batch=inner\nic3ih8oc8kh3\n")
    (tmp_path / "top").write_text("--dt=bf16\n--batch=sub/middle\nic3ih9oc8kh3\n")
    entries, errors, _ = _load(tmp_path / "top")
    assert not errors
    got = [(e.spec.input_size[0], e.direction, e.dtype, Path(e.source.rsplit(":", 1)[0]).name) for e in entries]
    # settings made inside an included file hold after it, as in benchdnn
    assert got == [(7, None, "bf16", "inner"), (8, "wgrad", "bf16", "middle"), (9, "wgrad", "bf16", "top")]


def test_included_file_found_beside_an_including_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "shapes").write_text("ic3ih8oc8kh3\n")
    (tmp_path / "a" / "b").write_text("--batch=shapes\n")  # not beside b: found beside top
    (tmp_path / "top").write_text("--batch=a/b\n")
    entries, errors, _ = _load(tmp_path / "top")
    assert not errors and len(entries) == 1


def test_include_cycle_and_missing_include(tmp_path):
    (tmp_path / "a").write_text("ic3ih8oc8kh3\n--batch=b\n")
    (tmp_path / "b").write_text("ic3ih9oc8kh3\n--batch=a\n--batch=missing\n")
    entries, errors, _ = _load(tmp_path / "a")
    assert [e.spec.input_size[0] for e in entries] == [8, 9]
    assert errors == [
        f"{tmp_path / 'b'}:2: --batch=a: include cycle (a -> b -> a)",
        f"{tmp_path / 'b'}:3: --batch=missing: no such file (looked in {tmp_path})",
    ]


def test_strict_stops_at_the_first_bad_line_of_an_included_file(tmp_path):
    (tmp_path / "inner").write_text("ic3ih8oc8kh3\n\nic3ih8oc8kh3xy5\n")
    (tmp_path / "top").write_text("--batch=inner\n")
    with pytest.raises(ConvbenchError) as info:
        load(tmp_path / "top", strict=True)
    assert str(info.value) == f"{tmp_path / 'inner'}:3: xy5: unknown token"


@needs_benchdnn
def test_include_a_benchdnn_file_from_text():
    entries, errors, _ = _load(f"--dir=FWD_D --batch={BENCHDNN / 'shapes_resnet_50'}\n")
    assert not errors and len(entries) == len(load(BENCHDNN / "shapes_resnet_50")) > 0
    assert all(e.direction == "fwd" and not e.spec.bias for e in entries)


# ---- path or text -----------------------------------------------------------------------------
def test_path_or_text(tmp_path, monkeypatch):
    path = tmp_path / "w.txt"
    path.write_text("ic3ih8oc8kh3\n")
    assert len(load(path)) == 1 and len(load(str(path))) == 1
    assert len(load("ic3ih8oc8kh3")) == 1
    assert len(load("--dir=fwd ic3ih8oc8kh3")) == 1
    monkeypatch.chdir(tmp_path)
    assert load("w.txt")[0].source == "w.txt:1"
    with pytest.raises(ConvbenchError, match=r"^workload file: no such file 'missing_file'"):
        load("missing_file")
    with pytest.raises(ConvbenchError, match=r"^workload file: no such file"):
        load(tmp_path / "nope")
    with pytest.raises(ConvbenchError, match=r"is a folder"):
        load(tmp_path)
    with pytest.raises(ConvbenchError, match=r"is a folder"):
        load(str(tmp_path))
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConvbenchError, match=r"is not UTF-8 text"):
        load(tmp_path / "bin")
    with pytest.raises(ConvbenchError, match=r"^workload file: expected a path or text"):
        load(42)
    assert load("# only a comment\n") == []


def test_data_files():
    entries = load(DATA / "mixed.txt", strict=True)
    assert len(entries) == 6
    assert [e.count for e in entries] == [1, 6, 1, 1, 1, 2]
    assert [e.direction for e in entries] == [None, None, "fwd", "fwd", "wgrad", "wgrad"]
    assert entries[1].spec.name == "layer3.0.conv1"
    assert entries[2].spec.transposed and entries[3].spec.padding_mode == "reflect"
    assert all(e.dtype == "bf16" for e in entries[2:])
    assert entries[5].source.endswith("included.txt:2")


# ---- entries, save and the round trip ---------------------------------------------------------------
def test_entry_validation():
    spec = ConvSpec(in_channels=3, out_channels=8, input_size=8, kernel_size=3)
    assert WorkloadEntry(spec) == WorkloadEntry(spec, 1, None, None, source="elsewhere:3")
    for kw, field in [({"count": 0}, "count"), ({"count": True}, "count"), ({"direction": "bwd"}, "direction"),
                      ({"dtype": "f32"}, "dtype"), ({"layout": "N C"}, "layout")]:
        with pytest.raises(ConvbenchError, match=f"^{field}:"):
            WorkloadEntry(spec, **kw)
    with pytest.raises(ConvbenchError, match="^spec:"):
        WorkloadEntry("mb2ic3ih8oc8kh3")


def test_save_writes_flags_only_where_they_change(tmp_path):
    spec = ConvSpec(in_channels=3, out_channels=8, input_size=(8, 8), kernel_size=3, padding=1, name="a")
    entries = [
        WorkloadEntry(spec, 2),
        WorkloadEntry(spec, 1, "fwd", "bf16"),
        WorkloadEntry(spec.with_(bias=False), 1, "fwd", "bf16"),
        WorkloadEntry(spec, 3, "dgrad", None, layout="nhwc"),
        WorkloadEntry(spec, 1, None, "fp32"),
    ]
    text = dumps(entries)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        'mb1ic3ih8oc8kh3ph1n"a*2"',
        "--dir=fwd", "--dt=bf16",
        'mb1ic3ih8oc8kh3ph1n"a"',
        'mb1ic3ih8oc8kh3ph1_bias0n"a"',
        "--reset", "--dir=dgrad", "--layout=nhwc",
        'mb1ic3ih8oc8kh3ph1n"a*3"',
        "--reset", "--dt=fp32",
        'mb1ic3ih8oc8kh3ph1n"a"',
    ]
    path = tmp_path / "out.txt"
    save(entries, path)
    assert path.read_text() == text
    assert os.listdir(tmp_path) == ["out.txt"]
    assert load(path, strict=True) == entries
    save([spec], path)  # plain specs count once
    assert load(path) == [WorkloadEntry(spec)]
    with pytest.raises(ConvbenchError, match="^workload file: cannot write"):
        save(entries, tmp_path / "no" / "such" / "dir.txt")
    with pytest.raises(ConvbenchError, match="^workload entry:"):
        dumps(["mb2ic3ih8oc8kh3"])


@st.composite
def conv_specs(draw):
    """Any valid ConvSpec: every field, square and non-square shapes, any name."""
    dims = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    per = lambda lo, hi: tuple(draw(st.integers(lo, hi)) for _ in range(dims))  # noqa: E731
    kernel, stride, dilation = per(1, 5), per(1, 3), per(1, 3)
    padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(dims))
    if transposed:
        mode = "zeros"
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    else:
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        output_padding = 0
    ext = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(max(1, e - b - a, max(b, a) + 1), 40)) for e, (b, a) in zip(ext, padding))
    groups = draw(st.sampled_from([1, 2, 3]))
    try:
        return ConvSpec(
            in_channels=groups * draw(st.integers(1, 16)), out_channels=groups * draw(st.integers(1, 16)),
            input_size=size, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=draw(st.booleans()), batch=draw(st.integers(1, 64)), padding_mode=mode,
            transposed=transposed, output_padding=output_padding,
            kind=draw(st.sampled_from(["conv", "linear", "deformable"])),
            name=draw(st.one_of(st.text(), st.text(alphabet='ab"\\\n\r *019#_- '))),
        )
    except ConvbenchError:
        assume(False)


entries_strategy = st.lists(
    st.builds(
        WorkloadEntry,
        spec=conv_specs(),
        count=st.integers(1, 1000),
        direction=st.none() | st.sampled_from(DIRECTIONS),
        dtype=st.none() | st.sampled_from(DTYPES),
        layout=st.none() | st.sampled_from(["nchw", "nhwc"]),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(entries_strategy)
def test_save_load_round_trip(entries):
    errors, warned = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load(dumps(entries), strict=True, on_warning=warned.append)
    assert back == entries and not warned and not errors
    assert [e.spec.name for e in back] == [e.spec.name for e in entries]
