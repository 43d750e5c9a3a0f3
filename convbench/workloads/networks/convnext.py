"""ConvNeXt-Tiny as torchvision 0.29 builds it, layer by layer.

Layer names are torchvision's module paths: in each CNBlock ``block.0`` is the 7x7 depthwise
conv (padding 3, with bias), ``block.3`` and ``block.5`` are the pointwise ``nn.Linear`` layers
(the paper's pwconv1/pwconv2) applied at every H x W position of a channels-last tensor: they
are kind ``linear`` with ``input_size`` (H, W). The stem is a 4x4 stride-4 conv and each
downsampling layer a 2x2 stride-2 conv, both with bias.

``norm_params`` counts every parameter outside conv and linear layers: the LayerNorms' affine
weights and biases (2 per channel) *and* the per-block layer-scale vectors (``gamma``, one per
channel, 6,624 in all for Tiny), so that ``params + norm_params`` is torchvision's total
parameter count. The description states the layer-scale share.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

__all__ = ["convnext_tiny"]

# (channels, blocks) per stage of ConvNeXt-T.
_TINY: tuple[tuple[int, int], ...] = ((96, 3), (192, 3), (384, 9), (768, 3))


def convnext_tiny(batch: int = 1, resolution=None) -> Network:
    """ConvNeXt-Tiny (Liu et al. 2022) as in torchvision 0.29, native input 3 x 224 x 224.

    28.6 M parameters in total (28.5 M conv/linear, the rest LayerNorm and layer scale) and
    4.5 G multiply-adds at 224. A size not divisible by 32 is floored at the stride-4 stem and
    each stride-2 downsampling, as torch does.
    """
    size = resolve_resolution(resolution, (224, 224), "convnext_tiny")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.0.0", _TINY[0][0], kernel=4, stride=4, padding=0, bias=True)
    b.layer_norm()
    layer_scale = 0
    index = 1
    for s, (dim, blocks) in enumerate(_TINY):
        if s > 0:
            b.layer_norm()
            b.conv(f"features.{index}.1", dim, kernel=2, stride=2, padding=0, bias=True)
            index += 1
        for i in range(blocks):
            blk = b.fork(f"features.{index}.{i}.block")
            blk.conv("0", dim, kernel=7, padding=3, groups=dim, bias=True)
            blk.layer_norm()
            blk.linear("3", 4 * dim)
            blk.linear("5", dim)
            b.add_norm_params(dim)  # layer scale: one gamma per channel
            layer_scale += dim
        index += 1
    b.adaptive_pool(1)
    b.layer_norm()
    b.flatten()
    b.linear("classifier.2", 1000)
    return b.network(
        "convnext_tiny",
        source="torchvision 0.29 models.convnext_tiny (Liu et al. 2022, 'A ConvNet for the 2020s')",
        description=(
            "ConvNeXt-T, 224x224: 4x4/4 patchify stem, stages of 3-3-9-3 blocks (7x7 depthwise "
            "conv with padding 3, then two per-position linears 4x expand/project: kind linear "
            "over H x W), 2x2/2 downsampling convs, 768->1000 classifier. norm_params holds the "
            f"LayerNorm affines plus {layer_scale:,d} layer-scale parameters (neither conv nor "
            "norm), so params + norm_params is the model's total."
        ),
        aliases=("convnext-t",),
    )
