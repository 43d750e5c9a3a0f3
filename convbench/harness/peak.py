"""Measured roofs: the best GEMM throughput per dtype and a streaming copy's bandwidth.

``convbench peak`` runs :func:`measure_peaks` and stores the result in the user's cache
(:func:`save_peaks`); every later ``convbench run`` on that device copies the newest entry
for its thread count into ``run.json["peaks"]`` (:func:`latest_peaks`), so reports read the
roofs from the run itself.

A roof is a maximum (DESIGN, Settled details: Peaks): per dtype, the fastest sample over
repeated trials of every GEMM at hand, each timed with the harness's timers (``wall`` on the
CPU, ``cuda-graph`` on CUDA, ``cuda-event-batch`` where a graph cannot be captured):

* ``torch.mm`` at several square sizes (fp32, tf32, fp16, bf16) and ``torch._int_mm`` (int8,
  int32 accumulation);
* 1x1 convolutions through each available backend of the device (``torch``, ``onednn``):
  a 1x1 convolution is a GEMM (M = batch x positions, N = out channels, K = in channels), and
  it reaches the vendor library's best GEMM kernel (on one core here MKL's sgemm sat about
  10% under what oneDNN's fp32 convolution reached). On the CPU a small one joins a large
  one: on a shared machine only a launch shorter than a scheduler time slice shows the
  cores' undisturbed rate (a 50 ms GEMM never runs a whole sample undisturbed there).

Bandwidth is a device-to-same-device copy of a buffer several times the last-level cache,
counting the bytes read plus the bytes written. Measurements run in a spawned process with
the runs' thread settings (OpenMP/MKL threads and CPU affinity set before torch loads), so
the caller's process state is untouched.

Entry (the design's dict)::

    {"device": "cpu", "device_name": ..., "host": ..., "threads": 2,
     "compute_flop_per_s": {"fp32": ..., "bf16": ...}, "memory_bytes_per_s": ...,
     "method": {"fp32": {"gemm", "shape", "timer", ...}, "memory": {...}, ...},
     "measured_at": "2026-11-26T19:00:00Z"}

FLOP/s count 2 per multiply-add (int8: operations/s); bytes/s count read + write.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from convbench.errors import ConvbenchError

#: dtypes a GEMM roof is measured for, per device kind (defaults of ``convbench peak``).
DEFAULT_DTYPES = {"cpu": ("fp32", "bf16", "fp16", "int8"), "cuda": ("fp32", "tf32", "fp16", "bf16", "int8")}
#: Entries kept per host and device in the cache (oldest dropped first).
KEEP_PER_DEVICE = 20
_CACHE_FORMAT = 1
_DEFAULT_MM_SIZES = {"cpu": (512, 1024), "cuda": (4096, 8192, 16384)}
_CUDA_FP32_MAX = 8192  # fp32/tf32 GEMMs of 16384^3 take long without adding a better figure
_TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
_MEMORY_SHARE = 0.15  # share of max_time_s given to the copy


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _normalize_device(device: str) -> str:
    from convbench.harness.devices import normalize_device

    return normalize_device(str(device))


def resolve_threads(device: str, threads: int) -> int:
    """The thread count a run with ``threads`` uses on ``device``: ``threads`` when positive,
    else every CPU this process may use (the runs' meaning of 0)."""
    if threads and threads > 0:
        return int(threads)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_dtypes(device: str) -> tuple[str, ...]:
    return DEFAULT_DTYPES[device.split(":")[0]]


def _check_dtypes(device: str, dtypes: Sequence[str] | None) -> tuple[str, ...]:
    from convbench.workloads.spec import check_dtype

    kind = device.split(":")[0]
    if not dtypes:
        return default_dtypes(device)
    out = []
    for d in dtypes:
        check_dtype(d)
        if d not in DEFAULT_DTYPES["cuda"]:
            raise ConvbenchError(f"dtype: no GEMM roof for {d!r} (peak measures {', '.join(DEFAULT_DTYPES['cuda'])})")
        if d == "tf32" and kind != "cuda":
            raise ConvbenchError(f"dtype: tf32 is a CUDA tensor-core format; {device} has no tf32 roof")
        if d not in out:
            out.append(d)
    return tuple(out)


# ---- measuring -----------------------------------------------------------------------------
def measure_peaks(device: str = "cpu", dtypes: Sequence[str] | None = None, threads: int = 0,
                  max_time_s: float = 15.0, *, sizes: Sequence[int] | None = None,
                  copy_bytes: int | None = None, backends: Sequence[str] | None = ("torch", "onednn")) -> dict:
    """Measure the compute roof of each dtype and the memory bandwidth of ``device``.

    ``threads``: CPU threads, as for ``convbench run`` (0: every CPU this process may use).
    ``max_time_s``: seconds of timing in all (warm-up and samples; process start and GEMM
    set-up come on top). ``sizes``: square GEMM sizes for ``torch.mm`` (the 1x1 convolution
    uses the first); ``copy_bytes``: bytes of the copied buffer (default: several times the
    last-level cache); ``backends``: whose 1x1 convolution joins the GEMMs (None or empty:
    torch.mm only). Returns the peak entry (see the module docstring).
    """
    device = _normalize_device(device)
    from convbench.harness.devices import get_device

    reason = get_device(device).available()
    if reason:
        raise ConvbenchError(f"device: {device} is not available here: {reason}")
    dtypes = _check_dtypes(device, dtypes)
    if not (max_time_s > 0 and math.isfinite(max_time_s)):
        raise ConvbenchError(f"max-time: must be a positive number of seconds, got {max_time_s}")
    if sizes is not None and (not sizes or any(int(s) < 16 for s in sizes)):
        raise ConvbenchError(f"sizes: GEMM sizes must be at least 16, got {list(sizes)}")
    nthreads = resolve_threads(device, threads)
    request = _Request(device=device, dtypes=tuple(dtypes), threads=nthreads, max_time_s=float(max_time_s),
                       sizes=tuple(int(s) for s in sizes) if sizes else None,
                       copy_bytes=int(copy_bytes) if copy_bytes else None,
                       backends=tuple(backends or ()))
    return _in_child(request)


@dataclass(frozen=True)
class _Request:
    device: str
    dtypes: tuple[str, ...]
    threads: int
    max_time_s: float
    sizes: tuple[int, ...] | None
    copy_bytes: int | None
    backends: tuple[str, ...]


def _in_child(request: _Request) -> dict:
    """Run the measurement in a spawned process with the runs' thread settings."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from convbench.harness.worker import configure_process

    ctx = multiprocessing.get_context("spawn")
    threads = request.threads if request.device == "cpu" else 0
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=configure_process,
                             initargs=(threads,)) as pool:
        try:
            return pool.submit(_measure, request).result()
        except BrokenProcessPool:
            raise RuntimeError(f"peak: the measuring process for {request.device} died "
                               "(a crash in a GEMM library)") from None


@dataclass(frozen=True)
class _Candidate:
    """One GEMM (or the copy) to time: ``build()`` returns an object with ``run()`` and
    ``synchronize()``; ``work`` is FLOP (or bytes) per launch."""

    label: str
    shape: str
    work: int
    build: Callable[[], object]


class _CallKernel:
    """A launch of ``fn`` (may be asynchronous on CUDA) and its synchronisation."""

    def __init__(self, fn: Callable[[], object], sync: Callable[[], None], timers: Sequence[str]) -> None:
        self._fn = fn
        self._sync = sync
        self._timers = list(timers)

    def run(self) -> None:
        self._fn()

    def synchronize(self) -> None:
        self._sync()

    def timers(self) -> list[str]:
        return list(self._timers)


def _sync_fn(torch, device: str) -> Callable[[], None]:
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def _device_timers(device: str) -> list[str]:
    return ["cuda-graph", "cuda-event-batch"] if device.startswith("cuda") else ["wall"]


def _mm_candidate(torch, device: str, dtype: str, n: int, b_col_major: bool = False) -> _Candidate:
    """``torch.mm`` (``torch._int_mm`` for int8: int32 accumulation) of two n x n matrices.
    ``b_col_major`` stores B transposed (the "TN" arrangement cuBLASLt's int8 kernels favour)."""

    def build():
        gen = torch.Generator(device=device).manual_seed(n)
        if dtype == "int8":
            a = torch.randint(-8, 8, (n, n), dtype=torch.int8, generator=gen, device=device)
            b = torch.randint(-8, 8, (n, n), dtype=torch.int8, generator=gen, device=device)
            b = b.t() if b_col_major else b
            out = torch.empty((n, n), dtype=torch.int32, device=device)
            fn = lambda: torch._int_mm(a, b, out=out)  # noqa: E731
        else:
            dt = getattr(torch, _TORCH_DTYPES[dtype])
            a = torch.randn((n, n), generator=gen, device=device).to(dt)
            b = torch.randn((n, n), generator=gen, device=device).to(dt)
            b = b.t() if b_col_major else b
            out = torch.empty((n, n), dtype=dt, device=device)
            fn = lambda: torch.mm(a, b, out=out)  # noqa: E731
        return _CallKernel(fn, _sync_fn(torch, device), _device_timers(device))

    label = ("torch._int_mm" if dtype == "int8" else "torch.mm") + (" (B column-major)" if b_col_major else "")
    return _Candidate(label, f"{n}x{n}x{n}", 2 * n ** 3, build)


def _mm_candidates(torch, device: str, dtype: str, sizes: Sequence[int]) -> list[_Candidate]:
    """The square GEMMs of ``dtype``: fp32/tf32 on CUDA up to 8192 (larger adds time, not a
    better figure); int8 on CUDA with B both row- and column-major."""
    cuda = device.startswith("cuda")
    picked = [s for s in sizes if not (cuda and dtype in ("fp32", "tf32") and s > _CUDA_FP32_MAX)] or [min(sizes)]
    out = [_mm_candidate(torch, device, dtype, s) for s in picked]
    if cuda and dtype == "int8":
        out += [_mm_candidate(torch, device, dtype, s, b_col_major=True) for s in picked]
    return out


def _conv_specs(device: str, sizes: tuple[int, ...] | None):
    """The 1x1 convolutions that stand for GEMMs: (M, N, K) = (batch x H x W, C, C). On the
    CPU a large one and a small one: on a shared machine a launch that fits in one scheduler
    time slice is the one that shows the cores' undisturbed rate."""
    from convbench.workloads.spec import ConvSpec

    if device.startswith("cuda"):
        shapes = [((sizes[0] // 2 if sizes else 2048), 32, 8)]
    elif sizes:
        shapes = [(sizes[0], max(8, sizes[0] // 16), 1)]
    else:
        shapes = [(1024, 64, 1), (512, 16, 1)]
    return [ConvSpec(in_channels=c, out_channels=c, input_size=(hw, hw), kernel_size=1, bias=False,
                     batch=batch, name="peak-gemm") for c, hw, batch in shapes]


def _conv_candidates(device: str, dtype: str, threads: int, request: _Request,
                     inputs: dict) -> tuple[list[_Candidate], list[dict]]:
    """1x1 convolutions through each available backend: NHWC and the backend's native layout.
    ``inputs`` caches the seeded inputs of each spec across candidates (one measurement's)."""
    from convbench.backends.base import Case
    from convbench.backends.registry import get_backend

    out, skipped = [], []
    for name in request.backends:
        try:
            backend = get_backend(name)
        except ConvbenchError as exc:
            skipped.append({"gemm": f"{name} 1x1 conv", "skipped": str(exc)})
            continue
        reason = backend.unavailable_reason()
        if reason:
            skipped.append({"gemm": f"{name} 1x1 conv", "skipped": reason})
            continue
        for spec in _conv_specs(device, request.sizes):
            shape = f"{spec.batch * math.prod(spec.output_size)}x{spec.out_channels}x{spec.in_channels}"
            for layout in ("nhwc", "native"):
                case = Case(spec, dtype, "fwd", layout, device, "default", threads if device == "cpu" else 0)
                why = backend.unsupported_reason(case)
                if why:
                    skipped.append({"gemm": f"{name} 1x1 conv ({layout})", "shape": shape, "skipped": why})
                    continue

                def build(backend=backend, case=case):
                    from convbench.harness.inputs import make_inputs

                    key = case.spec.shape_key()
                    if key not in inputs:
                        inputs[key] = make_inputs(case.spec)
                    return backend.prepare(case, inputs[key])

                out.append(_Candidate(f"{name} 1x1 conv ({layout})", shape, spec.flops("fwd"), build))
    return out, skipped


def _make_timer(device: str, kernel) -> object:
    from convbench.harness.devices import get_device

    mod = get_device(device)
    allowed = list(getattr(kernel, "timers", lambda: [])() or _device_timers(device))
    order = ["cuda-graph", "cuda-event-batch"] if device.startswith("cuda") else ["wall"]
    last_exc = None
    for name in order:
        if name not in allowed:
            continue
        try:
            return mod.make_timer(name, kernel, device)
        except Exception as exc:  # graph capture can fail for some kernels: take the next timer
            last_exc = exc
    if last_exc is not None:
        raise last_exc
    return mod.make_timer(allowed[0], kernel, device)


def _samples(timer, seconds: float, min_samples: int = 3, max_samples: int = 100_000) -> list[float]:
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < min_samples or (time.perf_counter() - start < seconds and len(out) < max_samples):
        out.append(timer.sample())
    return out


@dataclass
class _Trial:
    """A candidate's state while it is measured (local to one measurement)."""

    candidate: _Candidate
    kernel: object = None
    timer: object = None
    samples: list | None = None
    error: str = ""


def _time_candidates(device: str, candidates: list[_Candidate], budget_s: float, rounds: int = 2) -> list[_Trial]:
    """Build every candidate, then time them round-robin (``rounds`` trials each), so a
    passing disturbance of the machine does not decide which GEMM wins."""
    from convbench.harness.timing import warm_up

    trials = [_Trial(c, samples=[]) for c in candidates]
    for t in trials:
        try:
            t.kernel = t.candidate.build()
            t.timer = _make_timer(device, t.kernel)
        except Exception as exc:  # an unsupported size or dtype in this library build
            t.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    live = [t for t in trials if not t.error]
    if not live:
        return trials
    slot = budget_s / (rounds * len(live))
    for r in range(rounds):
        for t in live:
            try:
                if r == 0:
                    warm_up(t.timer, max_s=min(0.5, max(slot / 2, 0.02)), max_samples=10)
                t.samples += _samples(t.timer, slot)
            except Exception as exc:
                t.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        live = [t for t in live if not t.error]
    for t in trials:
        close = getattr(t.timer, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                pass
    return trials


def _summary(trial: _Trial, unit: str) -> dict:
    from convbench.results.stats import summarize

    c = trial.candidate
    if trial.error or not trial.samples:
        return {"gemm": c.label, "shape": c.shape, "error": trial.error or "no samples"}
    s = summarize(trial.samples)
    return {
        "gemm": c.label, "shape": c.shape, "timer": getattr(trial.timer, "name", ""),
        "launches_per_sample": int(getattr(trial.timer, "launches", 1)), "samples": s.n,
        "fastest_s": s.min_s, "median_s": s.median_s,
        f"best_{unit}": c.work / s.min_s, f"median_{unit}": c.work / s.median_s,
    }


def _set_tf32(torch, dtype: str) -> None:
    """fp32 means full fp32 on CUDA (no TF32), tf32 means TF32 tensor cores."""
    if torch.cuda.is_available():
        allow = dtype == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


def _copy_candidate(torch, device: str, nbytes: int) -> _Candidate:
    n = max(1, nbytes // 4)

    def build():
        src = torch.ones(n, dtype=torch.float32, device=device)
        dst = torch.zeros(n, dtype=torch.float32, device=device)
        return _CallKernel(lambda: dst.copy_(src), _sync_fn(torch, device), _device_timers(device))

    return _Candidate("torch copy_", f"{n * 4 / 2**20:.0f} MiB", 2 * n * 4, build)


def _copy_bytes(device: str) -> int:
    """Several times the last-level cache (CPU: 4x LLC, at least 256 MiB; CUDA: 8x L2, at
    least 1 GiB), at most an eighth of the free memory and 2 GiB (CPU) / 4 GiB (CUDA)."""
    if device.startswith("cuda"):
        import torch

        from convbench.harness.devices import cuda

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(min(max(8 * cuda.l2_cache_bytes(device), 1 << 30), free // 8, 4 << 30))
    import psutil

    from convbench.harness.devices import cpu

    return int(min(max(4 * cpu.last_level_cache_bytes(), 256 << 20), psutil.virtual_memory().available // 8, 2 << 30))


def _measure(request: _Request) -> dict:
    """The measurement itself (runs in the spawned process)."""
    import torch

    from convbench.harness.devices import get_device

    device = request.device
    kind = device.split(":")[0]
    if kind == "cpu" and torch.get_num_threads() != request.threads:
        torch.set_num_threads(request.threads)
    sizes = request.sizes or _DEFAULT_MM_SIZES[kind]
    compute_budget = request.max_time_s * (1 - _MEMORY_SHARE) / len(request.dtypes)
    compute, method, inputs = {}, {}, {}
    for dtype in request.dtypes:
        _set_tf32(torch, dtype)
        cands = _mm_candidates(torch, device, dtype, sizes)
        convs, skipped = _conv_candidates(device, dtype, request.threads, request, inputs)
        trials = _time_candidates(device, cands + convs, compute_budget)
        summaries = [_summary(t, "flop_per_s") for t in trials]
        ok = [s for s in summaries if "best_flop_per_s" in s]
        if ok:
            best = max(ok, key=lambda s: s["best_flop_per_s"])
            compute[dtype] = best["best_flop_per_s"]
            method[dtype] = {**best, "statistic": "fastest sample", "candidates": summaries + skipped}
        else:
            method[dtype] = {"error": "no GEMM ran for this dtype", "candidates": summaries + skipped}
        if kind == "cuda":
            torch.cuda.empty_cache()
    nbytes = request.copy_bytes or _copy_bytes(device)
    copy = _time_candidates(device, [_copy_candidate(torch, device, nbytes)],
                            max(request.max_time_s * _MEMORY_SHARE, 0.2))
    mem = _summary(copy[0], "bytes_per_s")
    memory = mem.get("best_bytes_per_s")
    mem["op"] = mem.pop("gemm")
    mem["bytes_counted"] = "read + write"
    mem["statistic"] = "fastest sample"
    method["memory"] = mem
    versions = {"torch": torch.__version__}
    if kind == "cuda":
        versions["cuda"] = torch.version.cuda or ""
    method["versions"] = versions
    return {
        "device": device,
        "device_name": get_device(device).device_name(device),
        "host": socket.gethostname(),
        "threads": request.threads,
        "compute_flop_per_s": compute,
        "memory_bytes_per_s": memory,
        "method": method,
        "measured_at": _iso_now(),
    }


# ---- the cache -----------------------------------------------------------------------------
def cache_path() -> Path:
    """``$XDG_CACHE_HOME/convbench/peaks.json`` (default ``~/.cache/convbench/peaks.json``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "convbench" / "peaks.json"


def load_cache(path: str | os.PathLike | None = None) -> dict:
    """The cache as ``{"format": 1, "hosts": {host: {device: [entries, oldest first]}}}``;
    an empty one when the file does not exist; ConvbenchError when it is corrupt."""
    p = Path(path) if path else cache_path()
    try:
        with open(p, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"format": _CACHE_FORMAT, "hosts": {}}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConvbenchError(f"peaks: cache {p} is corrupt ({exc}); delete it to start afresh") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise ConvbenchError(f"peaks: cache {p} is not a convbench peak cache; delete it to start afresh")
    return data


def _validate_entry(entry: dict) -> None:
    for key in ("device", "host", "threads", "compute_flop_per_s", "measured_at"):
        if key not in entry:
            raise ConvbenchError(f"peaks: entry has no {key!r}")


def save_peaks(entry: dict, path: str | os.PathLike | None = None) -> Path:
    """Append ``entry`` to the cache under its host and device (atomic rewrite under a
    file lock; at most :data:`KEEP_PER_DEVICE` entries kept per host and device). Returns
    the cache path."""
    import fcntl

    from convbench.results.store import write_json_atomic

    _validate_entry(entry)
    p = Path(path) if path else cache_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p.with_name(p.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = load_cache(p)
            per_device = data["hosts"].setdefault(str(entry["host"]), {})
            entries = per_device.setdefault(str(entry["device"]), [])
            entries.append(entry)
            del entries[:-KEEP_PER_DEVICE]
            write_json_atomic(p, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return p


def latest_peaks(device: str, threads: int = 0, path: str | os.PathLike | None = None,
                 host: str | None = None) -> dict | None:
    """The newest cached entry for this host and ``device`` measured with the thread count a
    run with ``threads`` uses, else the newest for the device; None when there is none. A
    corrupt cache gives a warning and None (a run never fails for it).

    A roof is a maximum: each compute and memory figure of the returned entry is the best of
    every cached entry of the same device name and thread count (a trial disturbed by another
    process under-reads; none over-reads), and ``method["best_of_entries"]`` says how many."""
    try:
        device = _normalize_device(device)
        data = load_cache(path)
    except ConvbenchError as exc:
        warnings.warn(str(exc), stacklevel=2)
        return None
    entries = [e for e in (data["hosts"].get(host or socket.gethostname(), {}).get(device) or [])
               if isinstance(e, dict)]
    if not entries:
        return None
    entries = sorted(entries, key=lambda e: str(e.get("measured_at") or ""))
    want = resolve_threads(device, threads)
    same = [e for e in entries if e.get("threads") == want]
    newest = (same or entries)[-1]
    peers = [e for e in entries if e.get("threads") == newest.get("threads")
             and e.get("device_name") == newest.get("device_name")]
    best = dict(newest)
    compute = dict(newest.get("compute_flop_per_s") or {})
    for e in peers:
        for dtype, v in (e.get("compute_flop_per_s") or {}).items():
            if isinstance(v, (int, float)) and v > (compute.get(dtype) or 0):
                compute[dtype] = v
        mem = e.get("memory_bytes_per_s")
        if isinstance(mem, (int, float)) and mem > (best.get("memory_bytes_per_s") or 0):
            best["memory_bytes_per_s"] = mem
    best["compute_flop_per_s"] = compute
    if len(peers) > 1:
        best["method"] = dict(newest.get("method") or {}, best_of_entries=len(peers))
    return best
