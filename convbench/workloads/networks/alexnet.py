"""AlexNet: torchvision's single-tower variant at 224, and Caffe's ``bvlc_alexnet`` at 227.

Two definitions, because published figures mix them:

- ``alexnet``: torchvision 0.29's ``alexnet`` (from "One weird trick", Krizhevsky 2014): 64, 192,
  384, 256, 256 filters, no grouped convs, no LRN, an adaptive average pool to 6 x 6 before the
  classifier; 61,100,840 parameters and 0.714 GMACs at 224 x 224.
- ``alexnet_caffe``: BVLC's Caffe reference model (the original two-GPU AlexNet, Krizhevsky
  2012, as Caffe ships it): 96, 256, 384, 384, 256 filters, conv2/conv4/conv5 with ``group: 2``,
  LRN after conv1 and conv2, max pools with Caffe's ceil rounding, at 227 x 227; 60,965,224
  parameters and 0.724 GMACs.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution


def alexnet(batch: int = 1, resolution=None) -> Network:
    """torchvision's AlexNet (native 224 x 224); the classifier always sees 256 x 6 x 6."""
    size = resolve_resolution(resolution, (224, 224), "alexnet")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("features.0", 64, kernel=11, stride=4, padding=2)
    b.pool(3, 2)
    b.conv("features.3", 192, kernel=5, padding=2)
    b.pool(3, 2)
    b.conv("features.6", 384, kernel=3, padding=1)
    b.conv("features.8", 256, kernel=3, padding=1)
    b.conv("features.10", 256, kernel=3, padding=1)
    b.pool(3, 2)
    b.adaptive_pool(6)
    b.flatten()
    b.linear("classifier.1", 4096)
    b.linear("classifier.4", 4096)
    b.linear("classifier.6", 1000)
    return b.network(
        "alexnet",
        source="torchvision 0.29 alexnet (single tower, 64-192-384-256-256 filters)",
        description=(
            "torchvision's AlexNet at 224x224, not the original two-GPU network: 64/192 filters "
            "in conv1/conv2 instead of 96/256, no grouped convs, no LRN (61.1M params, 0.71 GMACs; "
            "the original is alexnet_caffe: 60.97M, 0.72 GMACs)"
        ),
    )


def alexnet_caffe(batch: int = 1, resolution=None) -> Network:
    """Caffe's bvlc_alexnet (native 227 x 227) with its groups=2 conv2, conv4 and conv5.

    Caffe has no adaptive pool: at another resolution fc6's input is pool5 flattened, so its
    weight count follows the input size (Caffe sizes an InnerProduct from its input blob).
    """
    size = resolve_resolution(resolution, (227, 227), "alexnet_caffe")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    b.conv("conv1", 96, kernel=11, stride=4)
    b.pool(3, 2, ceil_mode=True)  # norm1 (LRN) has no weights
    b.conv("conv2", 256, kernel=5, padding=2, groups=2)
    b.pool(3, 2, ceil_mode=True)
    b.conv("conv3", 384, kernel=3, padding=1)
    b.conv("conv4", 384, kernel=3, padding=1, groups=2)
    b.conv("conv5", 256, kernel=3, padding=1, groups=2)
    b.pool(3, 2, ceil_mode=True)
    b.flatten()
    b.linear("fc6", 4096)
    b.linear("fc7", 4096)
    b.linear("fc8", 1000)
    return b.network(
        "alexnet_caffe",
        source="Caffe bvlc_alexnet (BVLC reference model, deploy.prototxt)",
        description=(
            "the original two-GPU AlexNet as Caffe's bvlc_alexnet at 227x227: 96-256-384-384-256 "
            "filters, conv2/conv4/conv5 grouped (groups=2), LRN after conv1 and conv2"
        ),
    )
