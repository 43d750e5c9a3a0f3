"""Classic CNN builders (AlexNet, VGG, GoogLeNet, ResNet/ResNeXt, DenseNet) and _common.

The reference is tests/data/torchvision_layers.json, recorded from torchvision 0.29.1 by
tests/data/make_torchvision_layers.py (hooks on every conv and linear during one forward pass,
at 1x3x224x224 and at 1x3x161x243). Published totals are checked within 1%: the figures quoted
by papers and model zoos are rounded to three significant digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.workloads.networks import Network, get_network
from convbench.workloads.networks._common import (
    LayerBuilder,
    make_divisible,
    pool_output_size,
    resolve_resolution,
)
from convbench.workloads.spec import ConvSpec

DATA = json.loads((Path(__file__).parents[1] / "data" / "torchvision_layers.json").read_text())
FIELDS = DATA["fields"]
ALT_FIELDS = DATA["alt_fields"]

TORCHVISION = [
    "alexnet", "vgg11", "vgg16", "vgg19", "googlenet", "resnet18", "resnet34", "resnet50",
    "resnet101", "resnet152", "resnext50_32x4d", "densenet121",
]
CLASSIC = TORCHVISION + ["alexnet_caffe"]
NATIVE = {name: (224, 224) for name in TORCHVISION} | {"alexnet_caffe": (227, 227)}
#: The smallest square input side each network accepts: torchvision's, as recorded; Caffe's
#: AlexNet by its arithmetic (conv1 39 -> 8, ceil-mode pools 8 -> 4 -> 2 -> 1).
SMALLEST = {name: DATA["smallest_square_input"][name] for name in TORCHVISION} | {"alexnet_caffe": 39}
REL = 0.01  # published totals are rounded to 3 significant digits


def _positions(shape: list[int]) -> tuple[int, int]:
    """Spatial positions of a linear layer's input: (1, 1) for (N, F), (H, W) for (N, H, W, C)."""
    if len(shape) == 2:
        return (1, 1)
    assert len(shape) == 4, shape
    return (shape[1], shape[2])


def _expected(row: list) -> ConvSpec:
    """The ConvSpec a torchvision hook row describes (batch 1)."""
    r = dict(zip(FIELDS, row))
    if r["type"] == "Linear":
        return ConvSpec(
            in_channels=r["in"], out_channels=r["out"], input_size=_positions(r["input"]),
            kernel_size=1, bias=r["bias"], kind="linear", name=r["name"],
        )
    assert r["type"] == "Conv2d", r
    return ConvSpec(
        in_channels=r["in"], out_channels=r["out"], input_size=tuple(r["input"]),
        kernel_size=tuple(r["kernel"]), stride=tuple(r["stride"]), padding=tuple(r["padding"]),
        dilation=tuple(r["dilation"]), groups=r["groups"], bias=r["bias"],
        padding_mode=r["padding_mode"], kind="conv", name=r["name"],
    )


# ---- layer by layer against torchvision --------------------------------------------------
@pytest.mark.parametrize("name", TORCHVISION)
def test_layers_match_torchvision_at_224(name):
    net = get_network(name)
    ref = DATA["models"][name]
    assert [layer.name for layer in net.layers] == [row[0] for row in ref["layers"]]
    for layer, row in zip(net.layers, ref["layers"]):
        r = dict(zip(FIELDS, row))
        want = _expected(row)
        assert layer == want, (layer.name, str(layer), str(want))
        out = _positions(r["output"]) if r["type"] == "Linear" else tuple(r["output"])
        assert layer.output_size == out, layer.name
        assert layer.params == r["params"], layer.name
        assert layer.macs == r["macs"], layer.name


@pytest.mark.parametrize("name", TORCHVISION)
def test_totals_match_torchvision(name):
    net = get_network(name)
    totals = DATA["models"][name]["totals"]
    assert net.params == totals["conv_linear_params"]
    assert net.norm_params == totals["norm_params"]
    assert net.params + net.norm_params == totals["params"]
    assert net.macs == totals["macs"]
    assert net.resolution == (224, 224) and net.batch == 1


@pytest.mark.parametrize("name", TORCHVISION)
def test_layers_match_torchvision_at_odd_resolution(name):
    """At 161x243 every layer's input and output size and MACs still follow torchvision
    (ceil-mode pools, odd sizes under stride 2, adaptive pools before classifiers)."""
    h, w = DATA["alt_input"][2:]
    net = get_network(name, resolution=(h, w))
    ref = DATA["alt"][name]
    assert [layer.name for layer in net.layers] == [row[0] for row in ref["layers"]]
    for layer, row in zip(net.layers, ref["layers"]):
        r = dict(zip(ALT_FIELDS, row))
        linear = layer.kind == "linear"
        assert layer.input_size == (_positions(r["input"]) if linear else tuple(r["input"])), layer.name
        assert layer.output_size == (_positions(r["output"]) if linear else tuple(r["output"])), layer.name
        assert layer.macs == r["macs"], layer.name
    assert net.macs == ref["macs"]
    assert net.params == get_network(name).params  # adaptive pools: weights do not depend on size


