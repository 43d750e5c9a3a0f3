"""What ``convbench show TARGET`` shows: a network, a suite, a workload file or a descriptor."""

from __future__ import annotations

import os

from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec


def resolve_target(target: str, batch=None, resolution=None, strict=False, on_error=None
                   ) -> tuple[str, list[ConvSpec], list[int] | None]:
    """(title, specs, counts or None). Tried in order: network name, suite name, an existing
    file, a descriptor. ``batch`` overrides the batch of suites, files and descriptors."""
    from convbench.workloads import get_network, get_suite, list_suites, load
    from convbench.workloads.networks import canonical_name

    try:
        canonical_name(target)
        is_network = True
    except ConvbenchError:
        is_network = False
    if is_network:
        net = get_network(target, batch=batch or 1, resolution=resolution)
        res = "x".join(map(str, net.resolution))
        title = f"{net.name}: batch {net.batch}, input {res}" + (f" ({net.source})" if net.source else "")
        return title, list(net.layers), None
    names = set(list_suites())
    if target in names or target.startswith("net:"):
        suite = get_suite(target, batch=batch)
        return f"suite {suite.name}: {suite.description}", [e.spec for e in suite.entries], [e.count for e in suite.entries]
    if os.path.exists(target):
        entries = load(target, strict=strict, on_error=on_error)
        specs = [e.spec.with_(batch=batch) if batch else e.spec for e in entries]
        return f"file {target}", specs, [e.count for e in entries]
    from convbench.workloads.descriptor import parse_entry

    looks_like_descriptor = any(ch.isdigit() for ch in target)
    if not looks_like_descriptor:
        raise ConvbenchError(
            f"show: {target!r} is not a network, suite, file or descriptor "
            f"(networks: convbench list networks; suites: convbench list suites)"
        )
    spec, count = parse_entry(target)
    if batch:
        spec = spec.with_(batch=batch)
    return f"descriptor {spec}", [spec], [count]
