"""Network registry: name -> builder, imported lazily.

A network is one builder function in one module of this package, and one line in
``_REGISTRY`` below. A builder takes ``batch`` and ``resolution`` (None: the network's native
input size) and returns a :class:`Network` whose ``layers`` are every layer that carries weights,
in execution order, with its layer path as ``name``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec


@dataclass(frozen=True)
class Network:
    """A network's weight-carrying layers at one batch size and input resolution.

    ``resolution`` is the spatial input size (a tuple, one entry per spatial dim).
    ``norm_params`` counts normalisation parameters (BatchNorm/LayerNorm affine weights),
    which ``params`` leaves out. ``source`` says which definition the layers follow.
    """

    name: str
    layers: tuple[ConvSpec, ...]
    batch: int
    resolution: tuple[int, ...]
    norm_params: int = 0
    source: str = ""
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    @property
    def params(self) -> int:
        """Weights and biases of every conv and linear layer (count; norms excluded)."""
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        """Forward multiply-accumulates of all layers for the whole batch."""
        return sum(layer.macs for layer in self.layers)

    def flops(self, direction: str = "fwd") -> int:
        """Forward (or dgrad/wgrad) FLOP of all layers for the whole batch (2 per MAC)."""
        return sum(layer.flops(direction) for layer in self.layers)


# name -> (module, builder function). Names are torchvision's where torchvision has the network.
_REGISTRY: dict[str, tuple[str, str]] = {
    "alexnet": ("alexnet", "alexnet"),
    "alexnet_caffe": ("alexnet", "alexnet_caffe"),
    "vgg11": ("vgg", "vgg11"),
    "vgg16": ("vgg", "vgg16"),
    "vgg19": ("vgg", "vgg19"),
    "googlenet": ("googlenet", "googlenet"),
    "resnet18": ("resnet", "resnet18"),
    "resnet34": ("resnet", "resnet34"),
    "resnet50": ("resnet", "resnet50"),
    "resnet101": ("resnet", "resnet101"),
    "resnet152": ("resnet", "resnet152"),
    "resnext50_32x4d": ("resnet", "resnext50_32x4d"),
    "densenet121": ("densenet", "densenet121"),
    "mobilenet_v1": ("mobilenet", "mobilenet_v1"),
    "mobilenet_v2": ("mobilenet", "mobilenet_v2"),
    "mobilenet_v3_large": ("mobilenet", "mobilenet_v3_large"),
    "efficientnet_b0": ("efficientnet", "efficientnet_b0"),
    "convnext_tiny": ("convnext", "convnext_tiny"),
    "wavenet": ("wavenet", "wavenet"),
    "deeplabv3_aspp": ("deeplab", "deeplabv3_aspp"),
    "unet": ("unet", "unet"),
    "c3d": ("video3d", "c3d"),
    "unet3d": ("video3d", "unet3d"),
}
_ALIASES: dict[str, str] = {
    "resnet-50": "resnet50",
    "rn50": "resnet50",
    "vgg-16": "vgg16",
    "inception_v1": "googlenet",
    "mobilenetv1": "mobilenet_v1",
    "mobilenetv2": "mobilenet_v2",
    "mobilenetv3": "mobilenet_v3_large",
    "efficientnet-b0": "efficientnet_b0",
    "convnext-t": "convnext_tiny",
    "densenet-121": "densenet121",
    "resnext50": "resnext50_32x4d",
    "aspp": "deeplabv3_aspp",
}


def list_networks() -> list[str]:
    """Registered network names, in registry order."""
    return list(_REGISTRY)


def canonical_name(name: str) -> str:
    """The registry name for ``name`` or an alias (case-insensitive); ConvbenchError if unknown."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ConvbenchError(
            f"network: unknown network {name!r} (known: {', '.join(_REGISTRY)})"
        )
    return key


def get_network(name: str, batch: int = 1, resolution=None) -> Network:
    """Build network ``name`` at ``batch`` and ``resolution`` (None: its native input size).

    ``resolution`` may be an int (square / cube / length) or a tuple per spatial dim.
    """
    key = canonical_name(name)
    module, func = _REGISTRY[key]
    builder = getattr(importlib.import_module(f"{__name__}.{module}"), func)
    if not isinstance(batch, int) or batch < 1:
        raise ConvbenchError(f"batch: must be a positive integer, got {batch!r}")
    return builder(batch=batch, resolution=resolution)