# ---- published figures -------------------------------------------------------------------
# name: (total params incl. norms, GMACs at batch 1 and native resolution), as quoted.
PUBLISHED = {
    "vgg16": (138.4e6, 15.5),
    "googlenet": (6.6e6, 1.5),
    "resnet50": (25.6e6, 4.1),
    "resnet152": (60.2e6, 11.6),
    "alexnet": (61.1e6, 0.71),        # torchvision's
    "alexnet_caffe": (60.97e6, 0.72),  # bvlc_alexnet, the original two-GPU network
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_totals_within_one_percent(name):
    params, gmacs = PUBLISHED[name]
    net = get_network(name)
    assert net.params + net.norm_params == pytest.approx(params, rel=REL)
    assert net.macs / 1e9 == pytest.approx(gmacs, rel=REL)


def test_alexnet_variants():
    tv, caffe = get_network("alexnet"), get_network("alexnet_caffe")
    assert tv.params == 61_100_840
    assert caffe.params == 60_965_224
    assert caffe.resolution == (227, 227)
    assert [(l.name, l.groups) for l in caffe.layers if l.groups > 1] == [
        ("conv2", 2), ("conv4", 2), ("conv5", 2)
    ]
    assert all(l.groups == 1 for l in tv.layers)
    assert [l.output_size for l in caffe.layers[:5]] == [(55, 55), (27, 27), (13, 13), (13, 13), (13, 13)]
    assert caffe.layers[5].in_channels == 256 * 6 * 6 and caffe.layers[5].input_size == (1, 1)
    assert "two-GPU" in tv.description and "not the original" in tv.description


def test_alexnet_caffe_fc6_follows_pool5():
    # Caffe sizes fc6 from pool5, so another input size changes fc6's weights (and nothing else).
    net = get_network("alexnet_caffe", resolution=259)  # conv1 -> 63, pools -> 31, 15, 7
    assert net.layers[5].in_channels == 256 * 7 * 7
    assert net.params - get_network("alexnet_caffe").params == 256 * (49 - 36) * 4096


def test_resnet_v15_and_bias_conventions():
    net = get_network("resnet50")
    by_name = {l.name: l for l in net.layers}
    assert by_name["layer2.0.conv1"].stride == (1, 1)
    assert by_name["layer2.0.conv2"].stride == (2, 2)
    assert by_name["layer2.0.downsample.0"].stride == (2, 2)
    assert not any(l.bias for l in net.layers if l.kind == "conv")
    assert by_name["fc"].bias and by_name["fc"].kind == "linear" and by_name["fc"].input_size == (1, 1)
    names = [l.name for l in net.layers]
    assert names.index("layer1.0.downsample.0") == names.index("layer1.0.conv3") + 1
    assert "v1.5" in net.source
    rx = {l.name: l for l in get_network("resnext50_32x4d").layers}
    assert rx["layer1.0.conv2"].groups == 32 and rx["layer1.0.conv2"].in_channels == 128


def test_googlenet_five_by_five_branch_is_three_by_three():
    net = get_network("googlenet")
    branch3 = [l for l in net.layers if ".branch3.1." in l.name]
    assert len(branch3) == 9 and all(l.kernel_size == (3, 3) for l in branch3)
    assert not any("aux" in l.name for l in net.layers)


def test_only_fully_connected_layers_are_linear():
    for name in CLASSIC:
        net = get_network(name)
        for layer in net.layers:
            if layer.kind == "linear":
                assert layer.kernel_size == (1, 1) and layer.input_size == (1, 1), layer.name
        assert net.layers[-1].kind == "linear" and net.layers[-1].out_channels == 1000


# ---- resolution and batch ----------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSIC)
def test_native_resolution_is_the_default(name):
    net = get_network(name)
    assert net.resolution == NATIVE[name]
    assert net.layers[0].input_size == NATIVE[name]
    assert get_network(name, resolution=NATIVE[name][0]) == net
    assert net.name == name and net.source and net.description


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d", "densenet121", "googlenet"])
def test_doubling_the_resolution_quadruples_conv_macs(name):
    # 224 = 7 * 2**5: every size doubles exactly at 448, so conv MACs grow 4x; the fc does not.
    a, b = get_network(name), get_network(name, resolution=448)
    conv = lambda n: sum(l.macs for l in n.layers if l.kind == "conv")  # noqa: E731
    fc = lambda n: sum(l.macs for l in n.layers if l.kind == "linear")  # noqa: E731
    assert conv(b) == 4 * conv(a)
    assert fc(b) == fc(a)
    assert b.params == a.params
    assert b.layers[-1].input_size == (1, 1)


@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_adaptive_pool_keeps_the_classifier_input(name):
    c = 512 * 7 * 7 if name == "vgg16" else 256 * 6 * 6
    for res in (64, 100, (224, 320), 512):
        net = get_network(name, resolution=res)
        first_fc = next(l for l in net.layers if l.kind == "linear")
        assert first_fc.in_channels == c and first_fc.input_size == (1, 1)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(CLASSIC),
    batch=st.integers(1, 64),
    h=st.integers(0, 300),
    w=st.integers(0, 300),
)
def test_batch_scales_macs_and_nothing_else(name, batch, h, w):
    res = (SMALLEST[name] + h, SMALLEST[name] + w)
    one = get_network(name, resolution=res)
    many = get_network(name, batch=batch, resolution=res)
    assert many.macs == batch * one.macs
    assert many.params == one.params and many.norm_params == one.norm_params
    assert all(l.batch == batch for l in many.layers)
    assert [l.with_(batch=1) for l in many.layers] == list(one.layers)
    assert many.resolution == res


