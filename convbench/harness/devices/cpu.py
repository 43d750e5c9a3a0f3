"""The CPU: host timers, last-level-cache flush, and what run.json records of the processor."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import numpy as np

from convbench.harness.timing import WallBatchTimer, WallTimer, estimate, launches_for

KIND = "cpu"
_ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "avx10", "sve", "sve2",
    "asimd", "neon",
)


def available() -> str | None:
    return None


@lru_cache(maxsize=1)
def _cpuinfo() -> dict:
    try:
        import cpuinfo

        return cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo can fail on exotic platforms; fall back to platform
        return {"brand_raw": platform.processor() or platform.machine(), "flags": []}


def device_name(device: str = "cpu") -> str:
    return _cpuinfo().get("brand_raw") or platform.machine()


def list_devices() -> list[dict]:
    import psutil

    return [{
        "id": "cpu", "name": device_name(), "memory_bytes": int(psutil.virtual_memory().total),
        "driver": platform.platform(),
    }]


def timer_names() -> tuple[str, ...]:
    return ("wall", "wall-batch")


def default_timer(kernel_timers, cache: str = "hot") -> str:
    """``wall``: one synchronised launch per sample (perf_counter_ns costs ~0.1 us, negligible
    against CPU conv kernels)."""
    for name in ("wall", "wall-batch"):
        if name in kernel_timers:
            return name
    return kernel_timers[0]


def make_timer(name: str, kernel, device: str = "cpu"):
    from convbench.errors import ConvbenchError

    if name == "wall":
        return WallTimer(kernel)
    if name == "wall-batch":
        return WallBatchTimer(kernel, launches_for(estimate(kernel), sample_s=2e-3, cap=100))
    raise ConvbenchError(f"timer: {name!r} is not a CPU timer (CPU timers: wall, wall-batch)")


def _cache_size(level: int) -> int | None:
    """Bytes of the level-``level`` data/unified cache of cpu0 from sysfs, or None."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            path = os.path.join(base, entry)
            with open(os.path.join(path, "level")) as f:
                if int(f.read()) != level:
                    continue
            with open(os.path.join(path, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(path, "size")) as f:
                text = f.read().strip().upper()
            mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1], 1)
            return int(text.rstrip("KMG")) * mult
    except (OSError, ValueError):
        return None
    return None


def last_level_cache_bytes() -> int:
    """Size of the largest cache level (bytes); 32 MiB when the machine does not say."""
    for level in (3, 2):
        size = _cache_size(level)
        if size:
            return size
    info = _cpuinfo()
    for key in ("l3_cache_size", "l2_cache_size"):
        v = info.get(key)
        if isinstance(v, int) and v > 0:
            return v
    return 32 * 1024**2


def make_flush(device: str = "cpu"):
    """A function that evicts the last-level cache by writing a buffer twice its size
    (capped at 1 GiB: VMs report the whole socket's L3), and the buffer's size in bytes."""
    size = int(min(max(2 * last_level_cache_bytes(), 64 * 1024**2), 1024**3))
    buf = np.zeros(size // 8, dtype=np.float64)

    def flush() -> None:
        np.add(buf, 1.0, out=buf)  # reads and writes every line of the buffer

    return flush, size


def governor() -> str | None:
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") as f:
            return f.read().strip()
    except OSError:
        return None


def environment(device: str = "cpu") -> dict:
    import psutil

    info = _cpuinfo()
    flags = set(info.get("flags", []))
    freq = psutil.cpu_freq()
    return {
        "model": device_name(),
        "vendor": info.get("vendor_id_raw"),
        "family": info.get("family"), "model_id": info.get("model"), "stepping": info.get("stepping"),
        "arch": platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "isa_flags": sorted(f for f in _ISA_FLAGS if f in flags),
        "l2_cache_bytes": _cache_size(2), "l3_cache_bytes": _cache_size(3),
        "governor": governor(),
        "freq_mhz": {"current": freq.current, "min": freq.min, "max": freq.max} if freq else None,
        "memory_bytes": int(psutil.virtual_memory().total),
    }


def warnings(device: str = "cpu") -> list[str]:
    out = []
    g = governor()
    if g is not None and g != "performance":
        out.append(f"CPU frequency governor is {g!r}, not 'performance': clocks may vary between samples")
    return out


class _NoMonitor:
    def snapshot(self) -> dict:
        return {}

    def throttled(self) -> bool:
        return False


def make_monitor(device: str = "cpu"):
    """CPUs expose no reliable throttle signal here; the monitor reports none."""
    return _NoMonitor()
