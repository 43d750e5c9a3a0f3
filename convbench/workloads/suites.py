"""Suites: named collections of conv shapes, each distinct shape once with how often it occurs.

- ``quick``: ten real layers at batch 1, each at most about 20 ms (most under 5 ms) for one
  fp32 forward through torch on two CPU cores, covering 1x1, 3x3, strided, depthwise, grouped, dilated, 1D, 3D,
  transposed and linear layers. Every entry names the network and layer it comes from.
- ``standard``: a synthetic sweep in the spirit of DeepBench's convolution set (about a
  hundred shapes): 1D, 2D and 3D convs with realistic channel counts, sizes and batch sizes,
  covering strides, dilations, groups, depthwise, 1x1, transposed and linear layers. Each
  entry's name says which family of layers it stands for.
- ``net:<network>``: the layers of one registered network (``get_network(name, batch)``),
  de-duplicated. ``get_suite`` also takes a bare network name or alias (``resnet50``).

Equal shapes (``ConvSpec`` equality, which ignores the layer name) become one
:class:`SuiteEntry` whose ``count`` is how many layers share it and whose ``layers`` lists
their names, in order of first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from convbench.errors import ConvbenchError
from convbench.workloads.networks import canonical_name, get_network, list_networks
from convbench.workloads.spec import ConvSpec

__all__ = ["Suite", "SuiteEntry", "dedupe", "get_suite", "list_suites"]

_NET_PREFIX = "net:"


@dataclass(frozen=True)
class SuiteEntry:
    """One distinct shape of a suite.

    ``spec``: the shape (its ``name`` is the first layer's name); ``count``: how many layers
    of the suite share the shape (a positive int); ``layers``: their names, in order;
    ``network``: the registered network the layers come from, or None for synthetic shapes.
    """

    spec: ConvSpec
    count: int
    layers: tuple[str, ...]
    network: str | None = None


@dataclass(frozen=True)
class Suite:
    """A named, ordered tuple of :class:`SuiteEntry`; iterating yields the entries."""

    name: str
    description: str
    entries: tuple[SuiteEntry, ...]

    def __iter__(self) -> Iterator[SuiteEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def total_count(self) -> int:
        """Layers the suite stands for: the sum of the entries' counts."""
        return sum(e.count for e in self.entries)


def _merge(entries: Iterable[SuiteEntry]) -> tuple[SuiteEntry, ...]:
    """Entries with equal shapes (and equal ``network``) merged; first-occurrence order."""
    merged: dict[tuple, SuiteEntry] = {}
    for e in entries:
        key = (e.spec, e.network)
        prev = merged.get(key)
        if prev is None:
            merged[key] = e
        else:
            merged[key] = SuiteEntry(prev.spec, prev.count + e.count, prev.layers + e.layers, prev.network)
    return tuple(merged.values())


def dedupe(specs: Iterable[ConvSpec], network: str | None = None) -> tuple[SuiteEntry, ...]:
    """Group equal shapes into entries with counts, in order of first occurrence.

    Shapes are equal when their :class:`ConvSpec` fields other than ``name`` are; each entry
    keeps the first spec (and so its name), counts the layers sharing it and lists their
    names. ``network`` is recorded on every entry.
    """
    out = []
    for spec in specs:
        if not isinstance(spec, ConvSpec):
            raise ConvbenchError(f"specs: expected ConvSpec items, got {type(spec).__name__}")
        out.append(SuiteEntry(spec, 1, (spec.name,), network))
    return _merge(out)


def _with_batch(entries: Iterable[SuiteEntry], batch: int) -> tuple[SuiteEntry, ...]:
    """Entries at ``batch`` (shapes that become equal merge)."""
    return _merge(SuiteEntry(e.spec.with_(batch=batch), e.count, e.layers, e.network) for e in entries)


# ---- quick ------------------------------------------------------------------------------------
# Real layers, as the registered builders produce them at the stated resolution, batch 1.
# (network, resolution note, spec). tests/workloads/test_suites.py checks each against its
# network's builder.
_QUICK: tuple[tuple[str, int | None, ConvSpec], ...] = (
    ("resnet50", None, ConvSpec(in_channels=1024, out_channels=256, input_size=(14, 14),
                                kernel_size=1, bias=False, name="layer3.1.conv1")),
    ("resnet50", None, ConvSpec(in_channels=256, out_channels=256, input_size=(14, 14),
                                kernel_size=3, padding=1, bias=False, name="layer3.1.conv2")),
    ("resnet50", None, ConvSpec(in_channels=3, out_channels=64, input_size=(224, 224),
                                kernel_size=7, stride=2, padding=3, bias=False, name="conv1")),
    ("mobilenet_v2", None, ConvSpec(in_channels=144, out_channels=144, input_size=(56, 56),
                                    kernel_size=3, padding=1, groups=144, bias=False,
                                    name="features.3.conv.1.0")),
    ("efficientnet_b0", None, ConvSpec(in_channels=144, out_channels=144, input_size=(56, 56),
                                       kernel_size=5, stride=2, padding=2, groups=144, bias=False,
                                       name="features.3.0.block.1.0")),
    ("resnext50_32x4d", None, ConvSpec(in_channels=256, out_channels=256, input_size=(28, 28),
                                       kernel_size=3, padding=1, groups=32, bias=False,
                                       name="layer2.1.conv2")),
    ("wavenet", None, ConvSpec(in_channels=32, out_channels=64, input_size=(16000,), kernel_size=2,
                               dilation=512, padding="causal", name="layers.9.dilated")),
    ("c3d", None, ConvSpec(in_channels=512, out_channels=512, input_size=(2, 7, 7), kernel_size=3,
                           padding=1, name="conv5a")),
    ("unet", 252, ConvSpec(in_channels=1024, out_channels=512, input_size=(8, 8), kernel_size=2,
                           stride=2, transposed=True, name="decoder.0.upconv")),
    ("convnext_tiny", None, ConvSpec(in_channels=384, out_channels=1536, input_size=(14, 14),
                                     kind="linear", name="features.5.0.block.3")),
)


def quick_layers() -> tuple[tuple[str, int | None, ConvSpec], ...]:
    """The quick suite's sources: (network, resolution or None for native, spec at batch 1)."""
    return _QUICK


def _quick() -> Suite:
    return Suite(
        "quick",
        "Ten real layers at batch 1, each at most ~20 ms fp32 forward on two CPU cores: ResNet-50 "
        "1x1, 3x3 and 7x7/2 stem; MobileNetV2 3x3 depthwise; EfficientNet-B0 5x5/2 depthwise; "
        "ResNeXt-50 32-group 3x3; WaveNet 1D causal conv with dilation 512; C3D 3x3x3; U-Net "
        "(252x252 input) 2x2/2 transposed conv; ConvNeXt-T per-position linear (14x14).",
        _merge(SuiteEntry(spec, 1, (spec.name,), net) for net, _res, spec in _QUICK),
    )


# ---- standard ---------------------------------------------------------------------------------
def _s(name: str, cin: int, cout: int, size, k=1, *, n: int = 1, **kw) -> ConvSpec:
    """A standard-suite spec; ``padding`` defaults to k // 2 per dim (output = input for odd
    kernels at stride 1) for convs, 0 for transposed convs."""
    if "padding" not in kw and not kw.get("transposed"):
        ks = (k,) * len(size) if isinstance(k, int) else tuple(k)
        kw["padding"] = tuple(kk // 2 for kk in ks)
    return ConvSpec(in_channels=cin, out_channels=cout, input_size=size, kernel_size=k,
                    batch=n, name=name, **kw)


def _standard_specs() -> list[ConvSpec]:
    """The standard sweep, grouped by family; names are ``family/shape/nBATCH``."""
    specs: list[ConvSpec] = []
    add = specs.append

    # 2D 3x3, stride 1 (ResNet / VGG bodies): inference (n=1) and training (n=32) batches.
    for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7)):
        for n in (1, 32):
            add(_s(f"conv3x3/c{c}-{hw}x{hw}/n{n}", c, c, (hw, hw), 3, n=n, bias=False))
    for cin, cout, hw in ((3, 64, 224), (64, 128, 112), (128, 256, 56), (256, 512, 28)):
        add(_s(f"conv3x3-vgg/c{cin}-{cout}-{hw}x{hw}/n8", cin, cout, (hw, hw), 3, n=8))

    # 2D 1x1 (bottleneck reduce / expand, MobileNet pointwise).
    for cin, cout, hw in ((256, 64, 56), (64, 256, 56), (512, 128, 28), (1024, 256, 14),
                          (256, 1024, 14), (2048, 512, 7)):
        for n in (1, 32):
            add(_s(f"conv1x1/c{cin}-{cout}-{hw}x{hw}/n{n}", cin, cout, (hw, hw), 1, n=n, bias=False))
    for cin, cout, hw in ((32, 192, 112), (960, 160, 7)):
        add(_s(f"pointwise-mobile/c{cin}-{cout}-{hw}x{hw}/n1", cin, cout, (hw, hw), 1, bias=False))

    # 2D strided: 3x3/2 and 1x1/2 downsampling, and stems.
    for c, hw in ((128, 56), (256, 28), (512, 14)):
        for n in (1, 32):
            add(_s(f"conv3x3-s2/c{c}-{hw}x{hw}/n{n}", c, c, (hw, hw), 3, n=n, stride=2, bias=False))
    for cin, cout, hw in ((256, 512, 56), (512, 1024, 28), (1024, 2048, 14)):
        add(_s(f"conv1x1-s2/c{cin}-{cout}-{hw}x{hw}/n32", cin, cout, (hw, hw), 1, n=32, stride=2,
               bias=False))
    for n in (1, 32):
        add(_s(f"stem7x7-s2/c3-64-224x224/n{n}", 3, 64, (224, 224), 7, n=n, stride=2, bias=False))
        add(_s(f"patchify4x4-s4/c3-96-224x224/n{n}", 3, 96, (224, 224), 4, n=n, stride=4, padding=0))
    add(_s("stem3x3-s2/c3-32-224x224/n1", 3, 32, (224, 224), 3, stride=2, bias=False))
    add(_s("stem11x11-s4/c3-64-224x224/n64", 3, 64, (224, 224), 11, n=64, stride=4, padding=2))
    add(_s("downsample2x2-s2/c96-192-56x56/n32", 96, 192, (56, 56), 2, n=32, stride=2, padding=0))

    # Depthwise (MobileNet / EfficientNet / ConvNeXt).
    for c, hw, k, s in ((32, 112, 3, 1), (144, 56, 3, 1), (192, 28, 3, 1), (384, 14, 3, 1),
                        (960, 7, 3, 1), (96, 112, 3, 2), (144, 56, 3, 2), (240, 28, 5, 1),
                        (672, 14, 5, 2), (96, 56, 7, 1), (384, 14, 7, 1), (768, 7, 7, 1)):
        tag = f"dw{k}x{k}" + (f"-s{s}" if s > 1 else "")
        add(_s(f"{tag}/c{c}-{hw}x{hw}/n1", c, c, (hw, hw), k, stride=s, groups=c, bias=k == 7))
    for c, hw, k in ((144, 56, 3), (672, 14, 5), (384, 14, 7)):
        add(_s(f"dw{k}x{k}/c{c}-{hw}x{hw}/n32", c, c, (hw, hw), k, n=32, groups=c, bias=k == 7))

    # Grouped, not depthwise (ResNeXt 32 groups, AlexNet 2 groups, ShuffleNet 1x1 in 3 groups).
    for c, hw in ((128, 56), (256, 28), (512, 14), (1024, 7)):
        for n in ((1, 32) if hw > 7 else (32,)):
            add(_s(f"grouped3x3-g32/c{c}-{hw}x{hw}/n{n}", c, c, (hw, hw), 3, n=n, groups=32,
                   bias=False))
    add(_s("grouped5x5-g2/c96-256-27x27/n32", 96, 256, (27, 27), 5, n=32, groups=2))
    add(_s("grouped1x1-g3/c240-240-28x28/n32", 240, 240, (28, 28), 1, n=32, groups=3, bias=False))

    # 2D dilated (DeepLab output stride 8/16 backbones and ASPP).
    for c, hw, d in ((256, 65, 2), (512, 65, 4)):
        for n in (1, 4):
            add(_s(f"dilated3x3-d{d}/c{c}-{hw}x{hw}/n{n}", c, c, (hw, hw), 3, n=n, dilation=d,
                   padding=d, bias=False))
    for d in (6, 12, 18):
        add(_s(f"aspp3x3-d{d}/c2048-256-33x33/n4", 2048, 256, (33, 33), 3, n=4, dilation=d,
               padding=d, bias=False))

    # 1D: WaveNet causal dilated convs, wav2vec 2.0's feature encoder, QuartzNet-style
    # depthwise-separable time convs.
    for d in (1, 512):
        for n in (1, 8):
            add(_s(f"wavenet-k2-d{d}/c32-64-16000/n{n}", 32, 64, (16000,), 2, n=n, dilation=d,
                   padding="causal"))
    for n in (1, 8):
        add(_s(f"wav2vec2-k10-s5/c1-512-16000/n{n}", 1, 512, (16000,), 10, n=n, stride=5,
               padding=0, bias=False))
        add(_s(f"wav2vec2-k3-s2/c512-512-3199/n{n}", 512, 512, (3199,), 3, n=n, stride=2,
               padding=0, bias=False))
    add(_s("quartznet-dw-k33/c256-256-800/n16", 256, 256, (800,), 33, n=16, groups=256, bias=False))
    add(_s("quartznet-dw-k87/c512-512-400/n16", 512, 512, (400,), 87, n=16, groups=512, bias=False))
    add(_s("conv1d-k5/c512-512-400/n16", 512, 512, (400,), 5, n=16))

    # 3D: C3D bodies, R(2+1)D factorised convs, 3D U-Net, strided 3D.
    for cin, cout, size in ((64, 128, (16, 56, 56)), (256, 256, (8, 28, 28)), (512, 512, (4, 14, 14))):
        for n in (1, 4):
            add(_s(f"conv3x3x3/c{cin}-{cout}-{'x'.join(map(str, size))}/n{n}", cin, cout, size, 3,
                   n=n))
    add(_s("r2plus1d-1x3x3/c64-144-8x56x56/n4", 64, 144, (8, 56, 56), (1, 3, 3), n=4, bias=False))
    add(_s("r2plus1d-3x1x1/c144-64-8x56x56/n4", 144, 64, (8, 56, 56), (3, 1, 1), n=4, bias=False))
    add(_s("conv3x3x3-s2/c64-128-8x56x56/n4", 64, 128, (8, 56, 56), 3, n=4, stride=2, bias=False))
    add(_s("conv1x1x1/c256-64-8x28x28/n8", 256, 64, (8, 28, 28), 1, n=8, bias=False))
    add(_s("unet3d-3x3x3/c32-64-64x64x64/n1", 32, 64, (64, 64, 64), 3, padding=0))

    # Transposed: U-Net 2x2/2 up-convs, DCGAN 4x4/2, 3D and 1D (HiFi-GAN upsampling).
    for cin, cout, hw in ((1024, 512, 28), (512, 256, 52), (128, 64, 196)):
        add(_s(f"upconv2x2-s2/c{cin}-{cout}-{hw}x{hw}/n1", cin, cout, (hw, hw), 2, stride=2,
               transposed=True))
    for cin, cout, hw in ((1024, 512, 4), (512, 256, 8), (256, 128, 16), (128, 3, 32)):
        add(_s(f"dcgan4x4-s2/c{cin}-{cout}-{hw}x{hw}/n64", cin, cout, (hw, hw), 4, n=64, stride=2,
               padding=1, transposed=True, bias=False))
    add(_s("upconv2x2x2-s2/c512-256-8x8x8/n4", 512, 256, (8, 8, 8), 2, n=4, stride=2,
           transposed=True))
    add(_s("hifigan-k16-s8/c512-256-100/n16", 512, 256, (100,), 16, n=16, stride=8, padding=4,
           transposed=True))
    add(_s("hifigan-k16-s8/c256-128-800/n16", 256, 128, (800,), 16, n=16, stride=8, padding=4,
           transposed=True))

    # Linear layers (kind "linear": a 1x1 conv over positions): ConvNeXt's per-position MLPs
    # and classifiers.
    for cin, cout, hw in ((96, 384, 56), (768, 3072, 7)):
        for n in (1, 32):
            add(_s(f"linear-positions/c{cin}-{cout}-{hw}x{hw}/n{n}", cin, cout, (hw, hw), 1, n=n,
                   kind="linear"))
    for n in (1, 256):
        add(_s(f"linear-classifier/c2048-1000/n{n}", 2048, 1000, (1, 1), 1, n=n, kind="linear"))
    return specs


