"""U-Net (Ronneberger et al. 2015) as the paper defines it: unpadded ("valid") 3x3 convs.

convbench follows the original paper (Fig. 1), not one of the many padded variants:

- input 1 x 572 x 572 (one grey channel), output 2 x 388 x 388 (two classes);
- contracting path: four levels of two unpadded 3x3 convs (64, 128, 256, 512 channels), each
  followed by a 2x2 stride-2 max pool; the bottom level has two 3x3 convs to 1024;
- expansive path: per level a 2x2 stride-2 up-convolution (a transposed conv, ``transposed``
  specs) halving the channels, concatenation with the centre-cropped map of the same level of
  the contracting path, two unpadded 3x3 convs;
- a final 1x1 conv to the classes. Every conv has a bias; there is no normalisation.

Layer names: ``encoder.{0..3}.conv{1,2}``, ``bottleneck.conv{1,2}``,
``decoder.{0..3}.upconv`` / ``decoder.{0..3}.conv{1,2}`` (decoder 0 is the deepest), ``final``.

Because the convs are unpadded, not every input size works: every 2x2 max pool must see an
even size (the paper's own rule), so a side must be 16k + 60 with k >= 8 (188, 204, ..., 572,
...); any other size raises :class:`ConvbenchError` naming the nearest valid ones. The same
builder, in 3D, gives Çiçek et al.'s 3D U-Net (see :mod:`video3d`).
"""

from __future__ import annotations

from typing import Sequence

from convbench.errors import ConvbenchError
from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

__all__ = ["unet", "valid_unet_sizes", "check_unet_sides", "build_valid_unet"]


def _unet_side(n: int, levels: int) -> int | None:
    """Output side of a valid-padding U-Net with ``levels`` pools for input side ``n``, or None
    when some pool would see an odd size or some size would drop below 1."""
    for _ in range(levels):
        n -= 4
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= 4
    for _ in range(levels):
        if n < 1:
            return None
        n = 2 * n - 4
    return n if n >= 1 else None


def valid_unet_sizes(levels: int, up_to: int) -> list[int]:
    """Input sides (elements) up to ``up_to`` that a valid-padding U-Net with ``levels`` 2x2
    pools accepts: every pool sees an even size and the output is at least 1."""
    return [n for n in range(1, up_to + 1) if _unet_side(n, levels) is not None]


def check_unet_sides(size: Sequence[int], levels: int, network: str) -> None:
    """Raise :class:`ConvbenchError` naming ``resolution`` and the nearest valid sides when a
    side of ``size`` does not fit a valid-padding U-Net with ``levels`` pools."""
    for n in size:
        if _unet_side(n, levels) is None:
            valid = valid_unet_sizes(levels, n + 10 * 2 ** levels)
            below = [v for v in valid if v < n][-1:]
            above = [v for v in valid if v > n][:1]
            near = ", ".join(str(v) for v in below + above)
            raise ConvbenchError(
                f"resolution: {network} (unpadded convs) cannot take side {n}: every 2x max "
                f"pool needs an even size and the output at least 1 (nearest valid: {near})"
            )


def build_valid_unet(
    b: LayerBuilder,
    encoder: Sequence[tuple[int, int]],
    bottleneck: tuple[int, int],
    decoder: Sequence[tuple[int, int, int]],
    classes: int,
    upconv_bias: bool = True,
) -> None:
    """Emit a valid-padding U-Net on builder ``b`` (2D or 3D; the builder's size sets the dims).

    ``encoder``: (conv1, conv2) output channels per level, each level followed by a 2x2(x2)
    stride-2 max pool; ``bottleneck``: the bottom level's two conv widths; ``decoder``: per
    level from the deepest, (up-conv output channels, conv1, conv2); ``classes``: the final
    1x1 conv's outputs; ``upconv_bias``: whether the up-convs carry a bias (every other conv
    does). Skip connections are centre-cropped to the up-conv's output size.
    """
    skips = []
    for i, (c1, c2) in enumerate(encoder):
        b.conv(f"encoder.{i}.conv1", c1, kernel=3)
        b.conv(f"encoder.{i}.conv2", c2, kernel=3)
        skips.append(b.fork())
        b.pool(kernel=2, stride=2)
    b.conv("bottleneck.conv1", bottleneck[0], kernel=3)
    b.conv("bottleneck.conv2", bottleneck[1], kernel=3)
    for i, (up, c1, c2) in enumerate(decoder):
        b.conv(f"decoder.{i}.upconv", up, kernel=2, stride=2, transposed=True,
               bias=upconv_bias)
        skip = skips[len(skips) - 1 - i]
        skip.resize(b.size)  # centre crop to the up-conv's output
        b.concat(skip)
        b.conv(f"decoder.{i}.conv1", c1, kernel=3)
        b.conv(f"decoder.{i}.conv2", c2, kernel=3)
    b.conv("final", classes, kernel=1)


def unet(batch: int = 1, resolution=None) -> Network:
    """The original U-Net (Ronneberger et al. 2015): 1 x 572 x 572 -> 2 x 388 x 388.

    ``resolution``: the input side(s); each must be 16k + 60 with k >= 8.
    """
    size = resolve_resolution(resolution, (572, 572), "unet")
    check_unet_sides(size, 4, "unet")
    b = LayerBuilder(batch=batch, channels=1, size=size)
    build_valid_unet(
        b,
        encoder=((64, 64), (128, 128), (256, 256), (512, 512)),
        bottleneck=(1024, 1024),
        decoder=((512, 512, 512), (256, 256, 256), (128, 128, 128), (64, 64, 64)),
        classes=2,
    )
    out = "x".join(str(v) for v in b.size)
    return b.network(
        "unet",
        source="Ronneberger et al. 2015, 'U-Net' (Fig. 1): unpadded 3x3 convs, 2x2 up-convolutions",
        description=(
            f"Original U-Net, 1x{size[0]}x{size[1]} -> 2x{out}: encoder 64-128-256-512 and "
            "bottleneck 1024 (two unpadded 3x3 convs each, 2x2 max pools), decoder of 2x2/2 "
            "transposed convs halving channels, centre-cropped skip concatenation, two 3x3 "
            "convs, final 1x1 to 2 classes; biased convs, no normalisation."
        ),
    )
