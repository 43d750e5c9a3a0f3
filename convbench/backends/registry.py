"""Backend registry: name -> module, imported lazily.

A missing framework never breaks ``import convbench``: a backend module imports its framework
inside its methods, and a module that fails to import yields an :class:`UnavailableBackend`
that says why. A new backend is one module and one line in ``_BACKENDS``.
"""

from __future__ import annotations

import importlib
import os

from convbench.backends.base import Backend, Case
from convbench.errors import ConvbenchError

# name -> "module:factory". The factory takes no arguments and returns a Backend.
_BACKENDS: dict[str, str] = {
    "torch": "convbench.backends.pytorch:TorchBackend",
    "jax": "convbench.backends.jax_xla:JaxBackend",
    "tf-xla": "convbench.backends.tf_xla:TfXlaBackend",
    "onednn": "convbench.backends.onednn:OneDNNBackend",
    "reference": "convbench.backends.reference:ReferenceBackend",
}


class UnavailableBackend:
    """Stands in for a backend whose module cannot be imported here; every case is
    answered ``unsupported`` with the import error as the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def unavailable_reason(self) -> str | None:
        return self._reason

    def versions(self) -> dict[str, str]:
        return {}

    def devices(self) -> list[str]:
        return []

    def algorithms(self, case: Case) -> list[str]:
        return ["default"]

    def unsupported_reason(self, case: Case) -> str | None:
        return self._reason

    def prepare(self, case, inputs):  # pragma: no cover - never called: always unsupported
        raise ConvbenchError(f"backend {self.name}: {self._reason}")


def _registry() -> dict[str, str]:
    """The built-in backends plus any named in ``CONVBENCH_BACKENDS``
    (``name=module:factory`` entries separated by commas): out-of-tree backends, and the
    fault-injection backends of the test suite. Read on each call, so worker processes see
    the same registry as the main process."""
    reg = dict(_BACKENDS)
    for item in os.environ.get("CONVBENCH_BACKENDS", "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            raise ConvbenchError(f"CONVBENCH_BACKENDS: expected name=module:factory, got {item!r}")
        reg[name.strip()] = target.strip()
    return reg


#: Backends a run without --backend leaves out: the reference kernels time every classic
#: algorithm (five per case), which is a study one asks for by name, not a stack to compare.
_OPT_IN = {"reference"}


def list_backends(default_only: bool = False) -> list[str]:
    """Registered backend names, in registry order (``default_only``: those a run without
    ``--backend`` uses)."""
    names = list(_registry())
    return [n for n in names if n not in _OPT_IN] if default_only else names


def get_backend(name: str) -> Backend:
    """Instantiate backend ``name``. Unknown names raise ConvbenchError; a module that fails
    to import gives an :class:`UnavailableBackend` carrying the reason."""
    reg = _registry()
    if name not in reg:
        raise ConvbenchError(f"backend: unknown backend {name!r} (known: {', '.join(reg)})")
    module, _, factory = reg[name].partition(":")
    try:
        mod = importlib.import_module(module)
        make = getattr(mod, factory)
    except (ImportError, AttributeError) as exc:
        return UnavailableBackend(name, f"cannot load {module}:{factory}: {exc}")
    return make()


def describe_backend(name: str) -> dict:
    """What ``convbench list backends`` says of one backend: availability and reason,
    versions, devices, and per device the dtypes x directions it accepts (asked of the
    backend with a small probe conv: 2D, 16 -> 16 channels, 3x3, 8x8)."""
    from convbench.workloads.spec import DIRECTIONS, DTYPES, ConvSpec

    backend = get_backend(name)
    reason = backend.unavailable_reason()
    out = {"name": name, "available": reason is None, "reason": reason or "", "devices": [], "versions": {},
           "supports": {}}
    if reason:
        return out
    try:
        out["versions"] = dict(backend.versions())
        out["devices"] = list(backend.devices())
    except Exception as exc:  # a broken install is still reported, not raised
        out.update(available=False, reason=f"{type(exc).__name__}: {exc}")
        return out
    probe = ConvSpec(in_channels=16, out_channels=16, input_size=(8, 8), kernel_size=3, padding=1)
    for device in out["devices"]:
        table = {}
        for dtype in DTYPES:
            for direction in DIRECTIONS:
                case = Case(probe, dtype, direction, "native", device, "default")
                try:
                    algos = backend.algorithms(case) or ["default"]
                    ok = any(backend.unsupported_reason(Case(probe, dtype, direction, "native", device, a)) is None
                             for a in algos)
                except Exception:
                    ok = False
                if ok:
                    table.setdefault(dtype, []).append(direction)
        out["supports"][device] = table
    return out
