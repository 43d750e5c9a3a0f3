"""ResNet-18/34/50/101/152 and ResNeXt-50 (32x4d) as torchvision 0.29 defines them.

torchvision's bottleneck is "ResNet v1.5": the stride of a downsampling block sits on the 3 x 3
conv (``conv2``), not on the first 1 x 1 as in the paper and Caffe's ResNet-50. No conv has a
bias; each is followed by a BatchNorm. In a block torchvision runs ``conv1``, ``conv2``
(, ``conv3``) and then ``downsample.0``, which is the order emitted here.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution


def _basic_block(b: LayerBuilder, name: str, planes: int, stride: int) -> None:
    identity = b.fork(name)
    block = b.fork(name)
    block.conv("conv1", planes, kernel=3, stride=stride, padding=1, bias=False)
    block.batch_norm()
    block.conv("conv2", planes, kernel=3, padding=1, bias=False)
    block.batch_norm()
    if stride != 1 or identity.channels != planes:
        identity.conv("downsample.0", planes, kernel=1, stride=stride, bias=False)
        identity.batch_norm()
    b.set(channels=block.channels, size=block.size)


def _bottleneck(b: LayerBuilder, name: str, planes: int, stride: int, groups: int, width_per_group: int) -> None:
    width = int(planes * (width_per_group / 64.0)) * groups
    out = planes * 4
    identity = b.fork(name)
    block = b.fork(name)
    block.conv("conv1", width, kernel=1, bias=False)
    block.batch_norm()
    block.conv("conv2", width, kernel=3, stride=stride, padding=1, groups=groups, bias=False)
    block.batch_norm()
    block.conv("conv3", out, kernel=1, bias=False)
    block.batch_norm()
    if stride != 1 or identity.channels != out:
        identity.conv("downsample.0", out, kernel=1, stride=stride, bias=False)
        identity.batch_norm()
    b.set(channels=block.channels, size=block.size)


def _resnet(
    name: str,
    batch: int,
    resolution,
    bottleneck: bool,
    blocks: tuple[int, int, int, int],
    groups: int = 1,
    width_per_group: int = 64,
    source: str = "",
    description: str = "",
) -> Network:
    size = resolve_resolution(resolution, (224, 224), name)
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("conv1", 64, kernel=7, stride=2, padding=3, bias=False)
    b.batch_norm()
    b.pool(3, 2, padding=1)
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            block_name = f"layer{stage}.{i}"
            if bottleneck:
                _bottleneck(b, block_name, planes, stride, groups, width_per_group)
            else:
                _basic_block(b, block_name, planes, stride)
    b.adaptive_pool(1)
    b.flatten()
    b.linear("fc", 1000)
    return b.network(name, source=source, description=description)


def resnet18(batch: int = 1, resolution=None) -> Network:
    """ResNet-18 (basic blocks 2-2-2-2), native 224 x 224."""
    return _resnet(
        "resnet18", batch, resolution, False, (2, 2, 2, 2),
        source="torchvision 0.29 resnet18",
        description="ResNet-18 (He et al. 2015): basic blocks 2-2-2-2",
    )


def resnet34(batch: int = 1, resolution=None) -> Network:
    """ResNet-34 (basic blocks 3-4-6-3), native 224 x 224."""
    return _resnet(
        "resnet34", batch, resolution, False, (3, 4, 6, 3),
        source="torchvision 0.29 resnet34",
        description="ResNet-34 (He et al. 2015): basic blocks 3-4-6-3",
    )


def resnet50(batch: int = 1, resolution=None) -> Network:
    """ResNet-50 v1.5 (bottlenecks 3-4-6-3), native 224 x 224."""
    return _resnet(
        "resnet50", batch, resolution, True, (3, 4, 6, 3),
        source="torchvision 0.29 resnet50 (v1.5: stride on the 3x3 conv)",
        description="ResNet-50 (He et al. 2015), v1.5: bottlenecks 3-4-6-3, stride on the 3x3 conv",
    )


def resnet101(batch: int = 1, resolution=None) -> Network:
    """ResNet-101 v1.5 (bottlenecks 3-4-23-3), native 224 x 224."""
    return _resnet(
        "resnet101", batch, resolution, True, (3, 4, 23, 3),
        source="torchvision 0.29 resnet101 (v1.5: stride on the 3x3 conv)",
        description="ResNet-101 (He et al. 2015), v1.5: bottlenecks 3-4-23-3, stride on the 3x3 conv",
    )


def resnet152(batch: int = 1, resolution=None) -> Network:
    """ResNet-152 v1.5 (bottlenecks 3-8-36-3), native 224 x 224."""
    return _resnet(
        "resnet152", batch, resolution, True, (3, 8, 36, 3),
        source="torchvision 0.29 resnet152 (v1.5: stride on the 3x3 conv)",
        description="ResNet-152 (He et al. 2015), v1.5: bottlenecks 3-8-36-3, stride on the 3x3 conv",
    )


def resnext50_32x4d(batch: int = 1, resolution=None) -> Network:
    """ResNeXt-50 32x4d (bottlenecks 3-4-6-3, 32 groups of width 4 per 64 planes), native 224."""
    return _resnet(
        "resnext50_32x4d", batch, resolution, True, (3, 4, 6, 3), groups=32, width_per_group=4,
        source="torchvision 0.29 resnext50_32x4d (v1.5: stride on the grouped 3x3 conv)",
        description=(
            "ResNeXt-50 32x4d (Xie et al. 2016): ResNet-50's bottlenecks with a 3x3 conv of "
            "32 groups, twice as wide"
        ),
    )
