"""Workloads: conv layer shapes and every figure derived from them.

Public API: :class:`ConvSpec`, :func:`parse` (descriptor -> ConvSpec), :func:`load` (workload
and benchdnn batch files), :func:`get_network` / :func:`list_networks`, :func:`get_suite` /
:func:`list_suites`, :func:`receptive_field`, :func:`effective_stride`.
"""

from convbench.workloads.networks import Network, get_network, list_networks
from convbench.workloads.spec import DIRECTIONS, DTYPES, ConvSpec, effective_stride, receptive_field

__all__ = [
    "ConvSpec", "Network", "parse", "load", "get_network", "list_networks", "get_suite", "list_suites",
    "receptive_field", "effective_stride", "DTYPES", "DIRECTIONS",
]


def parse(descriptor: str) -> ConvSpec:
    """Parse one descriptor (convbench's or benchdnn's) into a ConvSpec."""
    from convbench.workloads.descriptor import parse as _parse

    return _parse(descriptor)


def load(path_or_text, strict: bool = False, on_error=None, on_warning=None):
    """Load a convbench workload file or a benchdnn batch file (see workloads.io.load)."""
    from convbench.workloads.io import load as _load

    return _load(path_or_text, strict=strict, on_error=on_error, on_warning=on_warning)


def get_suite(name: str, batch=None):
    """A named suite (quick, standard, or a network's de-duplicated layers)."""
    from convbench.workloads.suites import get_suite as _get_suite

    return _get_suite(name, batch=batch)


def list_suites() -> list[str]:
    from convbench.workloads.suites import list_suites as _list_suites

    return _list_suites()
