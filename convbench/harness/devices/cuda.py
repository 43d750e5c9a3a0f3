"""CUDA GPUs: event, graph and profiler timers, L2 flush, NVML environment and throttling.

Timers (all report seconds per launch):

``cuda-event``
    CUDA events around ONE launch. A short spin kernel is queued first so that the start
    event and the launch are already queued when the GPU reaches them; without it the events
    would time the host's launch latency (on an H100 a 9.8 us kernel read 30.8 us).
``cuda-event-batch``
    events around ``n`` back-to-back launches, divided by ``n``.
``cuda-graph``
    ``n`` launches captured once in a CUDA graph; events around one replay, divided by ``n``.
    The default: it removes the host from the figure (launch-bound kernels included).
``kernel``
    the profiler's kernel time: the GPU activity (kernels, memsets) that ``n`` launches
    produce, summed from ``torch.profiler``'s device events, per launch.

All use torch's CUDA runtime (torch is the one framework every CUDA machine here has); the
timed work runs on a dedicated stream.
"""

from __future__ import annotations

from functools import lru_cache

from convbench.errors import ConvbenchError
from convbench.harness.timing import estimate, launches_for

KIND = "cuda"
# NVML clock-event (throttle) reasons that mean the GPU ran slower than asked.
_THROTTLE_BITS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
}
_SPIN_CYCLES = 200_000  # ~100 us at 2 GHz: enough to queue the launch behind it


def _torch():
    import torch

    return torch


def available() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed (CUDA timing uses torch's CUDA runtime)"
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch (torch.cuda.is_available() is False)"
    return None


def _index(device: str) -> int:
    _, _, idx = device.partition(":")
    return int(idx) if idx else 0


def device_name(device: str = "cuda:0") -> str:
    return _torch().cuda.get_device_name(_index(device))


def list_devices() -> list[dict]:
    if available() is not None:
        return []
    torch = _torch()
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append({
            "id": f"cuda:{i}", "name": p.name, "memory_bytes": int(p.total_memory),
            "driver": _nvml_driver() or "", "compute_capability": f"{p.major}.{p.minor}",
            "sm_count": p.multi_processor_count,
        })
    return out


def timer_names() -> tuple[str, ...]:
    return ("cuda-graph", "cuda-event-batch", "cuda-event", "kernel", "wall-batch", "wall")


def default_timer(kernel_timers, cache: str = "hot") -> str:
    """Hot cache: graph replay where the kernel allows it, else events around a batch.
    Cold cache: events around one launch (a batch would warm the cache after its first
    launch); the flush itself hides the launch latency."""
    order = ("cuda-event", "cuda-event-batch", "wall") if cache == "cold" else (
        "cuda-graph", "cuda-event-batch", "wall-batch", "wall")
    for name in order:
        if name in kernel_timers:
            return name
    return kernel_timers[0]


class _CudaTimerBase:
    launches = 1

    def __init__(self, kernel, device: str) -> None:
        torch = _torch()
        self._torch = torch
        self._device = torch.device(device)
        self._stream = torch.cuda.Stream(self._device)
        self._run = kernel.run
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(self._device)

    def _spin(self) -> None:
        self._torch.cuda._sleep(_SPIN_CYCLES)

    def close(self) -> None:
        self._torch.cuda.synchronize(self._device)


class CudaEventTimer(_CudaTimerBase):
    """``cuda-event``: events around one launch, queued behind a spin kernel."""

    name = "cuda-event"

    def sample(self) -> float:
        with self._torch.cuda.stream(self._stream):
            self._spin()
            self._start.record(self._stream)
            self._run()
            self._end.record(self._stream)
        self._end.synchronize()
        return self._start.elapsed_time(self._end) * 1e-3


class CudaEventBatchTimer(_CudaTimerBase):
    """``cuda-event-batch``: events around ``launches`` back-to-back launches."""

    name = "cuda-event-batch"

    def __init__(self, kernel, device: str, launches: int) -> None:
        super().__init__(kernel, device)
        self.launches = max(1, int(launches))

    def sample(self) -> float:
        with self._torch.cuda.stream(self._stream):
            self._spin()
            self._start.record(self._stream)
            for _ in range(self.launches):
                self._run()
            self._end.record(self._stream)
        self._end.synchronize()
        return self._start.elapsed_time(self._end) * 1e-3 / self.launches


class CudaGraphTimer(_CudaTimerBase):
    """``cuda-graph``: ``launches`` launches captured in one graph; events around a replay."""

    name = "cuda-graph"

    def __init__(self, kernel, device: str, launches: int) -> None:
        super().__init__(kernel, device)
        torch = self._torch
        self.launches = max(1, int(launches))
        with torch.cuda.stream(self._stream):  # capture needs a warm, non-default stream
            self._run()
        self._stream.synchronize()
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph, stream=self._stream):
            for _ in range(self.launches):
                self._run()
        torch.cuda.synchronize(self._device)

    def sample(self) -> float:
        with self._torch.cuda.stream(self._stream):
            self._spin()
            self._start.record(self._stream)
            self._graph.replay()
            self._end.record(self._stream)
        self._end.synchronize()
        return self._start.elapsed_time(self._end) * 1e-3 / self.launches

    def close(self) -> None:
        super().close()
        self._graph.reset()


