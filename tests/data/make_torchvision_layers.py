"""Generate tests/data/torchvision_layers.json: torchvision's layers, as executed, per model.

Run it in a throwaway venv outside the repository (torchvision does not import beside the
project's torch; see FACTS.md)::

    python3.11 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python tests/data/make_torchvision_layers.py [OUT.json]

For each model (``weights=None``, eval mode) one forward pass at batch 1, 3 x 224 x 224 on the
CPU runs with forward hooks on every ``nn.Conv*d``, ``nn.ConvTranspose*d`` and ``nn.Linear``.
Each hook call appends one row, in execution order, with the columns named in ``fields``:

- ``name``: the module path (``layer3.2.conv2``); ``type``: the module class name.
- ``in``, ``out``: in/out channels (conv) or in/out features (linear).
- ``input``: the spatial input size for a conv (``[H, W]``); for a linear the whole input
  shape (``[1, 4096]``, or ``[1, 56, 56, 96]`` for ConvNeXt's per-position linears).
- ``output``: the same for the output tensor.
- ``kernel``, ``stride``, ``padding``, ``dilation``, ``output_padding``: per spatial dim
  (null for a linear); ``padding`` is the module's attribute as torch stores it.
- ``groups`` (1 for a linear), ``bias`` (bool), ``padding_mode`` (null for a linear).
- ``params``: weights plus bias of that module; ``macs``: its forward multiply-accumulates
  (conv: output elements x in/groups x prod(kernel); transposed: input elements x
  out/groups x prod(kernel); linear: output elements x in_features).

``alt`` holds, per model, the same pass at ``alt_input`` (1 x 3 x 161 x 243, odd and not
square): per layer the columns ``alt_fields`` (name, input, output, macs) and the total MACs.
``smallest_square_input``: per model, one more than the largest side in 1..99 whose square
input torchvision refuses (every larger side in that range runs).

Per model ``totals``: ``params`` (every parameter), ``norm_params`` (BatchNorm*, LayerNorm and
its subclasses such as ConvNeXt's LayerNorm2d, GroupNorm), ``conv_linear_params`` (the hooked
modules' parameters), ``macs`` (the hooked modules' MACs). The file is written to a temporary
name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import models

INPUT = (1, 3, 224, 224)
#: A second, odd and non-square input, to check the spatial arithmetic (ceil-mode pools,
#: adaptive pools, odd sizes under stride 2) away from 224.
ALT_INPUT = (1, 3, 161, 243)
ALT_FIELDS = ["name", "input", "output", "macs"]
#: Square input sizes tried to find each model's smallest accepted input.
SQUARE_SIZES = range(1, 100)
MODELS: dict[str, dict] = {
    "alexnet": {},
    "vgg11": {},
    "vgg16": {},
    "vgg19": {},
    "googlenet": {"aux_logits": False, "init_weights": False},
    "resnet18": {},
    "resnet34": {},
    "resnet50": {},
    "resnet101": {},
    "resnet152": {},
    "resnext50_32x4d": {},
    "densenet121": {},
    "mobilenet_v2": {},
    "mobilenet_v3_large": {},
    "efficientnet_b0": {},
    "convnext_tiny": {},
}
FIELDS = [
    "name", "type", "in", "out", "input", "output", "kernel", "stride", "padding", "dilation",
    "output_padding", "groups", "bias", "padding_mode", "params", "macs",
]
CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def _row(name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list:
    if isinstance(module, nn.Linear):
        return [
            name, type(module).__name__, module.in_features, module.out_features,
            list(x.shape), list(y.shape), None, None, None, None, None, 1,
            module.bias is not None, None, _count(module), y.numel() * module.in_features,
        ]
    transposed = isinstance(module, nn.modules.conv._ConvTransposeNd)
    k = math.prod(module.kernel_size)
    if transposed:
        macs = x.numel() * (module.out_channels // module.groups) * k
    else:
        macs = y.numel() * (module.in_channels // module.groups) * k
    padding = module.padding if isinstance(module.padding, str) else list(module.padding)
    return [
        name, type(module).__name__, module.in_channels, module.out_channels,
        list(x.shape[2:]), list(y.shape[2:]), list(module.kernel_size), list(module.stride),
        padding, list(module.dilation), list(module.output_padding), module.groups,
        module.bias is not None, module.padding_mode, _count(module), macs,
    ]


def trace(arch: str, kwargs: dict, shape: tuple[int, ...] = INPUT) -> dict:
    """Build ``arch`` with random weights and record its hooked layers on one forward pass
    of an input of ``shape``."""
    torch.manual_seed(0)
    model = getattr(models, arch)(weights=None, **kwargs).eval()
    rows: list[list] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, CONV_TYPES + (nn.Linear,)):
            handles.append(
                module.register_forward_hook(
                    lambda m, args, out, name=name: rows.append(_row(name, m, args[0], out))
                )
            )
    with torch.no_grad():
        model(torch.randn(shape))
    for h in handles:
        h.remove()
    norm = sum(_count(m) for m in model.modules() if isinstance(m, NORM_TYPES))
    hooked = sum(_count(m) for m in model.modules() if isinstance(m, CONV_TYPES + (nn.Linear,)))
    totals = {
        "params": sum(p.numel() for p in model.parameters()),
        "norm_params": norm,
        "conv_linear_params": hooked,
        "macs": sum(r[-1] for r in rows),
    }
    return {"kwargs": kwargs, "totals": totals, "layers": rows}


def trace_alt(arch: str, kwargs: dict) -> dict:
    """Input and output sizes and MACs per layer at ``ALT_INPUT`` (the columns ``ALT_FIELDS``)."""
    full = trace(arch, kwargs, ALT_INPUT)
    cols = [FIELDS.index(f) for f in ALT_FIELDS]
    return {
        "macs": full["totals"]["macs"],
        "layers": [[row[c] for c in cols] for row in full["layers"]],
    }


def smallest_square_input(arch: str, kwargs: dict) -> int:
    """1 + the largest side in ``SQUARE_SIZES`` whose square input the model refuses."""
    torch.manual_seed(0)
    model = getattr(models, arch)(weights=None, **kwargs).eval()
    refused = 0
    for side in SQUARE_SIZES:
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, side, side))
        except RuntimeError:
            refused = side
    return refused + 1


def render(data: dict) -> str:
    """Compact JSON with one layer per line (small, and readable in a diff)."""
    dump = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    out = ["{"]
    out.append(f'"generator":{dump(data["generator"])},')
    out.append(f'"input":{dump(data["input"])},')
    out.append(f'"fields":{dump(data["fields"])},')
    out.append('"models":{')
    names = list(data["models"])
    for i, arch in enumerate(names):
        m = data["models"][arch]
        out.append(f'{dump(arch)}:{{"kwargs":{dump(m["kwargs"])},"totals":{dump(m["totals"])},"layers":[')
        out.append(",\n".join(dump(r) for r in m["layers"]))
        out.append("]}" + ("," if i < len(names) - 1 else ""))
    out.append("},")
    out.append(f'"alt_input":{dump(data["alt_input"])},')
    out.append(f'"alt_fields":{dump(data["alt_fields"])},')
    out.append('"alt":{')
    for i, arch in enumerate(names):
        m = data["alt"][arch]
        out.append(f'{dump(arch)}:{{"macs":{m["macs"]},"layers":{dump(m["layers"])}}}'
                   + ("," if i < len(names) - 1 else ""))
    out.append("},")
    out.append(f'"smallest_square_input":{dump(data["smallest_square_input"])}')
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("torchvision_layers.json")
    data = {
        "generator": {
            "script": "tests/data/make_torchvision_layers.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
        "input": list(INPUT),
        "fields": FIELDS,
        "models": {arch: trace(arch, kw) for arch, kw in MODELS.items()},
        "alt_input": list(ALT_INPUT),
        "alt_fields": ALT_FIELDS,
        "alt": {arch: trace_alt(arch, kw) for arch, kw in MODELS.items()},
        "smallest_square_input": {arch: smallest_square_input(arch, kw) for arch, kw in MODELS.items()},
    }
    text = render(data)
    json.loads(text)  # the file must parse before it replaces anything
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    for arch, m in data["models"].items():
        t = m["totals"]
        print(f"{arch:20s} layers={len(m['layers']):4d} params={t['params']:>10,d} "
              f"conv+linear={t['conv_linear_params']:>10,d} norm={t['norm_params']:>8,d} "
              f"GMACs={t['macs'] / 1e9:.3f}")
    print(f"wrote {target} ({target.stat().st_size:,d} bytes)")


if __name__ == "__main__":
    main(sys.argv)
