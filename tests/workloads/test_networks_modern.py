"""Mobile/modern CNN builders and the special kinds (WaveNet, ASPP, U-Nets, C3D).

Sources checked against:
- tests/data/torchvision_layers.json (torchvision 0.29.1's own modules, traced by
  tests/data/make_torchvision_layers.py): layer by layer for MobileNetV2, MobileNetV3-Large,
  EfficientNet-B0 and ConvNeXt-T;
- published totals (papers and torchvision's model table);
- for the networks torchvision does not ship, small torch modules written here from the papers
  and run on the ``meta`` device (shapes only, no arithmetic), layer by layer.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from convbench.errors import ConvbenchError
from convbench.workloads.networks import _REGISTRY, get_network, list_networks
from convbench.workloads.spec import receptive_field

DATA = Path(__file__).resolve().parents[1] / "data" / "torchvision_layers.json"
MINE = (
    "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
    "wavenet", "deeplabv3_aspp", "unet", "c3d", "unet3d",
)
TORCHVISION = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny")
# ConvNeXt's layer scale (one gamma per channel per block) is counted in norm_params.
LAYER_SCALE = {"convnext_tiny": 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768}


@pytest.fixture(scope="module")
def torchvision_layers() -> dict:
    if not DATA.exists():
        pytest.skip(f"{DATA.name} not written yet (tests/data/make_torchvision_layers.py)")
    return json.loads(DATA.read_text())["models"]


# ---- torchvision, layer by layer -------------------------------------------------------------
@pytest.mark.parametrize("arch", TORCHVISION)
def test_layers_match_torchvision(arch, torchvision_layers):
    ref = torchvision_layers[arch]
    fields = ["name", "type", "in", "out", "input", "output", "kernel", "stride", "padding",
              "dilation", "output_padding", "groups", "bias", "padding_mode", "params", "macs"]
    net = get_network(arch)
    assert len(net.layers) == len(ref["layers"])
    for spec, raw in zip(net.layers, ref["layers"]):
        row = dict(zip(fields, raw))
        where = f"{arch} {row['name']}"
        assert spec.name == row["name"], where
        assert (spec.in_channels, spec.out_channels) == (row["in"], row["out"]), where
        assert spec.bias == row["bias"], where
        assert spec.params == row["params"], where
        assert spec.macs == row["macs"], where
        assert spec.batch == 1
        if row["type"] == "Linear":
            assert spec.kind == "linear", where
            positions = tuple(row["input"][1:-1]) or (1, 1)  # [1, C] or [1, H, W, C]
            assert spec.input_size == positions, where
            assert spec.kernel_size == (1, 1) and spec.groups == 1, where
        else:
            assert spec.kind == "conv", where
            assert spec.input_size == tuple(row["input"]), where
            assert spec.output_size == tuple(row["output"]), where
            assert spec.kernel_size == tuple(row["kernel"]), where
            assert spec.stride == tuple(row["stride"]), where
            assert spec.padding == tuple((p, p) for p in row["padding"]), where
            assert spec.dilation == tuple(row["dilation"]), where
            assert spec.groups == row["groups"], where
            assert spec.transposed == row["type"].startswith("ConvTranspose"), where


@pytest.mark.parametrize("arch", TORCHVISION)
def test_totals_match_torchvision(arch, torchvision_layers):
    totals = torchvision_layers[arch]["totals"]
    net = get_network(arch)
    assert net.params == totals["conv_linear_params"]
    assert net.macs == totals["macs"]
    assert net.norm_params == totals["norm_params"] + LAYER_SCALE.get(arch, 0)
    assert net.params + net.norm_params == totals["params"]


def test_convnext_layer_scale_is_documented():
    net = get_network("convnext_tiny")
    assert f"{LAYER_SCALE['convnext_tiny']:,d} layer-scale" in net.description
    pw = [s for s in net.layers if s.name.endswith(("block.3", "block.5"))]
    assert len(pw) == 2 * 18 and all(s.kind == "linear" for s in pw)
    assert {s.input_size for s in pw} == {(56, 56), (28, 28), (14, 14), (7, 7)}
    dw = [s for s in net.layers if s.name.endswith("block.0")]
    assert all(s.is_depthwise and s.kernel_size == (7, 7) and s.padding == ((3, 3), (3, 3)) for s in dw)
    stem, *down = [s for s in net.layers if s.stride != (1, 1)]
    assert stem.kernel_size == stem.stride == (4, 4)
    assert [(d.kernel_size, d.stride) for d in down] == [((2, 2), (2, 2))] * 3


def test_squeeze_excitation_is_conv_on_1x1():
    for arch in ("mobilenet_v3_large", "efficientnet_b0"):
        se = [s for s in get_network(arch).layers if s.name.endswith((".fc1", ".fc2"))]
        assert se, arch
        assert all(s.kind == "conv" and s.input_size == (1, 1) and s.bias for s in se), arch


# ---- published totals ------------------------------------------------------------------------
# (network, parameters, multiply-adds at batch 1 and native input, relative tolerance, source).
# Parameters are the model's total (conv/linear + norm_params), as papers and torchvision count.
PUBLISHED = [
    ("mobilenet_v1", 4.2e6, 569e6, 0.02, "Howard et al. 2017, Table 8: 4.2 M, 569 M mult-adds"),
    ("mobilenet_v2", 3.5e6, 0.30e9, 0.02, "torchvision table: 3,504,872 params, 0.30 GFLOPS (MACs)"),
    ("mobilenet_v3_large", 5.5e6, 0.22e9, 0.02, "torchvision table: 5,483,032 params, 0.22 GFLOPS"),
    ("efficientnet_b0", 5.3e6, 0.39e9, 0.02, "Tan & Le 2019: 5.3 M params, 0.39 B FLOPS (MACs)"),
    ("convnext_tiny", 28.6e6, 4.5e9, 0.02, "Liu et al. 2022: 28 M, 4.5 G FLOPs; torchvision 28,589,128"),
    ("unet3d", 19_069_955, None, 0.0, "Çiçek et al. 2016: 19,069,955 parameters"),
]


@pytest.mark.parametrize("arch,params,macs,tol,source", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_totals(arch, params, macs, tol, source):
    net = get_network(arch)
    total = net.params if arch == "unet3d" else net.params + net.norm_params
    assert total == pytest.approx(params, rel=tol, abs=0.05e6 if tol else 0), source
    if macs is not None:
        assert net.macs == pytest.approx(macs, rel=tol), source


# ---- every registered network ----------------------------------------------------------------
def _importable(name: str) -> str | None:
    module = _REGISTRY[name][0]
    try:
        importlib.import_module(f"convbench.workloads.networks.{module}")
    except ImportError as exc:
        return f"networks/{module}.py does not import yet: {exc}"
    return None


@pytest.mark.parametrize("name", list_networks())
def test_every_network_builds_and_scales_with_batch(name):
    reason = _importable(name)
    if reason:
        pytest.skip(reason)
    one, two = get_network(name, batch=1), get_network(name, batch=2)
    assert one.layers and one.name == name
    assert one.resolution and all(v > 0 for v in one.resolution)
    assert one.source and one.description
    assert all(s.batch == 1 for s in one.layers) and all(s.batch == 2 for s in two.layers)
    assert two.macs == 2 * one.macs
    assert two.params == one.params and two.norm_params == one.norm_params
    assert [s.name for s in one.layers] == [s.name for s in two.layers]


@pytest.mark.parametrize("name", MINE)
def test_layer_names_unique_and_kinds(name):
    net = get_network(name)
    names = [s.name for s in net.layers]
    assert all(names) and len(set(names)) == len(names)
    assert all(s.kind in ("conv", "linear") for s in net.layers)


NATIVE = {
    "mobilenet_v1": (224, 224), "mobilenet_v2": (224, 224), "mobilenet_v3_large": (224, 224),
    "efficientnet_b0": (224, 224), "convnext_tiny": (224, 224), "wavenet": (16000,),
    "deeplabv3_aspp": (513, 513), "unet": (572, 572), "c3d": (16, 112, 112),
    "unet3d": (116, 132, 132),
}


@pytest.mark.parametrize("name", MINE)
def test_native_resolution_and_overrides(name):
    native = NATIVE[name]
    net = get_network(name)
    assert net.resolution == native
    assert get_network(name, resolution=native).layers == net.layers
    with pytest.raises(ConvbenchError, match="resolution"):
        get_network(name, resolution=(1,) * (len(native) + 1))
    with pytest.raises(ConvbenchError, match="resolution"):
        get_network(name, resolution=0)


def test_resolution_changes_sizes():
    assert get_network("mobilenet_v2", resolution=160).layers[-1].in_channels == 1280
    assert get_network("mobilenet_v2", resolution=160).layers[-2].input_size == (5, 5)
    assert get_network("mobilenet_v1", resolution=(192, 128)).layers[0].output_size == (96, 64)
    assert get_network("convnext_tiny", resolution=288).layers[1].input_size == (72, 72)
    assert get_network("wavenet", resolution=4096).layers[0].input_size == (4096,)
    assert get_network("c3d", resolution=(32, 112, 112)).layers[-3].in_channels == 512 * 2 * 4 * 4
    with pytest.raises(ConvbenchError, match="resolution: c3d needs at least 16 frames"):
        get_network("c3d", resolution=(8, 112, 112))


# ---- WaveNet ---------------------------------------------------------------------------------
def test_wavenet_receptive_field():
    net = get_network("wavenet")
    dilated = [s for s in net.layers if s.name.endswith(".dilated")]
    assert len(dilated) == 30
    for block in range(3):
        layers = dilated[10 * block:10 * block + 10]
        assert [s.dilation[0] for s in layers] == [2 ** i for i in range(10)]
        assert receptive_field(layers) == 1024
    assert receptive_field([net.layers[0], *dilated]) == 3071
    assert f"{3071}" in net.description


def test_wavenet_shapes():
    net = get_network("wavenet")
    assert net.resolution == (16000,)
    assert all(s.dims == 1 and s.output_size == (16000,) for s in net.layers)
    for s in net.layers:
        if s.kernel_size == (2,):
            assert s.padding == (((2 - 1) * s.dilation[0], 0),), s.name  # causal: left only
    first = net.layers[0]
    assert (first.name, first.in_channels, first.out_channels) == ("causal_conv", 256, 32)
    by_role = {role: [s for s in net.layers if s.name.endswith(role)]
               for role in (".dilated", ".residual", ".skip")}
    assert {(s.in_channels, s.out_channels) for s in by_role[".dilated"]} == {(32, 64)}
    assert {(s.in_channels, s.out_channels) for s in by_role[".residual"]} == {(32, 32)}
    assert {(s.in_channels, s.out_channels) for s in by_role[".skip"]} == {(32, 256)}
    assert net.layers[-1].out_channels == 256 and net.layers[-2].in_channels == 256
    assert len(net.layers) == 1 + 30 * 3 + 2


# ---- DeepLabV3 ASPP --------------------------------------------------------------------------
def test_deeplab_aspp():
    net = get_network("deeplabv3_aspp")
    by = {s.name: s for s in net.layers}
    assert net.resolution == (513, 513)
    assert by["classifier.0.convs.0.0"].input_size == (33, 33)
    for i, rate in enumerate((6, 12, 18), start=1):
        s = by[f"classifier.0.convs.{i}.0"]
        assert s.kernel_size == (3, 3) and s.dilation == (rate, rate)
        assert s.padding == ((rate, rate),) * 2 and s.output_size == (33, 33)
        assert (s.in_channels, s.out_channels, s.bias) == (2048, 256, False)
    assert by["classifier.0.convs.4.1"].input_size == (1, 1)
    assert by["classifier.0.project.0"].in_channels == 5 * 256
    assert by["classifier.4"].out_channels == 21 and by["classifier.4"].bias
    assert get_network("deeplabv3_aspp", resolution=448).layers[0].input_size == (28, 28)


# ---- U-Nets ----------------------------------------------------------------------------------
def test_unet_decoder_output_sizes():
    net = get_network("unet")
    by = {s.name: s for s in net.layers}
    ups = [by[f"decoder.{i}.upconv"] for i in range(4)]
    assert all(s.transposed and s.kernel_size == s.stride == (2, 2) for s in ups)
    assert [s.output_size for s in ups] == [(56, 56), (104, 104), (200, 200), (392, 392)]
    assert [(s.in_channels, s.out_channels) for s in ups] == [(1024, 512), (512, 256), (256, 128), (128, 64)]
    assert [by[f"decoder.{i}.conv2"].output_size for i in range(4)] == [(52, 52), (100, 100), (196, 196), (388, 388)]
    assert [by[f"decoder.{i}.conv1"].in_channels for i in range(4)] == [1024, 512, 256, 128]
    assert by["bottleneck.conv2"].output_size == (28, 28)
    assert by["final"].output_shape == (1, 2, 388, 388)
    assert net.norm_params == 0 and all(s.bias for s in net.layers)


def test_unet_resolution_rules():
    assert get_network("unet", resolution=252).layers[-1].output_size == (68, 68)
    with pytest.raises(ConvbenchError, match="nearest valid: 252, 268"):
        get_network("unet", resolution=256)
    with pytest.raises(ConvbenchError, match="resolution"):
        get_network("unet", resolution=172)  # every pool even, but the output would be empty
    with pytest.raises(ConvbenchError, match="nearest valid: 108, 116"):
        get_network("unet3d", resolution=(112, 132, 132))


def test_unet3d():
    net = get_network("unet3d")
    by = {s.name: s for s in net.layers}
    assert by["final"].output_shape == (1, 3, 28, 44, 44)
    ups = [s for s in net.layers if s.transposed]
    assert [s.output_size for s in ups] == [(14, 18, 18), (20, 28, 28), (32, 48, 48)]
    assert all(s.dims == 3 and not s.bias for s in ups)
    assert [by[f"decoder.{i}.conv1"].in_channels for i in range(3)] == [768, 384, 192]


# ---- C3D -------------------------------------------------------------------------------------
def test_c3d():
    net = get_network("c3d")
    convs = [s for s in net.layers if s.kind == "conv"]
    fcs = [s for s in net.layers if s.kind == "linear"]
    assert len(convs) == 8 and len(fcs) == 3
    assert all(s.kernel_size == (3, 3, 3) and s.padding == ((1, 1),) * 3 for s in convs)
    assert [s.input_size for s in convs[:3]] == [(16, 112, 112), (16, 56, 56), (8, 28, 28)]
    assert [(s.in_channels, s.out_channels) for s in fcs] == [(8192, 4096), (4096, 4096), (4096, 487)]


# ---- independent torch definitions on the meta device ----------------------------------------
def _trace_meta(model, x_shape):
    """Run ``model`` on a meta tensor; rows of (name, in shape, out shape, params) per layer."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
    rows = []
    hooks = [
        m.register_forward_hook(
            lambda mod, args, out, name=name: rows.append(
                (name, tuple(args[0].shape), tuple(out.shape), sum(p.numel() for p in mod.parameters()))
            )
        )
        for name, m in model.named_modules()
        if isinstance(m, kinds)
    ]
    with torch.no_grad():
        model(torch.empty(x_shape, device="meta"))
    for h in hooks:
        h.remove()
    return rows


