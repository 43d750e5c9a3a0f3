"""VGG-11, VGG-16 and VGG-19 (configurations A, D, E) as torchvision 0.29 defines them.

Every conv is 3 x 3, stride 1, padding 1, with bias; a 2 x 2 max pool (stride 2) ends each
stage; an adaptive average pool makes the classifier's input 512 x 7 x 7 at any resolution.
No batch norm (torchvision's ``vgg*_bn`` are other models).
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

_M = "M"  # a max pool in a configuration list
_CONFIGS: dict[str, tuple] = {
    "vgg11": (64, _M, 128, _M, 256, 256, _M, 512, 512, _M, 512, 512, _M),
    "vgg16": (64, 64, _M, 128, 128, _M, 256, 256, 256, _M, 512, 512, 512, _M, 512, 512, 512, _M),
    "vgg19": (
        64, 64, _M, 128, 128, _M, 256, 256, 256, 256, _M,
        512, 512, 512, 512, _M, 512, 512, 512, 512, _M,
    ),
}
_WEIGHT_LAYERS = {"vgg11": 11, "vgg16": 16, "vgg19": 19}


def _vgg(name: str, batch: int, resolution) -> Network:
    size = resolve_resolution(resolution, (224, 224), name)
    b = LayerBuilder(batch=batch, channels=3, size=size)
    index = 0  # torchvision's index in ``features``: conv and ReLU take one each, a pool one
    for item in _CONFIGS[name]:
        if item == _M:
            b.pool(2, 2)
            index += 1
        else:
            b.conv(f"features.{index}", item, kernel=3, padding=1)
            index += 2
    b.adaptive_pool(7)
    b.flatten()
    b.linear("classifier.0", 4096)
    b.linear("classifier.3", 4096)
    b.linear("classifier.6", 1000)
    n = _WEIGHT_LAYERS[name]
    return b.network(
        name,
        source=f"torchvision 0.29 {name} (no batch norm)",
        description=(
            f"VGG-{n} (Simonyan and Zisserman 2014): {n - 3} 3x3 convs and 3 fully connected "
            "layers; the classifier's input is 512x7x7 at any resolution (adaptive pool)"
        ),
    )


def vgg11(batch: int = 1, resolution=None) -> Network:
    """VGG-11 (configuration A), native 224 x 224."""
    return _vgg("vgg11", batch, resolution)


def vgg16(batch: int = 1, resolution=None) -> Network:
    """VGG-16 (configuration D), native 224 x 224."""
    return _vgg("vgg16", batch, resolution)


def vgg19(batch: int = 1, resolution=None) -> Network:
    """VGG-19 (configuration E), native 224 x 224."""
    return _vgg("vgg19", batch, resolution)
