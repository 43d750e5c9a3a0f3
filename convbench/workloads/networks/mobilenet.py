"""MobileNet V1 (the paper), V2 and V3-Large (torchvision 0.29), layer by layer.

Every builder returns each conv and linear layer in execution order with its module path as
``name`` (torchvision's path for V2 and V3; TF-slim's layer names for V1, which torchvision does
not ship). Convs followed by BatchNorm carry no bias; BatchNorm affine parameters (2 per
channel) are counted in ``norm_params``. Squeeze-and-excitation layers are 1x1 convs
(kind ``conv``) on a 1x1 input, as torchvision defines them.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, make_divisible, resolve_resolution

__all__ = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large"]

_NATIVE = (224, 224)

# MobileNetV1 (Howard et al. 2017, Table 1): (stride of the depthwise 3x3, pointwise output
# channels) for the 13 depthwise-separable blocks. The paper's table prints "s2" for the last
# depthwise conv but keeps 7x7 maps; the reference implementation (TF-slim) uses stride 1.
_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512),
    (2, 1024), (1, 1024),
)

# MobileNetV2 (torchvision): expand ratio t, output channels c, repeats n, first stride s.
_V2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)

# MobileNetV3-Large (torchvision): kernel, expanded channels, output channels, squeeze-excite,
# stride; input channels follow from the previous row (16 after the stem).
_V3_LARGE: tuple[tuple[int, int, int, bool, int], ...] = (
    (3, 16, 16, False, 1),
    (3, 64, 24, False, 2),
    (3, 72, 24, False, 1),
    (5, 72, 40, True, 2),
    (5, 120, 40, True, 1),
    (5, 120, 40, True, 1),
    (3, 240, 80, False, 2),
    (3, 200, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 480, 112, True, 1),
    (3, 672, 112, True, 1),
    (5, 672, 160, True, 2),
    (5, 960, 160, True, 1),
    (5, 960, 160, True, 1),
)


def mobilenet_v1(batch: int = 1, resolution=None) -> Network:
    """MobileNetV1, width 1.0 (Howard et al. 2017), native input 3 x 224 x 224.

    A 3x3 stride-2 conv to 32 channels, 13 depthwise-separable blocks (3x3 depthwise + 1x1
    pointwise, each conv without bias and followed by BatchNorm), global average pooling and a
    1024 -> 1000 fully connected layer. 4.2 M parameters and 569 M multiply-adds at 224.
    """
    size = resolve_resolution(resolution, _NATIVE, "mobilenet_v1")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("Conv2d_0", 32, kernel=3, stride=2, padding=1, bias=False)
    b.batch_norm()
    for i, (stride, out) in enumerate(_V1_BLOCKS, start=1):
        b.conv(f"Conv2d_{i}_depthwise", b.channels, kernel=3, stride=stride, padding=1,
               groups=b.channels, bias=False)
        b.batch_norm()
        b.conv(f"Conv2d_{i}_pointwise", out, kernel=1, bias=False)
        b.batch_norm()
    b.adaptive_pool(1)
    b.flatten()
    b.linear("fc", 1000)
    return b.network(
        "mobilenet_v1",
        source="Howard et al. 2017, 'MobileNets', Table 1 (width 1.0); layer names as TF-slim's "
               "mobilenet_v1",
        description="MobileNetV1 1.0, 224x224: 3x3/2 stem, 13 depthwise-separable blocks, "
                    "1024->1000 classifier. Convs are bias-free (BatchNorm follows); padding 1 on "
                    "every 3x3 (TF 'same' gives the same output sizes); the last depthwise conv "
                    "has stride 1 as in TF-slim (the paper's table prints s2 on a 7x7 map).",
        aliases=("mobilenetv1",),
    )


def mobilenet_v2(batch: int = 1, resolution=None) -> Network:
    """MobileNetV2 as torchvision 0.29 builds it (width 1.0), native input 3 x 224 x 224.

    3.5 M parameters, 0.30 G multiply-adds at 224.
    """
    size = resolve_resolution(resolution, _NATIVE, "mobilenet_v2")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.0.0", 32, kernel=3, stride=2, padding=1, bias=False)
    b.batch_norm()
    index = 1
    for t, c, n, s in _V2_SETTING:
        for i in range(n):
            stride = s if i == 0 else 1
            inp = b.channels
            hidden = inp * t
            blk = b.fork(f"features.{index}.conv")
            j = 0
            if t != 1:
                blk.conv(f"{j}.0", hidden, kernel=1, bias=False)
                blk.batch_norm()
                j += 1
            blk.conv(f"{j}.0", hidden, kernel=3, stride=stride, padding=1, groups=hidden, bias=False)
            blk.batch_norm()
            blk.conv(f"{j + 1}", c, kernel=1, bias=False)
            blk.batch_norm()
            b.set(channels=blk.channels, size=blk.size)
            index += 1
    b.conv(f"features.{index}.0", 1280, kernel=1, bias=False)
    b.batch_norm()
    b.adaptive_pool(1)
    b.flatten()
    b.linear("classifier.1", 1000)
    return b.network(
        "mobilenet_v2",
        source="torchvision 0.29 models.mobilenet_v2 (Sandler et al. 2018), width 1.0",
        description="MobileNetV2 1.0, 224x224: inverted residual blocks (1x1 expand, 3x3 "
                    "depthwise, 1x1 project; bias-free convs with BatchNorm), 1280->1000 classifier.",
        aliases=("mobilenetv2",),
    )


def mobilenet_v3_large(batch: int = 1, resolution=None) -> Network:
    """MobileNetV3-Large as torchvision 0.29 builds it (width 1.0), native input 3 x 224 x 224.

    Squeeze-and-excitation blocks are two biased 1x1 convs on the pooled 1x1 map with
    ``make_divisible(expanded / 4, 8)`` squeeze channels. 5.5 M parameters, 0.22 G
    multiply-adds at 224.
    """
    size = resolve_resolution(resolution, _NATIVE, "mobilenet_v3_large")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.0.0", 16, kernel=3, stride=2, padding=1, bias=False)
    b.batch_norm()
    for index, (k, exp, out, se, stride) in enumerate(_V3_LARGE, start=1):
        blk = b.fork(f"features.{index}.block")
        j = 0
        if exp != blk.channels:
            blk.conv(f"{j}.0", exp, kernel=1, bias=False)
            blk.batch_norm()
            j += 1
        blk.conv(f"{j}.0", exp, kernel=k, stride=stride, padding=(k - 1) // 2, groups=exp, bias=False)
        blk.batch_norm()
        j += 1
        if se:
            squeeze = blk.fork(str(j))
            squeeze.adaptive_pool(1)
            squeeze.conv("fc1", make_divisible(exp // 4, 8), kernel=1)
            squeeze.conv("fc2", exp, kernel=1)
            j += 1
        blk.conv(f"{j}.0", out, kernel=1, bias=False)
        blk.batch_norm()
        b.set(channels=blk.channels, size=blk.size)
    last = len(_V3_LARGE) + 1
    b.conv(f"features.{last}.0", 6 * b.channels, kernel=1, bias=False)
    b.batch_norm()
    b.adaptive_pool(1)
    b.flatten()
    b.linear("classifier.0", 1280)
    b.linear("classifier.3", 1000)
    return b.network(
        "mobilenet_v3_large",
        source="torchvision 0.29 models.mobilenet_v3_large (Howard et al. 2019), width 1.0",
        description="MobileNetV3-Large 1.0, 224x224: inverted residual blocks with 3x3/5x5 "
                    "depthwise convs and squeeze-excitation (biased 1x1 convs on 1x1 maps), "
                    "960->1280->1000 classifier.",
        aliases=("mobilenetv3",),
    )
