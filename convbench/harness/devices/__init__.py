"""Device kinds: synchronisation, the timers each allows, cache flushing, environment capture.

One module per kind (``cpu``, ``cuda``); :func:`get_device` returns it by the part of a device
string before the colon (``cuda:1`` -> the cuda module). Each module provides:

* ``KIND``; ``available() -> str | None`` (None when present; else why not)
* ``list_devices() -> list[dict]`` (``id``, ``name``, ``memory_bytes``, ``driver``)
* ``device_name(device) -> str``
* ``timer_names() -> tuple[str, ...]`` (the timers this kind implements)
* ``default_timer(kernel_timers, cache) -> str``
* ``make_timer(name, kernel, device) -> Timer``
* ``make_flush(device) -> (callable, bytes)`` (cold-cache mode)
* ``environment(device) -> dict`` and ``warnings(device) -> list[str]``
* ``make_monitor(device)`` -> object with ``snapshot() -> dict`` and ``throttled() -> bool``
"""

from __future__ import annotations

import importlib
from types import ModuleType

from convbench.errors import ConvbenchError

#: device kind -> module. cpu and cuda are implemented; a new kind is one module and one line.
_KINDS = {"cpu": "convbench.harness.devices.cpu", "cuda": "convbench.harness.devices.cuda"}


def device_kinds() -> list[str]:
    """The device kinds convbench knows."""
    return list(_KINDS)


def get_device(device: str) -> ModuleType:
    """The module for ``device`` (``cpu``, ``cuda``, ``cuda:0``...)."""
    kind = device.split(":")[0]
    if kind not in _KINDS:
        raise ConvbenchError(f"device: unknown device {device!r} (known kinds: {', '.join(_KINDS)})")
    return importlib.import_module(_KINDS[kind])


def normalize_device(device: str) -> str:
    """``cuda`` -> ``cuda:0``; ``cpu`` stays; unknown kinds raise ConvbenchError."""
    get_device(device)
    kind, _, index = device.partition(":")
    if kind == "cpu" and index:
        raise ConvbenchError(f"device: {device!r}: the CPU device takes no index (use cpu; --threads sets the cores)")
    if index and not index.isdigit():
        raise ConvbenchError(f"device: {device!r}: the index must be a number, e.g. cuda:1")
    if device == "cuda":
        return "cuda:0"
    return device
