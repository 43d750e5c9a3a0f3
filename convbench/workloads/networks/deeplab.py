"""DeepLabV3's head: atrous spatial pyramid pooling (ASPP) on a ResNet feature map.

The layers follow torchvision 0.29's ``DeepLabHead`` (``models.segmentation.deeplabv3``) with
the paper's output-stride-16 atrous rates 6, 12, 18 (Chen et al. 2017, "Rethinking Atrous
Convolution"; torchvision's own builders use 12, 24, 36 for output stride 8). Names are the
module paths the head has inside torchvision's ``deeplabv3_resnet50`` (``classifier.*``):

- ``classifier.0.convs.0.0``: 1x1, 2048 -> 256;
- ``classifier.0.convs.{1,2,3}.0``: 3x3, 2048 -> 256, dilation = padding = 6, 12, 18;
- ``classifier.0.convs.4.1``: image pooling, 1x1 2048 -> 256 on the globally pooled 1x1 map;
- ``classifier.0.project.0``: 1x1 over the concatenation, 1280 -> 256;
- ``classifier.1``: 3x3, 256 -> 256, padding 1 (DeepLabHead's conv after ASPP);
- ``classifier.4``: 1x1, 256 -> 21 classes (PASCAL VOC), with bias.

All convs but the classifier are bias-free with BatchNorm after them (counted in
``norm_params``). The network's ``resolution`` is the *image* size; the layers see the
backbone's output-stride-16 feature map: a ResNet's stride-2 stem conv, max pool, layer2 and
layer3 each map n -> ceil(n / 2), and layer4 is dilated instead of strided. The native image is
513 x 513 (the paper's crop), giving 33 x 33 features; 448 gives 28 x 28.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

__all__ = ["deeplabv3_aspp", "feature_size"]

#: Atrous rates of the three 3x3 ASPP branches at output stride 16.
RATES = (6, 12, 18)
_BACKBONE_CHANNELS = 2048
_ASPP_CHANNELS = 256
_CLASSES = 21


def feature_size(image: int) -> int:
    """Side of a ResNet's output-stride-16 feature map for an ``image``-pixel side (pixels).

    Four stride-2 stages (7x7/2 pad 3 stem, 3x3/2 pad 1 max pool, the 3x3/2 pad 1 convs of
    layer2 and layer3) each map n -> floor((n - 1) / 2) + 1 = ceil(n / 2).
    """
    for _ in range(4):
        image = (image - 1) // 2 + 1
    return image


def deeplabv3_aspp(batch: int = 1, resolution=None) -> Network:
    """DeepLabV3 head (ASPP with rates 6/12/18, then 3x3 and 1x1 classifier) at output stride 16.

    ``resolution`` is the input image size (native 513 x 513 -> 33 x 33 backbone features).
    """
    image = resolve_resolution(resolution, (513, 513), "deeplabv3_aspp")
    features = tuple(feature_size(n) for n in image)
    b = LayerBuilder(batch=batch, channels=_BACKBONE_CHANNELS, size=features, prefix="classifier")
    branches = []
    one = b.fork("0.convs.0")
    one.conv("0", _ASPP_CHANNELS, kernel=1, bias=False)
    one.batch_norm()
    branches.append(one)
    for i, rate in enumerate(RATES, start=1):
        br = b.fork(f"0.convs.{i}")
        br.conv("0", _ASPP_CHANNELS, kernel=3, padding=rate, dilation=rate, bias=False)
        br.batch_norm()
        branches.append(br)
    pooled = b.fork(f"0.convs.{len(RATES) + 1}")
    pooled.adaptive_pool(1)
    pooled.conv("1", _ASPP_CHANNELS, kernel=1, bias=False)
    pooled.batch_norm()
    pooled.resize(features)  # bilinear upsampling back to the feature map
    branches.append(pooled)
    head = b.fork()
    head.set(channels=0)
    head.concat(*branches)  # torch.cat of the five branches: 5 x 256 channels
    head.conv("0.project.0", _ASPP_CHANNELS, kernel=1, bias=False)
    head.batch_norm()
    head.conv("1", _ASPP_CHANNELS, kernel=3, padding=1, bias=False)
    head.batch_norm()
    head.conv("4", _CLASSES, kernel=1, bias=True)
    return b.network(
        "deeplabv3_aspp",
        source="torchvision 0.29 models.segmentation.deeplabv3.DeepLabHead (ASPP) with the "
               "paper's output-stride-16 rates 6, 12, 18 (Chen et al. 2017)",
        description=(
            f"DeepLabV3 head on a ResNet-50/101 output-stride-16 map: image {image[0]}x{image[1]} "
            f"-> features 2048x{features[0]}x{features[1]}; ASPP 1x1 + three 3x3 atrous "
            "(rates 6, 12, 18) + image-pooling 1x1, all 2048->256; 1x1 projection 1280->256; "
            "3x3 256->256; 1x1 256->21 classes. resolution is the image size."
        ),
        resolution=image,
        aliases=("aspp",),
    )
