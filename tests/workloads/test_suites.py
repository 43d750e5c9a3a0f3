"""Suites: de-duplication, the quick and standard suites, per-network suites."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.workloads.networks import _REGISTRY, get_network, list_networks
from convbench.workloads.spec import ConvSpec
from convbench.workloads.suites import (
    Suite,
    SuiteEntry,
    dedupe,
    get_suite,
    list_suites,
    quick_layers,
)


def _skip_unless_importable(name: str) -> None:
    module = _REGISTRY[name][0]
    try:
        importlib.import_module(f"convbench.workloads.networks.{module}")
    except ImportError as exc:
        pytest.skip(f"networks/{module}.py does not import yet: {exc}")


# ---- dedupe ----------------------------------------------------------------------------------
_POOL = [
    ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1),
    ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1, bias=False),
    ConvSpec(in_channels=64, out_channels=256, input_size=(56, 56)),
    ConvSpec(in_channels=64, out_channels=256, input_size=(56, 56), kind="linear"),
    ConvSpec(in_channels=32, out_channels=32, input_size=(100,), kernel_size=2, dilation=4, padding="causal"),
    ConvSpec(in_channels=8, out_channels=8, input_size=(4, 4, 4), kernel_size=2, stride=2, transposed=True),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_POOL) - 1), st.text(max_size=5)), max_size=30))
def test_dedupe_properties(picks):
    specs = [_POOL[i].with_(name=name) for i, name in picks]
    entries = dedupe(specs, network="net")
    assert sum(e.count for e in entries) == len(specs)
    assert len({e.spec for e in entries}) == len(entries)
    # first-occurrence order, the first spec (with its name) kept, every name listed in order
    firsts = []
    for s in specs:
        if s not in firsts:
            firsts.append(s)
    assert [e.spec for e in entries] == firsts
    for e in entries:
        same = [s for s in specs if s == e.spec]
        assert e.count == len(same) == len(e.layers)
        assert e.layers == tuple(s.name for s in same)
        assert e.spec.name == same[0].name
        assert e.network == "net"


def test_dedupe_rejects_non_specs():
    with pytest.raises(ConvbenchError, match="specs"):
        dedupe(["mb1ic3"])


def test_suite_is_frozen_and_iterable():
    entries = dedupe(_POOL + _POOL[:2])
    suite = Suite("x", "d", entries)
    assert list(suite) == list(entries) and len(suite) == len(_POOL)
    assert suite.total_count == len(_POOL) + 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        suite.name = "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        entries[0].count = 3


# ---- names -----------------------------------------------------------------------------------
def test_list_suites():
    names = list_suites()
    assert names[:2] == ["quick", "standard"]
    assert names[2:] == [f"net:{n}" for n in list_networks()]


def test_unknown_suite_lists_known():
    with pytest.raises(ConvbenchError, match=r"suite: unknown suite 'nope' \(known: quick, standard, net:"):
        get_suite("nope")
    with pytest.raises(ConvbenchError, match="unknown suite 'net:nope'"):
        get_suite("net:nope")
    with pytest.raises(ConvbenchError, match="batch"):
        get_suite("quick", batch=0)


def test_plain_network_names_and_aliases():
    assert get_suite("wavenet") == get_suite("net:wavenet")
    assert get_suite("ASPP").name == "net:deeplabv3_aspp"
    assert get_suite("net:mobilenetv2").name == "net:mobilenet_v2"


# ---- per-network suites ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list_networks())
def test_network_suite_counts_sum_to_layers(name):
    _skip_unless_importable(name)
    net = get_network(name)
    suite = get_suite(f"net:{name}")
    assert suite.total_count == len(net.layers)
    assert [n for e in suite for n in e.layers] != [] and all(e.network == name for e in suite)
    assert sorted(n for e in suite for n in e.layers) == sorted(s.name for s in net.layers)
    assert sum(e.spec.macs * e.count for e in suite) == net.macs
    assert sum(e.spec.params * e.count for e in suite) == net.params
    assert len({e.spec for e in suite}) == len(suite)


def test_network_suite_batch():
    one, two = get_suite("unet"), get_suite("unet", batch=2)
    assert [e.count for e in one] == [e.count for e in two]
    assert sum(e.spec.macs * e.count for e in two) == 2 * sum(e.spec.macs * e.count for e in one)
    assert "batch 2" in two.description


def test_wavenet_suite_dedupes_repeated_blocks():
    suite = get_suite("wavenet")
    dilated = [e for e in suite if e.spec.name.endswith(".dilated")]
    assert len(dilated) == 10 and {e.count for e in dilated} == {3}
    skip = [e for e in suite if e.spec.name.endswith(".skip")]
    assert len(skip) == 1 and skip[0].count == 30


# ---- quick -----------------------------------------------------------------------------------
def test_quick_suite_covers_the_kinds():
    suite = get_suite("quick")
    specs = [e.spec for e in suite]
    assert len(suite) <= 10 and suite.total_count == len(suite)
    assert all(s.batch == 1 for s in specs)
    assert all(e.network in list_networks() and e.layers == (e.spec.name,) for e in suite)
    conv2d = [s for s in specs if s.kind == "conv" and s.dims == 2 and not s.transposed]
    assert any(s.kernel_size == (1, 1) for s in conv2d), "1x1"
    assert any(s.kernel_size == (3, 3) and s.groups == 1 for s in conv2d), "3x3"
    assert any(max(s.stride) > 1 for s in conv2d), "strided"
    assert any(s.is_depthwise for s in specs), "depthwise"
    assert any(1 < s.groups < s.in_channels for s in specs), "grouped"
    assert any(max(s.dilation) > 1 for s in specs), "dilated"
    assert any(s.dims == 1 for s in specs), "1D"
    assert any(s.dims == 3 for s in specs), "3D"
    assert any(s.transposed for s in specs), "transposed"
    assert any(s.kind == "linear" for s in specs), "linear"
    # small enough for a quick CPU run: the largest is C3D's conv5a at 0.69 GMAC
    assert max(s.macs for s in specs) < 1e9


@pytest.mark.parametrize("network,resolution,spec", quick_layers(), ids=lambda v: getattr(v, "name", None))
def test_quick_entries_are_real_layers(network, resolution, spec):
    _skip_unless_importable(network)
    net = get_network(network, resolution=resolution)
    match = [s for s in net.layers if s.name == spec.name]
    assert len(match) == 1
    assert match[0] == spec


def test_quick_runs_in_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    fns = {(1, False): F.conv1d, (2, False): F.conv2d, (3, False): F.conv3d,
           (2, True): F.conv_transpose2d}
    with torch.no_grad():
        for e in get_suite("quick"):
            s = e.spec
            x = torch.ones(s.input_shape)
            w = torch.ones(s.weight_shape)
            pads = [p for pair in reversed(s.padding) for p in pair]
            if s.transposed:
                y = fns[(s.dims, True)](x, w, None, s.stride, 0, s.output_padding, s.groups, s.dilation)
            else:
                y = fns[(s.dims, False)](F.pad(x, pads), w, None, s.stride, 0, s.dilation, s.groups)
            assert tuple(y.shape) == s.output_shape, s.name


def test_quick_with_batch():
    suite = get_suite("quick", batch=4)
    assert all(e.spec.batch == 4 for e in suite)
    assert [e.spec.with_(batch=1) for e in suite] == [e.spec for e in get_suite("quick")]


# ---- standard --------------------------------------------------------------------------------
def test_standard_suite():
    suite = get_suite("standard")
    specs = [e.spec for e in suite]
    assert 60 <= len(suite) <= 120
    assert suite.total_count == len(suite)  # every shape distinct
    assert len({s.name for s in specs}) == len(specs)
    assert all(e.network is None for e in suite)
    assert {s.dims for s in specs} == {1, 2, 3}
    assert any(s.transposed and s.dims == d for s in specs for d in (1, 2, 3))
    assert sum(s.transposed for s in specs) >= 6
    assert sum(s.is_depthwise for s in specs) >= 10
    assert any(1 < s.groups < s.in_channels for s in specs)
    assert sum(max(s.dilation) > 1 for s in specs) >= 6
    assert sum(max(s.stride) > 1 for s in specs) >= 10
    assert any(s.kernel_size == (1, 1) and s.kind == "conv" for s in specs)
    assert any(s.kind == "linear" for s in specs)
    assert {1, 32} <= {s.batch for s in specs} and max(s.batch for s in specs) >= 64
    for s in specs:
        assert s.name.endswith(f"/n{s.batch}"), s.name


def test_standard_batch_override_merges():
    suite = get_suite("standard", batch=1)
    assert all(e.spec.batch == 1 for e in suite)
    assert suite.total_count == len(get_suite("standard"))
    assert len(suite) < suite.total_count  # n1/n32 pairs become one shape
    assert isinstance(suite.entries[0], SuiteEntry)