def _standard() -> Suite:
    return Suite(
        "standard",
        "A synthetic sweep in the spirit of DeepBench's convolution set: 2D 3x3/1x1/strided/"
        "stem, depthwise, grouped, dilated, 1D (WaveNet, wav2vec 2.0, QuartzNet), 3D (C3D, "
        "R(2+1)D, 3D U-Net), transposed (U-Net, DCGAN, 3D, HiFi-GAN) and linear layers, with "
        "realistic channels, sizes and batch sizes (1 for inference, 4-256 for training).",
        dedupe(_standard_specs()),
    )


# ---- registry ---------------------------------------------------------------------------------
_FIXED = {"quick": _quick, "standard": _standard}


def list_suites() -> list[str]:
    """Suite names: ``quick``, ``standard``, then ``net:<network>`` per registered network."""
    return [*_FIXED, *(_NET_PREFIX + n for n in list_networks())]


def get_suite(name: str, batch: int | None = None) -> Suite:
    """The suite called ``name`` (a listed name, or a bare network name or alias).

    ``batch`` None keeps each suite's own batch sizes (batch 1 for network suites); an int
    sets every shape's batch (shapes that become equal merge). Unknown names raise
    :class:`ConvbenchError` listing the known suites.
    """
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise ConvbenchError(f"batch: must be a positive integer, got {batch!r}")
    if not isinstance(name, str):
        raise ConvbenchError(f"suite: expected a name, got {name!r}")
    key = name.strip()
    if key.lower() in _FIXED:
        suite = _FIXED[key.lower()]()
        if batch is None:
            return suite
        return Suite(suite.name, f"{suite.description} Every shape at batch {batch}.",
                     _with_batch(suite.entries, batch))
    net_name = key[len(_NET_PREFIX):] if key.lower().startswith(_NET_PREFIX) else key
    try:
        canonical = canonical_name(net_name)
    except ConvbenchError:
        raise ConvbenchError(
            f"suite: unknown suite {name!r} (known: {', '.join(list_suites())}; a bare network "
            "name or alias also works)"
        ) from None
    net = get_network(canonical, batch=1 if batch is None else batch)
    entries = dedupe(net.layers, network=canonical)
    return Suite(
        _NET_PREFIX + canonical,
        f"{canonical}, de-duplicated: {len(net.layers)} layers in {len(entries)} distinct shapes "
        f"at batch {net.batch}, input {'x'.join(map(str, net.resolution))}. {net.description}",
        entries,
    )
