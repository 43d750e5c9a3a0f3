"""GoogLeNet (Inception v1) as torchvision 0.29 defines it, at inference.

Every conv is a ``BasicConv2d``: conv without bias, then BatchNorm (eps 0.001). The inception
modules' "5x5" branch is really a 3x3 conv in torchvision (a known deviation from the paper,
kept for its pretrained weights); the auxiliary classifiers exist only in training and are not
emitted. Max pools use ceil mode, as in torchvision.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

# name: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), in torchvision's order.
_INCEPTIONS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)


def _basic(b: LayerBuilder, name: str, out: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
    b.conv(f"{name}.conv" if name else "conv", out, kernel=kernel, stride=stride, padding=padding, bias=False)
    b.batch_norm()


def _inception(b: LayerBuilder, name: str, widths: tuple[int, ...]) -> None:
    c1, c3r, c3, c5r, c5, proj = widths
    branch1, branch2, branch3, branch4 = (b.fork(f"{name}.branch{i}") for i in range(1, 5))
    _basic(branch1, "", c1, 1)
    _basic(branch2, "0", c3r, 1)
    _basic(branch2, "1", c3, 3, padding=1)
    _basic(branch3, "0", c5r, 1)
    _basic(branch3, "1", c5, 3, padding=1)  # torchvision's "5x5" branch is 3x3
    branch4.pool(3, 1, padding=1, ceil_mode=True)
    _basic(branch4, "1", proj, 1)
    branch1.concat(branch2, branch3, branch4)
    b.set(channels=branch1.channels, size=branch1.size)


def googlenet(batch: int = 1, resolution=None) -> Network:
    """torchvision's GoogLeNet without auxiliary classifiers, native 224 x 224."""
    size = resolve_resolution(resolution, (224, 224), "googlenet")
    b = LayerBuilder(batch=batch, channels=3, size=size)
    _basic(b, "conv1", 64, 7, stride=2, padding=3)
    b.pool(3, 2, ceil_mode=True)
    _basic(b, "conv2", 64, 1)
    _basic(b, "conv3", 192, 3, padding=1)
    b.pool(3, 2, ceil_mode=True)
    for name, widths in _INCEPTIONS:
        _inception(b, name, widths)
        if name == "inception3b":
            b.pool(3, 2, ceil_mode=True)
        elif name == "inception4e":
            b.pool(2, 2, ceil_mode=True)
    b.adaptive_pool(1)
    b.flatten()
    b.linear("fc", 1000)
    return b.network(
        "googlenet",
        source="torchvision 0.29 googlenet (aux_logits=False; its '5x5' branch is a 3x3 conv)",
        description=(
            "GoogLeNet / Inception v1 (Szegedy et al. 2014) as torchvision builds it: BN after "
            "every conv, the '5x5' branch is 3x3, no auxiliary classifiers at inference"
        ),
        aliases=("inception_v1",),
    )
