"""3D networks: C3D (Tran et al. 2015) and the 3D U-Net (Çiçek et al. 2016).

Spatial sizes are (D, H, W): frames (or slices), height, width. An int ``resolution`` is a
cube.
"""

from __future__ import annotations

from convbench.errors import ConvbenchError
from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution
from convbench.workloads.networks.unet import check_unet_sides, build_valid_unet

__all__ = ["c3d", "unet3d"]


def c3d(batch: int = 1, resolution=None) -> Network:
    """C3D (Tran et al. 2015, Sports-1M model), native clip 3 x 16 x 112 x 112.

    Eight 3x3x3 convs (stride 1, padding 1, with bias) named as in the authors' Caffe model:
    conv1a 64, pool1 1x2x2; conv2a 128, pool2 2x2x2; conv3a/b 256, pool3; conv4a/b 512, pool4;
    conv5a/b 512, pool5 2x2x2 (padded 0/1/1 so 2x7x7 becomes 1x4x4, Caffe's ceil rounding);
    then fc6 8192 -> 4096, fc7 4096 -> 4096, fc8 4096 -> 487 classes. No normalisation.
    """
    size = resolve_resolution(resolution, (16, 112, 112), "c3d")
    if min(size) < 16:
        raise ConvbenchError(
            f"resolution: c3d needs at least 16 frames and 16 x 16 pixels (its 2x2x2 pools halve "
            f"each dim four times), got {size}"
        )
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("conv1a", 64, kernel=3, padding=1)
    b.pool(kernel=(1, 2, 2), stride=(1, 2, 2))
    b.conv("conv2a", 128, kernel=3, padding=1)
    b.pool(kernel=2, stride=2)
    b.conv("conv3a", 256, kernel=3, padding=1)
    b.conv("conv3b", 256, kernel=3, padding=1)
    b.pool(kernel=2, stride=2)
    b.conv("conv4a", 512, kernel=3, padding=1)
    b.conv("conv4b", 512, kernel=3, padding=1)
    b.pool(kernel=2, stride=2)
    b.conv("conv5a", 512, kernel=3, padding=1)
    b.conv("conv5b", 512, kernel=3, padding=1)
    b.pool(kernel=2, stride=2, padding=(0, 1, 1))
    b.flatten()
    b.linear("fc6", 4096)
    b.linear("fc7", 4096)
    b.linear("fc8", 487)
    return b.network(
        "c3d",
        source="Tran et al. 2015, 'Learning Spatiotemporal Features with 3D Convolutional "
               "Networks' (C3D, Sports-1M; layer names from the authors' Caffe model)",
        description=(
            f"C3D, clip 3x{size[0]}x{size[1]}x{size[2]} (frames x H x W): 8 biased 3x3x3 convs "
            "(64-128-256-256-512-512-512-512), pool1 1x2x2 then 2x2x2 pools (pool5 padded "
            f"0/1/1), fc6 {b.layers[-3].in_channels}->4096, fc7 4096->4096, fc8 4096->487."
        ),
    )


def unet3d(batch: int = 1, resolution=None) -> Network:
    """3D U-Net (Çiçek et al. 2016), native input 3 x 116 x 132 x 132 -> 3 x 28 x 44 x 44.

    The paper's network: unpadded 3x3x3 convs, each followed by BatchNorm and ReLU; analysis
    path 32-64, 64-128, 128-256 with 2x2x2 stride-2 max pools, bottom 256-512; synthesis path
    of 2x2x2 stride-2 up-convolutions (transposed, channels kept), concatenation with the
    cropped analysis map, two 3x3x3 convs (256, 128, 64); a final 1x1x1 conv to 3 labels. The
    convs carry biases and the up-convs none: that gives the paper's 19,069,955 parameters
    (BatchNorm's 4,672 affine parameters are in ``norm_params``). The
    paper's tile is 132 x 132 x 116 voxels (x, y, z): (D, H, W) = (116, 132, 132) here. Each
    side must be 8k + 28 with k >= 8.
    """
    size = resolve_resolution(resolution, (116, 132, 132), "unet3d")
    check_unet_sides(size, 3, "unet3d")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    build_valid_unet(
        b,
        encoder=((32, 64), (64, 128), (128, 256)),
        bottleneck=(256, 512),
        decoder=((512, 256, 256), (256, 128, 128), (128, 64, 64)),
        classes=3,
        upconv_bias=False,
    )
    for spec in b.layers:
        if not spec.transposed and spec.name != "final":
            b.batch_norm(spec.out_channels)
    out = "x".join(str(v) for v in b.size)
    return b.network(
        "unet3d",
        source="Çiçek et al. 2016, '3D U-Net: Learning Dense Volumetric Segmentation from "
               "Sparse Annotation' (Fig. 1)",
        description=(
            f"3D U-Net, 3x{size[0]}x{size[1]}x{size[2]} -> 3x{out} (D x H x W): unpadded "
            "biased 3x3x3 convs with BatchNorm, analysis 32-64/64-128/128-256, bottom 256-512, "
            "2x2x2/2 bias-free transposed up-convs keeping channels, cropped skip concatenation, "
            "synthesis 256/128/64, final 1x1x1 to 3 labels."
        ),
    )
