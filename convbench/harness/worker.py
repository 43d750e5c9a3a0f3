"""The worker: one process per backend that verifies and times cases, and returns rows.

The main process (:mod:`convbench.harness.runner`) sends :class:`PlannedCase` objects through a
pipe and receives one row (a dict of schema columns) per case. Anything that goes wrong inside
a case becomes that case's row: ``unsupported`` (the stack says it cannot), ``wrong`` (result
outside tolerance: never timed), ``oom``, ``error``. A worker that dies or hangs is the runner's
business (``crashed``/``timeout`` rows, then a fresh worker).

:func:`run_case` is also usable in-process (tests, benchmarks): it needs only a backend object.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from convbench.backends.base import UnsupportedCase, kernel_extra
from convbench.harness.plan import PlannedCase
from convbench.harness.timing import StoppingRule, measure
from convbench.results.schema import Status, empty_row


@dataclass(frozen=True)
class Settings:
    """What every case of a run shares (the CLI's timing and input options)."""

    rule: StoppingRule = field(default_factory=StoppingRule)
    seed: int = 0
    distribution: str = "int"
    run_id: str = ""


class _InputCache:
    """Inputs and oracle results of the last few shapes (a plan visits a shape for several
    dtypes and directions in a row)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._inputs: dict = {}
        self._ref: dict = {}

    def inputs(self, spec, seed, distribution):
        from convbench.harness.inputs import make_inputs

        key = (spec.shape_key(), seed, distribution)
        if key not in self._inputs:
            if len(self._inputs) >= self._size:
                self._inputs.pop(next(iter(self._inputs)))
            self._inputs[key] = make_inputs(spec, seed=seed, distribution=distribution)
        return self._inputs[key]

    def reference(self, spec, direction, inputs, seed, distribution):
        from convbench.harness.oracle import magnitude, reference

        key = (spec.shape_key(), direction, seed, distribution)
        if key not in self._ref:
            if len(self._ref) >= self._size:
                self._ref.pop(next(iter(self._ref)))
            self._ref[key] = (reference(spec, direction, inputs), magnitude(spec, direction, inputs))
        return self._ref[key]


def repro_command(pc: PlannedCase, settings: Settings | None = None) -> str:
    """A command line that reruns this case alone, with the same inputs (every user-given
    value shell-quoted)."""
    c = pc.case
    parts = [
        "convbench", "run", "--workload", pc.descriptor, "--backend", pc.backend,
        "--algorithm", c.algorithm, "--dtype", c.dtype, "--direction", c.direction,
        "--layout", c.layout, "--device", c.device, "--cache", pc.cache,
    ]
    if pc.timer != "default":
        parts += ["--timer", pc.timer]
    if c.threads:
        parts += ["--threads", str(c.threads)]
    if settings is not None and settings.seed:
        parts += ["--seed", str(settings.seed)]
    if settings is not None and settings.distribution != "int":
        parts += ["--inputs", settings.distribution]
    return " ".join(shlex.quote(p) for p in parts)


def base_row(pc: PlannedCase, settings: Settings, device_name: str = "") -> dict:
    """A row with the case's identity and work filled in; outcome and time unset."""
    c, spec = pc.case, pc.case.spec
    flops = spec.flops(c.direction)
    nbytes = spec.bytes(c.dtype)
    row = empty_row()
    row.update(
        run_id=settings.run_id, case_id=pc.case_id, started_at=datetime.now(timezone.utc),
        workload=pc.descriptor, network=pc.workload.network, layer=",".join(pc.workload.layers) or spec.name,
        count=pc.workload.count, dims=spec.dims, kind=spec.kind,
        backend=pc.backend, backend_version="", algorithm=c.algorithm, algorithm_requested=c.algorithm,
        device=c.device, device_name=device_name, dtype=c.dtype, direction=c.direction, layout=c.layout,
        layout_requested=c.layout, cache=pc.cache, timer=pc.timer, timer_requested=pc.timer, threads=c.threads, repeat=pc.repeat,
        flops=flops, bytes=nbytes, intensity_flop_per_byte=flops / nbytes,
        repro=repro_command(pc, settings), extra="{}", throttled=False, reason="",
    )
    return row


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    text = str(exc).lower()
    return "OutOfMemory" in name or "out of memory" in text or "resource_exhausted" in text or "oom" == text


def _json_safe(d: dict) -> str:
    def conv(v):
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return str(v)

    return json.dumps(conv(d), sort_keys=True)


def run_case(backend, pc: PlannedCase, settings: Settings, cache: _InputCache | None = None,
             versions: dict | None = None) -> dict:
    """Verify, then time one case through ``backend``; always returns a row."""
    from convbench.harness.devices import get_device

    cache = cache or _InputCache()
    case = pc.case
    dev = get_device(case.device)
    try:
        device_name = dev.device_name(case.device) if dev.available() is None else ""
    except Exception:
        device_name = ""
    row = base_row(pc, settings, device_name)
    versions = versions if versions is not None else _safe_versions(backend)
    row["backend_version"] = _main_version(pc.backend, versions)

    def finish(status: Status, reason: str = "") -> dict:
        row["status"] = status.value
        row["reason"] = reason
        return row

    reason = backend.unavailable_reason()
    if reason:
        return finish(Status.UNSUPPORTED, reason)
    reason = dev.available()
    if reason:
        return finish(Status.UNSUPPORTED, f"device {case.device}: {reason}")
    kernel = timer = None
    try:
        reason = backend.unsupported_reason(case)
        if reason:
            return finish(Status.UNSUPPORTED, reason)
        inputs = cache.inputs(case.spec, settings.seed, settings.distribution)
        expected, mag = cache.reference(case.spec, case.direction, inputs, settings.seed, settings.distribution)
        t0 = time.perf_counter()
        kernel = backend.prepare(case, inputs)
        kernel.synchronize()
        prepare_s = time.perf_counter() - t0
        setup_s = getattr(kernel, "setup_s", None)
        row["setup_s"] = float(setup_s) if setup_s is not None else prepare_s
        row["algorithm"] = getattr(kernel, "algorithm", None) or case.algorithm
        row["layout"] = getattr(kernel, "layout", None) or case.layout
        extra = kernel_extra(kernel)
        row["extra"] = _json_safe(extra)

        from convbench.harness.verify import verify

        result = np.asarray(kernel.result())
        v = verify(result, case, inputs, algorithm=row["algorithm"], expected=expected, magnitude=mag,
                   spread=getattr(kernel, "error_spread", None), tile=getattr(kernel, "error_tile", None))
        row["max_abs_error"] = float(v.max_abs_error)
        row["max_rel_error"] = float(v.max_rel_error)
        row["error_bound_ratio"] = float(v.error_bound_ratio)
        if not v.ok:
            return finish(Status.WRONG, v.message or "result outside tolerance")

        allowed = list(kernel.timers())
        name = pc.timer
        if name == "default":
            name = dev.default_timer(allowed, pc.cache)
        elif name not in allowed:
            return finish(Status.UNSUPPORTED, f"timer {name!r} is not available for this kernel "
                                              f"(it allows: {', '.join(allowed)})")
        row["timer"] = name
        timer = dev.make_timer(name, kernel, case.device)
        flush = None
        if pc.cache == "cold" and timer.launches > 1:
            # the flush runs between samples: every launch of a batch after the first is hot
            return finish(Status.UNSUPPORTED, f"timer {name!r} times {timer.launches} launches per sample; "
                                              "a cold cache needs one launch per sample")
        if pc.cache == "cold":
            flush, flush_bytes = dev.make_flush(case.device)
            extra["flush_bytes"] = flush_bytes
        monitor = dev.make_monitor(case.device)
        before = monitor.snapshot()
        m = measure(timer, settings.rule, flush=flush, throttle_check=monitor.throttled)
        after = monitor.snapshot()
        if before or after:
            extra["device_before"] = before
            extra["device_after"] = after
        throttled = m.throttled or bool(before.get("throttle_names")) or bool(after.get("throttle_names"))
        s = m.summary
        row.update(
            time_median_s=s.median_s, time_min_s=s.min_s, time_q1_s=s.q1_s, time_q3_s=s.q3_s,
            time_ci_low_s=s.ci_low_s, time_ci_high_s=s.ci_high_s, noise_rel=m.noise_rel,
            samples=len(m.samples_s), samples_s=list(m.samples_s), launches_per_sample=m.launches_per_sample,
            target_reached=m.target_reached, stop_reason=m.stop_reason, throttled=throttled,
            tflops=row["flops"] / s.median_s / 1e12 if s.median_s > 0 else math.nan,
            bandwidth_gb_per_s=row["bytes"] / s.median_s / 1e9 if s.median_s > 0 else math.nan,
        )
        extra.update(warmup_launches=m.warmup_launches, warmup_s=round(m.warmup_s, 6),
                     dropped_samples=m.dropped_samples)
        row["extra"] = _json_safe(extra)
        return finish(Status.OK)
    except UnsupportedCase as exc:
        return finish(Status.UNSUPPORTED, str(exc) or type(exc).__name__)
    except BaseException as exc:  # a case's failure is its row, never the run's
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        status = Status.OOM if _is_oom(exc) else Status.ERROR
        if os.environ.get("CONVBENCH_DEBUG"):
            traceback.print_exc()
        return finish(status, _one_line(exc))
    finally:
        for obj in (timer, kernel):
            close = getattr(obj, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass


def _safe_versions(backend) -> dict:
    try:
        return dict(backend.versions())
    except Exception as exc:
        return {"error": _one_line(exc)}


def _main_version(name: str, versions: dict) -> str:
    for key in (name, {"tf-xla": "tensorflow", "reference": "convbench", "onednn": "onednn"}.get(name, name)):
        if key in versions:
            return str(versions[key])
    return str(next(iter(versions.values()), "")) if versions else ""


def configure_process(threads: int) -> None:
    """Thread settings that must precede any framework import: OpenMP/MKL/BLAS thread
    counts and CPU affinity to the first ``threads`` CPUs (0: leave the machine's default)."""
    if threads and threads > 0:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
            os.environ[var] = str(threads)
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
        if hasattr(os, "sched_getaffinity"):
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) > threads:
                os.sched_setaffinity(0, cpus[:threads])
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def worker_main(conn, backend_name: str, settings: Settings, threads: int) -> None:
    """Entry point of a worker process (spawned). Ignores SIGINT: Ctrl-C is the main
    process's to handle, and the case in flight is simply abandoned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_process(threads)
    from convbench.backends.registry import get_backend

    backend = get_backend(backend_name)
    versions = _safe_versions(backend)
    try:
        devices = backend.devices() if not backend.unavailable_reason() else []
    except Exception:
        devices = []
    conn.send({"op": "ready", "versions": versions, "devices": devices,
               "unavailable_reason": backend.unavailable_reason()})
    cache = _InputCache()
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg.get("op") == "exit":
            return
        if msg.get("op") == "case":
            row = run_case(backend, msg["case"], settings, cache, versions)
            conn.send({"op": "row", "row": row})