def _compare(net, rows):
    assert [r[0] for r in rows] == [s.name for s in net.layers]
    for spec, (name, x, y, params) in zip(net.layers, rows):
        if spec.kind == "linear":
            assert (x[-1], y[-1]) == (spec.in_channels, spec.out_channels), name
        else:
            assert x == spec.input_shape and y == spec.output_shape, name
        assert params == spec.params, name


def _torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    F = torch.nn.functional

    class MobileNetV1(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv2d_0 = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
            cfg = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5 + [(2, 1024), (1, 1024)]
            c = 32
            self.blocks = []
            for i, (s, o) in enumerate(cfg, start=1):
                setattr(self, f"Conv2d_{i}_depthwise", nn.Conv2d(c, c, 3, s, 1, groups=c, bias=False))
                setattr(self, f"Conv2d_{i}_pointwise", nn.Conv2d(c, o, 1, bias=False))
                self.blocks.append(i)
                c = o
            self.fc = nn.Linear(1024, 1000)

        def forward(self, x):
            x = self.Conv2d_0(x)
            for i in self.blocks:
                x = getattr(self, f"Conv2d_{i}_pointwise")(getattr(self, f"Conv2d_{i}_depthwise")(x))
            return self.fc(x.mean((2, 3)))

    class C3D(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
                     ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512)]
            for n, i, o in chans:
                setattr(self, n, nn.Conv3d(i, o, 3, padding=1))
            self.fc6, self.fc7, self.fc8 = nn.Linear(8192, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 487)

        def forward(self, x):
            x = F.max_pool3d(self.conv1a(x), (1, 2, 2))
            x = F.max_pool3d(self.conv2a(x), 2)
            x = F.max_pool3d(self.conv3b(self.conv3a(x)), 2)
            x = F.max_pool3d(self.conv4b(self.conv4a(x)), 2)
            x = F.max_pool3d(self.conv5b(self.conv5a(x)), 2, padding=(0, 1, 1))
            return self.fc8(self.fc7(self.fc6(x.flatten(1))))

    class UNet(nn.Module):
        """Valid-padding U-Net in 2D or 3D; decoder convs after a centre crop and concat."""

        def __init__(self, dims, cin, enc, bottom, dec, classes, up_bias):
            super().__init__()
            conv = nn.Conv2d if dims == 2 else nn.Conv3d
            up = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
            self.pool = F.max_pool2d if dims == 2 else F.max_pool3d
            self.encoder = nn.ModuleList()
            c = cin
            skips = []
            for a, b in enc:
                self.encoder.append(nn.ModuleDict({"conv1": conv(c, a, 3), "conv2": conv(a, b, 3)}))
                c = b
                skips.append(b)
            self.bottleneck = nn.ModuleDict({"conv1": conv(c, bottom[0], 3), "conv2": conv(bottom[0], bottom[1], 3)})
            c = bottom[1]
            self.decoder = nn.ModuleList()
            for (u, a, b), s in zip(dec, reversed(skips)):
                self.decoder.append(nn.ModuleDict({
                    "upconv": up(c, u, 2, 2, bias=up_bias), "conv1": conv(u + s, a, 3), "conv2": conv(a, b, 3)}))
                c = b
            self.final = conv(c, classes, 1)

        def forward(self, x):
            skips = []
            for level in self.encoder:
                x = level["conv2"](level["conv1"](x))
                skips.append(x)
                x = self.pool(x, 2)
            x = self.bottleneck["conv2"](self.bottleneck["conv1"](x))
            for level, skip in zip(self.decoder, reversed(skips)):
                x = level["upconv"](x)
                crop = tuple(slice((a - b) // 2, (a - b) // 2 + b) for a, b in zip(skip.shape[2:], x.shape[2:]))
                x = torch.cat([skip[(slice(None), slice(None)) + crop], x], 1)
                x = level["conv2"](level["conv1"](x))
            return self.final(x)

    class WaveNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.causal_conv = nn.Conv1d(256, 32, 2)
            self.layers = nn.ModuleList(
                nn.ModuleDict({"dilated": nn.Conv1d(32, 64, 2, dilation=2 ** (i % 10)),
                               "residual": nn.Conv1d(32, 32, 1), "skip": nn.Conv1d(32, 256, 1)})
                for i in range(30)
            )
            self.postprocess = nn.ModuleDict({"conv1": nn.Conv1d(256, 256, 1), "conv2": nn.Conv1d(256, 256, 1)})

        def forward(self, x):
            x = self.causal_conv(F.pad(x, (1, 0)))
            total = 0
            for layer in self.layers:
                d = layer["dilated"].dilation[0]
                f, g = layer["dilated"](F.pad(x, (d, 0))).chunk(2, 1)
                z = torch.tanh(f) * torch.sigmoid(g)
                x = x + layer["residual"](z)
                total = total + layer["skip"](z)
            return self.postprocess["conv2"](F.relu(self.postprocess["conv1"](F.relu(total))))

    class ASPPHead(nn.Module):
        def __init__(self):
            super().__init__()
            aspp = nn.Module()
            aspp.convs = nn.ModuleList(
                [nn.Sequential(nn.Conv2d(2048, 256, 1, bias=False))]
                + [nn.Sequential(nn.Conv2d(2048, 256, 3, padding=r, dilation=r, bias=False)) for r in (6, 12, 18)]
                + [nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2048, 256, 1, bias=False))]
            )
            aspp.project = nn.Sequential(nn.Conv2d(1280, 256, 1, bias=False))
            self.classifier = nn.ModuleList([aspp, nn.Conv2d(256, 256, 3, padding=1, bias=False),
                                             nn.Identity(), nn.Identity(), nn.Conv2d(256, 21, 1)])

        def forward(self, x):
            aspp = self.classifier[0]
            outs = [c(x) for c in aspp.convs]
            outs[-1] = outs[-1].expand(-1, -1, *x.shape[2:])
            y = aspp.project(torch.cat(outs, 1))
            return self.classifier[4](self.classifier[1](y))

    return {
        "mobilenet_v1": (MobileNetV1(), (1, 3, 224, 224)),
        "c3d": (C3D(), (1, 3, 16, 112, 112)),
        "unet": (UNet(2, 1, [(64, 64), (128, 128), (256, 256), (512, 512)], (1024, 1024),
                      [(512, 512, 512), (256, 256, 256), (128, 128, 128), (64, 64, 64)], 2, True),
                 (1, 1, 572, 572)),
        "unet3d": (UNet(3, 3, [(32, 64), (64, 128), (128, 256)], (256, 512),
                        [(512, 256, 256), (256, 128, 128), (128, 64, 64)], 3, False),
                   (1, 3, 116, 132, 132)),
        "wavenet": (WaveNet(), (1, 256, 16000)),
        "deeplabv3_aspp": (ASPPHead(), (1, 2048, 33, 33)),
    }


@pytest.mark.parametrize("name", ["mobilenet_v1", "c3d", "unet", "unet3d", "wavenet", "deeplabv3_aspp"])
def test_against_independent_torch_definition(name):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model, shape = _torch_models()[name]
    net = get_network(name)
    rows = _trace_meta(model, shape)
    if name == "wavenet":
        # Causal padding is an explicit F.pad before the conv in torch: compare the padded input.
        assert [r[0] for r in rows] == [s.name for s in net.layers]
        for spec, (lname, x, y, params) in zip(net.layers, rows):
            pad = sum(spec.padding[0])
            assert x == (1, spec.in_channels, spec.input_size[0] + pad), lname
            assert y == spec.output_shape and params == spec.params, lname
    else:
        _compare(net, rows)
