"""EfficientNet-B0 as torchvision 0.29 builds it, layer by layer.

Layer names are torchvision's module paths. Convs followed by BatchNorm carry no bias;
BatchNorm affine parameters (2 per channel) are counted in ``norm_params``. Each MBConv block's
squeeze-and-excitation is two biased 1x1 convs (kind ``conv``) on the pooled 1x1 map, with
``max(1, block_input_channels // 4)`` squeeze channels (torchvision's rule).
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

__all__ = ["efficientnet_b0"]

# torchvision's MBConvConfig rows for B0 (width and depth multipliers 1.0):
# expand ratio, kernel, first stride, output channels, repeats.
_B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def efficientnet_b0(batch: int = 1, resolution=None) -> Network:
    """EfficientNet-B0 (Tan & Le 2019) as in torchvision 0.29, native input 3 x 224 x 224.

    A 3x3 stride-2 stem to 32 channels, 16 MBConv blocks in 7 stages (1x1 expand, k x k
    depthwise, squeeze-excitation, 1x1 project), a 1x1 conv to 1280 and a 1280 -> 1000
    classifier. 5.3 M parameters, 0.39 G multiply-adds at 224.
    """
    size = resolve_resolution(resolution, (224, 224), "efficientnet_b0")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.0.0", 32, kernel=3, stride=2, padding=1, bias=False)
    b.batch_norm()
    for stage, (t, k, s, out, repeats) in enumerate(_B0_STAGES, start=1):
        for i in range(repeats):
            inp = b.channels
            exp = inp * t
            blk = b.fork(f"features.{stage}.{i}.block")
            j = 0
            if exp != inp:
                blk.conv(f"{j}.0", exp, kernel=1, bias=False)
                blk.batch_norm()
                j += 1
            blk.conv(f"{j}.0", exp, kernel=k, stride=s if i == 0 else 1, padding=(k - 1) // 2,
                     groups=exp, bias=False)
            blk.batch_norm()
            j += 1
            squeeze = blk.fork(str(j))
            squeeze.adaptive_pool(1)
            squeeze.conv("fc1", max(1, inp // 4), kernel=1)
            squeeze.conv("fc2", exp, kernel=1)
            j += 1
            blk.conv(f"{j}.0", out, kernel=1, bias=False)
            blk.batch_norm()
            b.set(channels=blk.channels, size=blk.size)
    b.conv(f"features.{len(_B0_STAGES) + 1}.0", 4 * b.channels, kernel=1, bias=False)
    b.batch_norm()
    b.adaptive_pool(1)
    b.flatten()
    b.linear("classifier.1", 1000)
    return b.network(
        "efficientnet_b0",
        source="torchvision 0.29 models.efficientnet_b0 (Tan & Le 2019)",
        description="EfficientNet-B0, 224x224: MBConv blocks (1x1 expand, 3x3/5x5 depthwise, "
                    "squeeze-excitation as biased 1x1 convs on 1x1 maps, 1x1 project; bias-free "
                    "convs with BatchNorm), 320->1280 head conv, 1280->1000 classifier.",
        aliases=("efficientnet-b0",),
    )
