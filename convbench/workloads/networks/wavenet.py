"""WaveNet (van den Oord et al. 2016): a stack of causal dilated 1D convolutions.

The paper gives the structure (causal convs, gated activations, residual and skip 1x1 convs,
dilations doubling to 512 and repeating, a mu-law 256-class softmax output) but not every
size; convbench follows the sizes of the widely used reimplementations (e.g. ibab's
tensorflow-wavenet), stated here:

- input: one-hot mu-law samples, 256 channels, 16,000 samples (1 s at 16 kHz) by default;
- ``causal_conv``: kernel 2, 256 -> 32 residual channels, causal padding;
- 3 blocks x 10 layers, dilations 1, 2, 4, ..., 512 in each block. Layer ``n`` has
  ``layers.n.dilated``: kernel 2, causal padding ((kernel-1) x dilation on the left), 32 -> 64
  channels: the filter and gate convs of the gated unit computed as one conv with twice the
  outputs, then split (the usual implementation; the same MACs and parameters as two 32 -> 32
  convs); ``layers.n.residual``: 1x1, 32 -> 32; ``layers.n.skip``: 1x1, 32 -> 256;
- ``postprocess.conv1``: 1x1, 256 -> 256 over the summed skips; ``postprocess.conv2``: 1x1,
  256 -> 256 classes.

Every conv has a bias; there is no normalisation. The output length equals the input length
(every conv is causal or 1x1), and the receptive field of one block is 1 + sum of dilations =
1024 samples; of the whole stack 1 + 1 + 3 x 1023 = 3071.
"""

from __future__ import annotations

from convbench.workloads.networks import Network
from convbench.workloads.networks._common import LayerBuilder, resolve_resolution

__all__ = ["wavenet", "BLOCKS", "LAYERS_PER_BLOCK"]

#: Blocks of dilated layers, and layers per block (dilations 1 .. 2**(LAYERS_PER_BLOCK-1)).
BLOCKS = 3
LAYERS_PER_BLOCK = 10
_QUANTIZATION = 256
_RESIDUAL = 32
_DILATION = 32  # channels of the filter and of the gate
_SKIP = 256


def wavenet(batch: int = 1, resolution=None) -> Network:
    """WaveNet: 30 causal dilated layers (3 blocks of dilations 1..512), native 16,000 samples.

    ``resolution`` is the input length in samples (an int or a 1-tuple).
    """
    size = resolve_resolution(resolution, (16000,), "wavenet")
    b = LayerBuilder(batch=batch, channels=_QUANTIZATION, size=size)
    b.conv("causal_conv", _RESIDUAL, kernel=2, padding="causal")
    skips = []
    for n in range(BLOCKS * LAYERS_PER_BLOCK):
        d = 2 ** (n % LAYERS_PER_BLOCK)
        gated = b.fork()
        gated.conv(f"layers.{n}.dilated", 2 * _DILATION, kernel=2, dilation=d, padding="causal")
        gated.set(channels=_DILATION)  # tanh(filter) * sigmoid(gate)
        skip = gated.fork()
        gated.conv(f"layers.{n}.residual", _RESIDUAL, kernel=1)
        skip.conv(f"layers.{n}.skip", _SKIP, kernel=1)
        skips.append(skip)
        b.set(channels=gated.channels, size=gated.size)  # x + residual
    out = skips[-1]
    out.conv("postprocess.conv1", _SKIP, kernel=1)
    out.conv("postprocess.conv2", _QUANTIZATION, kernel=1)
    return b.network(
        "wavenet",
        source="van den Oord et al. 2016, 'WaveNet' (structure); sizes as in common "
               "reimplementations (ibab/tensorflow-wavenet): 32 residual, 32 dilation, 256 skip "
               "channels, 256 mu-law classes",
        description=(
            f"WaveNet, 1D, {size[0]} samples: causal conv 256->32 (k2), {BLOCKS} blocks x "
            f"{LAYERS_PER_BLOCK} gated layers (causal k2 dilated conv 32->64 = filter+gate, "
            "dilations 1..512; 1x1 residual 32->32; 1x1 skip 32->256), then 1x1 256->256 and "
            "1x1 256->256 classes. Receptive field 1024 samples per block, 3071 in all."
        ),
    )
