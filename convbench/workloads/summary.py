"""Per-layer figures of a list of shapes, as plain rows (for ``convbench show`` and reports)."""

from __future__ import annotations

from typing import Iterable, Sequence

from convbench.workloads.spec import ConvSpec


def layer_rows(specs: Iterable[ConvSpec], dtypes: Sequence[str] = ("fp32",), direction: str = "fwd",
               counts: Sequence[int] | None = None) -> list[dict]:
    """One dict per layer: name, descriptor, shapes, params, MACs, FLOP, and per dtype the
    bytes moved and the intensity (FLOP/byte). ``counts`` (optional) multiplies nothing: it is
    reported as is (how often the shape occurs)."""
    rows = []
    for i, spec in enumerate(specs):
        row = {
            "layer": spec.name, "kind": spec.kind, "descriptor": str(spec.with_(name="")),
            "input": "x".join(map(str, spec.input_shape)), "output": "x".join(map(str, spec.output_shape)),
            "kernel": "x".join(map(str, spec.kernel_size)), "stride": "x".join(map(str, spec.stride)),
            "groups": spec.groups, "params": spec.params, "macs": spec.macs, "flops": spec.flops(direction),
        }
        if counts is not None:
            row["count"] = counts[i]
        for dt in dtypes:
            row[f"bytes_{dt}"] = spec.bytes(dt)
            row[f"intensity_{dt}_flop_per_byte"] = spec.intensity(dt, direction)
        rows.append(row)
    return rows


def totals(specs: Iterable[ConvSpec], counts: Sequence[int] | None = None, direction: str = "fwd") -> dict:
    """Totals over layers (weighted by ``counts`` when given): params, MACs, FLOP."""
    specs = list(specs)
    counts = list(counts) if counts is not None else [1] * len(specs)
    return {
        "layers": sum(counts),
        "params": sum(s.params * c for s, c in zip(specs, counts)),
        "macs": sum(s.macs * c for s, c in zip(specs, counts)),
        "flops": sum(s.flops(direction) * c for s, c in zip(specs, counts)),
    }