class KernelProfilerTimer(_CudaTimerBase):
    """``kernel``: GPU time of the kernels (and memsets) that ``launches`` launches run,
    from torch.profiler's device events (CUPTI), per launch. Host time is not in it."""

    name = "kernel"

    def __init__(self, kernel, device: str, launches: int) -> None:
        super().__init__(kernel, device)
        self.launches = max(1, int(launches))

    def sample(self) -> float:
        return profile_kernel_time(self._run, self.launches, self._stream, self._device)


def profile_kernel_time(run, launches: int, stream, device) -> float:
    """Seconds of GPU activity per launch of ``run``, summed over the profiler's device
    events (each kernel counted once: only device-side events are summed)."""
    torch = _torch()
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        with torch.cuda.stream(stream):
            for _ in range(launches):
                run()
        torch.cuda.synchronize(device)
    total_us = 0.0
    for ev in prof.events():
        if ev.device_type == DeviceType.CUDA:
            total_us += ev.time_range.elapsed_us()
    if total_us <= 0:
        raise RuntimeError("the profiler saw no GPU activity for this kernel")
    return total_us * 1e-6 / launches


def kernel_names(run, device: str) -> list[str]:
    """Names of the GPU kernels one call of ``run`` launches (profiler), in order."""
    torch = _torch()
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    dev = torch.device(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize(dev)
    return [ev.name for ev in prof.events() if ev.device_type == DeviceType.CUDA]


def make_timer(name: str, kernel, device: str = "cuda:0"):
    from convbench.harness.timing import WallBatchTimer, WallTimer

    if name == "wall":
        return WallTimer(kernel)
    est = estimate(kernel)
    if name == "wall-batch":
        return WallBatchTimer(kernel, launches_for(est, sample_s=2e-3, cap=1000))
    if name == "cuda-event":
        return CudaEventTimer(kernel, device)
    if name == "cuda-event-batch":
        return CudaEventBatchTimer(kernel, device, launches_for(est, sample_s=1e-3, cap=200))
    if name == "cuda-graph":
        return CudaGraphTimer(kernel, device, max(10, launches_for(est, sample_s=1e-3, cap=100)))
    if name == "kernel":
        return KernelProfilerTimer(kernel, device, max(5, launches_for(est, sample_s=1e-3, cap=50)))
    raise ConvbenchError(f"timer: unknown CUDA timer {name!r} (known: {', '.join(timer_names())})")


def l2_cache_bytes(device: str = "cuda:0") -> int:
    p = _torch().cuda.get_device_properties(_index(device))
    return int(getattr(p, "L2_cache_size", 0) or 50 * 1024**2)


def make_flush(device: str = "cuda:0"):
    """Evict L2 by zeroing a device buffer twice its size, and wait for it: the timers run on
    their own non-blocking stream (the flush must not overlap the timed launch) and the wall
    timers synchronise the device (the flush must not be inside their sample)."""
    torch = _torch()
    size = 2 * l2_cache_bytes(device)
    buf = torch.empty(size // 4, dtype=torch.float32, device=device)

    def flush() -> None:
        buf.zero_()
        torch.cuda.synchronize(buf.device)

    return flush, size


# ---- NVML --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _nvml():
    """The initialised pynvml module, or None when NVML cannot be loaded."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def _nvml_driver() -> str | None:
    nv = _nvml()
    if nv is None:
        return None
    try:
        v = nv.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else v
    except Exception:
        return None


def _handle(device: str):
    nv = _nvml()
    if nv is None:
        return None
    try:
        # NVML enumerates in PCI order; torch in CUDA_DEVICE_ORDER. Match by PCI bus id.
        torch = _torch()
        props = torch.cuda.get_device_properties(_index(device))
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            domain = getattr(props, "pci_domain_id", 0)
            dev = getattr(props, "pci_device_id", 0)
            return nv.nvmlDeviceGetHandleByPciBusId(f"{domain:08x}:{bus:02x}:{dev:02x}.0".encode())
        return nv.nvmlDeviceGetHandleByIndex(_index(device))
    except Exception:
        try:
            return nv.nvmlDeviceGetHandleByIndex(_index(device))
        except Exception:
            return None


def _call(fn, *args):
    try:
        v = fn(*args)
        return v.decode() if isinstance(v, bytes) else v
    except Exception:
        return None


def _throttle_reasons(nv, h) -> int | None:
    fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    return _call(fn, h) if fn else None


def nvml_snapshot(device: str = "cuda:0") -> dict:
    """Clocks (MHz), temperature (C), power (W) and throttle reasons of ``device`` now."""
    nv = _nvml()
    h = _handle(device)
    if nv is None or h is None:
        return {}
    reasons = _throttle_reasons(nv, h)
    power = _call(nv.nvmlDeviceGetPowerUsage, h)
    return {
        "sm_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
        "mem_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM),
        "temperature_c": _call(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
        "power_w": power / 1000 if power is not None else None,
        "throttle_reasons": reasons,
        "throttle_names": [n for bit, n in _THROTTLE_BITS.items() if reasons and reasons & bit],
    }


def environment(device: str = "cuda:0") -> dict:
    torch = _torch()
    idx = _index(device)
    p = torch.cuda.get_device_properties(idx)
    env = {
        "name": p.name, "compute_capability": f"{p.major}.{p.minor}", "sm_count": p.multi_processor_count,
        "memory_bytes": int(p.total_memory), "l2_cache_bytes": l2_cache_bytes(device),
        "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "driver": _nvml_driver(),
    }
    nv = _nvml()
    h = _handle(device)
    if nv is not None and h is not None:
        power_limit = _call(nv.nvmlDeviceGetPowerManagementLimit, h)
        env.update({
            "uuid": _call(nv.nvmlDeviceGetUUID, h),
            "max_sm_clock_mhz": _call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
            "max_mem_clock_mhz": _call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM),
            "app_sm_clock_mhz": _call(nv.nvmlDeviceGetApplicationsClock, h, nv.NVML_CLOCK_SM),
            "app_mem_clock_mhz": _call(nv.nvmlDeviceGetApplicationsClock, h, nv.NVML_CLOCK_MEM),
            "power_limit_w": power_limit / 1000 if power_limit is not None else None,
            "persistence_mode": _call(nv.nvmlDeviceGetPersistenceMode, h),
            "now": nvml_snapshot(device),
        })
    else:
        env["nvml"] = "unavailable (pynvml could not load the NVML library)"
    return env


def warnings(device: str = "cuda:0") -> list[str]:
    out = []
    env = environment(device)
    if "nvml" in env:
        out.append("NVML is unavailable: clocks and throttling are not recorded")
        return out
    app, mx = env.get("app_sm_clock_mhz"), env.get("max_sm_clock_mhz")
    out.append(
        "GPU clocks are not verified as locked (lock them with `nvidia-smi -lgc <mhz>` for "
        f"steadier figures); application SM clock {app} MHz, max {mx} MHz"
    )
    return out


class NvmlMonitor:
    """Throttle reasons of one GPU: ``snapshot()`` for the row, ``throttled()`` while sampling."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._nv = _nvml()
        self._h = _handle(device)

    def snapshot(self) -> dict:
        return nvml_snapshot(self._device)

    def throttled(self) -> bool:
        if self._nv is None or self._h is None:
            return False
        reasons = _throttle_reasons(self._nv, self._h)
        return bool(reasons and any(reasons & bit for bit in _THROTTLE_BITS))


def make_monitor(device: str = "cuda:0"):
    return NvmlMonitor(device)
