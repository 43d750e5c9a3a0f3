"""The plan: workloads x backends x algorithms x dtypes x directions x layouts x devices x repeats.

A :class:`PlannedCase` is one row-to-be. Its ``case_id`` is a stable hash of the shape (not
its layer name) and the case's fields, so ``--resume`` and ``--shard I/N`` are deterministic
across machines and Python versions. Equal shapes within one plan are one case with ``count``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from convbench.backends.base import Case
from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec, check_direction, check_dtype


@dataclass(frozen=True)
class Workload:
    """A shape to run, with how often it occurs and where it came from.

    ``directions``/``dtypes``/``layouts``, when not empty, pin what this shape runs (a
    benchdnn file's ``--dir=``/``--dt=`` lines) instead of the run's lists.
    """

    spec: ConvSpec
    count: int = 1
    network: str = ""
    layers: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedCase:
    """One case of the plan: what a backend runs (``case``) plus the row's identity."""

    case: Case
    backend: str
    workload: Workload
    cache: str = "hot"
    timer: str = "default"
    repeat: int = 0

    @property
    def descriptor(self) -> str:
        """The shape's descriptor without its layer name."""
        return str(self.case.spec.with_(name=""))

    @property
    def case_id(self) -> str:
        """16 hex digits of SHA-256 over the shape and every field that defines the case."""
        c = self.case
        key = "|".join(str(v) for v in (
            self.descriptor, self.backend, c.algorithm, c.dtype, c.direction, c.layout, c.device,
            c.threads, self.cache, self.timer, self.repeat,
        ))
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def merge_workloads(workloads: Iterable[Workload]) -> list[Workload]:
    """Equal shapes (names ignored) become one workload: counts add, layer names collect,
    first occurrence keeps its place and network."""
    merged: dict[tuple, Workload] = {}
    for w in workloads:
        key = (w.spec.shape_key(), w.directions, w.dtypes, w.layouts)
        if key in merged:
            m = merged[key]
            layers = m.layers + tuple(n for n in w.layers if n not in m.layers)
            network = m.network if w.network in ("", m.network) else f"{m.network},{w.network}"
            merged[key] = Workload(m.spec, m.count + w.count, network, layers, m.directions, m.dtypes, m.layouts)
        else:
            merged[key] = w
    return list(merged.values())


def expand_timers(timers: Sequence[str], devices: Sequence[str]) -> tuple[str, ...]:
    """The run's timer list: ``all`` means every timer the devices implement (then the timer
    is part of each case's identity); empty means ``default``."""
    timers = tuple(timers) or ("default",)
    if "all" not in timers:
        return timers
    from convbench.harness.devices import get_device

    return tuple(dict.fromkeys(t for d in (tuple(devices) or ("cpu",)) for t in get_device(d).timer_names()))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> (I, N) with 1 <= I <= N; None passes through."""
    if text is None:
        return None
    try:
        i, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise ConvbenchError(f"shard: expected I/N such as 1/4, got {text!r}") from None
    if not 1 <= i <= n:
        raise ConvbenchError(f"shard: need 1 <= I <= N, got {text!r}")
    return i, n


def take_shard(cases: Sequence[PlannedCase], shard: tuple[int, int] | None) -> list[PlannedCase]:
    """The I-th of N disjoint slices: sort by case_id, every N-th case from position I,
    then restore plan order. Balanced, and the same on every machine."""
    if shard is None:
        return list(cases)
    i, n = shard
    by_id = sorted(cases, key=lambda pc: pc.case_id)
    chosen = {pc.case_id for pc in by_id[i - 1::n]}
    return [pc for pc in cases if pc.case_id in chosen]


def build_plan(
    workloads: Sequence[Workload],
    backends: Sequence[str],
    dtypes: Sequence[str] = ("fp32",),
    directions: Sequence[str] = ("fwd",),
    layouts: Sequence[str] = ("native",),
    devices: Sequence[str] = ("cpu",),
    algorithms: Sequence[str] | None = None,
    algorithms_of: Callable[[str, Case], list[str]] | None = None,
    caches: Sequence[str] = ("hot",),
    timers: Sequence[str] = ("default",),
    repeats: int = 1,
    threads: int = 0,
) -> list[PlannedCase]:
    """Expand the product in a stable order (workload, backend, algorithm, dtype, direction,
    layout, device, cache, timer, repeat).

    ``algorithms``: the user's request (None: every algorithm the backend lists for the case,
    through ``algorithms_of(backend, case)``; ``winograd`` selects every Winograd variant).
    Unsupported combinations stay in the plan: the worker answers them with a reason.
    """
    for d in dtypes:
        check_dtype(d)
    for d in directions:
        check_direction(d)
    for c in caches:
        if c not in ("hot", "cold"):
            raise ConvbenchError(f"cache: expected hot or cold, got {c!r}")
    known_timers = _known_timers()
    for t in timers:
        if t not in known_timers:
            raise ConvbenchError(f"timer: unknown timer {t!r} (known: {', '.join(known_timers)})")
    if repeats < 1:
        raise ConvbenchError(f"repeat: must be >= 1, got {repeats}")
    plan: list[PlannedCase] = []
    seen: dict[str, int] = {}  # case_id -> index in plan
    for wl in merge_workloads(workloads):
        for backend in backends:
            for dtype in wl.dtypes or dtypes:
                for direction in wl.directions or directions:
                    for layout in wl.layouts or layouts:
                        for device in devices:
                            base = Case(wl.spec, dtype, direction, layout, device, "default", threads)
                            for algo in _algorithms(backend, base, algorithms, algorithms_of):
                                case = Case(wl.spec, dtype, direction, layout, device, algo, threads)
                                for cache in caches:
                                    for timer in timers:
                                        for r in range(repeats):
                                            pc = PlannedCase(case, backend, wl, cache, timer, r)
                                            if pc.case_id not in seen:
                                                seen[pc.case_id] = len(plan)
                                                plan.append(pc)
                                            else:  # the same case reached twice (a pinned and an
                                                # unpinned copy of one shape): one case, counts add
                                                i = seen[pc.case_id]
                                                old = plan[i].workload
                                                layers = old.layers + tuple(n for n in wl.layers if n not in old.layers)
                                                plan[i] = replace(plan[i], workload=replace(
                                                    old, count=old.count + wl.count, layers=layers))
    return plan


def _known_timers() -> tuple[str, ...]:
    """``default`` and every timer some device kind implements (a timer that this case's
    device lacks is an ``unsupported`` row; a name no device knows is a user error)."""
    from convbench.harness.devices import device_kinds, get_device

    names = ["default"]
    for kind in device_kinds():
        names += [t for t in get_device(kind).timer_names() if t not in names]
    return tuple(names)


def _algorithms(backend, case, requested, algorithms_of) -> list[str]:
    listed = algorithms_of(backend, case) if algorithms_of else ["default"]
    if not requested:
        return listed or ["default"]
    out: list[str] = []
    for a in requested:
        matches = [x for x in listed if x == a or x.startswith(a + "-")] if a not in ("default",) else []
        for m in matches or [a]:
            if m not in out:
                out.append(m)
    return out


def workloads_from(
    suites: Sequence[str] = (),
    networks: Sequence[str] = (),
    descriptors: Sequence[str] = (),
    files: Sequence[str] = (),
    batch: int | None = None,
    resolution=None,
    strict: bool = False,
    on_error=None,
) -> list[Workload]:
    """Resolve what a user asked to run into workloads (in the order asked).

    ``batch`` overrides every shape's batch (networks are rebuilt at that batch);
    ``resolution`` applies to networks. Files are convbench workload files or benchdnn batch
    files; bad lines are reported through ``on_error`` (or stop the run with ``strict``).
    """
    from convbench.workloads import get_network, get_suite, load

    out: list[Workload] = []

    def rebatch(spec: ConvSpec) -> ConvSpec:
        return spec.with_(batch=batch) if batch else spec

    for name in networks:
        net = get_network(name, batch=batch or 1, resolution=resolution)
        out += [Workload(s, 1, net.name, (s.name,) if s.name else ()) for s in net.layers]
    for name in suites:
        suite = get_suite(name, batch=batch)
        for e in suite.entries:
            out.append(Workload(rebatch(e.spec), e.count, e.network or suite.name, tuple(e.layers)))
    for text in descriptors:
        from convbench.workloads.descriptor import parse_entry

        spec, count = parse_entry(text)
        out.append(Workload(rebatch(spec), count, "", (spec.name,) if spec.name else ()))
    for path in files:
        for e in load(path, strict=strict, on_error=on_error, on_warning=on_error):
            out.append(Workload(
                rebatch(e.spec), e.count, str(path), (e.spec.name,) if e.spec.name else (),
                (e.direction,) if e.direction else (), (e.dtype,) if e.dtype else (),
                (e.layout,) if getattr(e, "layout", None) else (),
            ))
    return out