@pytest.mark.parametrize("name", CLASSIC)
def test_too_small_an_input_is_a_user_error(name):
    if SMALLEST[name] > 1:
        with pytest.raises(ConvbenchError):
            get_network(name, resolution=SMALLEST[name] - 1)
    get_network(name, resolution=SMALLEST[name])


@pytest.mark.parametrize("bad", [0, -5, (224,), (224, 224, 3), "224", (224.0, 224), True])
def test_bad_resolution_is_a_user_error(bad):
    with pytest.raises(ConvbenchError, match="resolution"):
        get_network("resnet18", resolution=bad)


# ---- _common -----------------------------------------------------------------------------
def test_resolve_resolution():
    assert resolve_resolution(None, (224, 224)) == (224, 224)
    assert resolve_resolution(96, (224, 224)) == (96, 96)
    assert resolve_resolution(16, (16, 112, 112)) == (16, 16, 16)
    assert resolve_resolution([100, 200], (224, 224)) == (100, 200)
    with pytest.raises(ConvbenchError, match="resolution: .* for unet"):
        resolve_resolution((1, 2, 3), (572, 572), "unet")


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 4),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    ceil_mode=st.booleans(),
)
def test_pool_output_size_matches_torch(size, kernel, stride, pad, dilation, ceil_mode):
    torch = pytest.importorskip("torch")
    if pad > kernel // 2:
        return  # torch refuses padding over half the kernel
    x = torch.zeros(1, 1, size, size + 1)
    try:
        y = torch.nn.functional.max_pool2d(x, kernel, stride, pad, dilation, ceil_mode=ceil_mode)
    except RuntimeError:
        with pytest.raises(ConvbenchError):
            pool_output_size((size, size + 1), kernel, stride, pad, dilation, ceil_mode)
        return
    assert pool_output_size((size, size + 1), kernel, stride, pad, dilation, ceil_mode) == tuple(y.shape[2:])


def test_make_divisible():
    assert [make_divisible(v) for v in (32 * 0.75, 3, 16 * 1.4, 100, 12)] == [24, 8, 24, 104, 16]
    assert make_divisible(10, 8) == 16  # 8 would be more than 10% below 10
    assert make_divisible(4, 8, min_value=4) == 8


def test_layer_builder_forks_concat_and_norms():
    b = LayerBuilder(batch=2, channels=3, size=(32, 48), prefix="m")
    b.conv("stem", 16, kernel=3, stride=2, padding=1, bias=False)
    b.batch_norm()
    left, right = b.fork("a"), b.fork("b")
    left.conv("conv", 8, kernel=1)
    right.pool(3, 1, padding=1)
    right.conv("conv", 24, kernel=3, padding=1)
    left.concat(right)
    assert (left.channels, left.size) == (32, (16, 24))
    assert (b.channels, b.size) == (16, (16, 24))  # forks leave the parent alone
    left.adaptive_pool(1)
    left.flatten()
    left.linear("fc", 10)
    net = left.network("toy", source="test")
    assert isinstance(net, Network)
    assert [l.name for l in net.layers] == ["m.stem", "m.a.conv", "m.b.conv", "m.a.fc"]
    assert net.norm_params == 32 and net.resolution == (32, 48) and net.batch == 2
    assert net.layers[-1].kind == "linear" and net.layers[-1].in_channels == 32
    with pytest.raises(ConvbenchError, match="concatenate"):
        b.fork().concat(left)
    flat = LayerBuilder(batch=1, channels=4, size=(3, 5))
    flat.flatten()
    assert (flat.channels, flat.size) == (60, (1, 1))
    up = LayerBuilder(batch=1, channels=4, size=(3, 5))
    up.upsample(2)
    assert up.size == (6, 10)
    up.resize((7, 7))
    assert up.size == (7, 7)
