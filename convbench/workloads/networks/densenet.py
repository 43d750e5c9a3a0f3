"""DenseNet-121 as torchvision 0.29 defines it.

Growth rate 32, blocks of 6-12-24-16 dense layers, bottleneck width 4 x 32 = 128, transitions
that halve the channels (1 x 1 conv) and the size (2 x 2 average pool). Every conv is
pre-activated (BatchNorm, ReLU, conv) and has no bias; the classifier is one linear layer with
bias on the globally pooled 1024 channels.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution


def _densenet(
    name: str,
    batch: int,
    resolution,
    growth: int,
    blocks: tuple[int, ...],
    init_features: int,
    bn_size: int = 4,
) -> Network:
    size = resolve_resolution(resolution, (224, 224), name)
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.conv0", init_features, kernel=7, stride=2, padding=3, bias=False)
    b.batch_norm()  # features.norm0
    b.pool(3, 2, padding=1)
    for block, count in enumerate(blocks, start=1):
        for i in range(1, count + 1):
            layer = b.fork(f"features.denseblock{block}.denselayer{i}")
            layer.batch_norm()  # norm1 over every feature so far
            layer.conv("conv1", bn_size * growth, kernel=1, bias=False)
            layer.batch_norm()  # norm2
            layer.conv("conv2", growth, kernel=3, padding=1, bias=False)
            b.concat(layer)
        if block < len(blocks):
            t = b.fork(f"features.transition{block}")
            t.batch_norm()
            t.conv("conv", b.channels // 2, kernel=1, bias=False)
            t.pool(2, 2)
            b.set(channels=t.channels, size=t.size)
    b.batch_norm()  # features.norm5
    b.adaptive_pool(1)
    b.flatten()
    b.linear("classifier", 1000)
    return b.network(
        name,
        source=f"torchvision 0.29 {name}",
        description=(
            f"DenseNet (Huang et al. 2016), growth {growth}, dense blocks "
            f"{'-'.join(map(str, blocks))}, bottleneck {bn_size * growth}, compression 0.5"
        ),
    )


def densenet121(batch: int = 1, resolution=None) -> Network:
    """DenseNet-121 (growth 32, blocks 6-12-24-16, 64 initial features), native 224 x 224."""
    return _densenet("densenet121", batch, resolution, 32, (6, 12, 24, 16), 64)
