"""Roofs: what a device can do at most, per dtype, and where each figure comes from.

Three kinds of figure, all in FLOP/s (int8: operations/s) and bytes/s:

``measured``
    ``convbench peak`` (:mod:`convbench.harness.peak`): the best GEMM throughput per dtype and
    a streaming copy's bandwidth, measured on the machine; a run carries the latest entry for
    its device in ``run.json["peaks"]`` (a dict, or a list of dicts for multi-device runs).
``datasheet``
    the vendor's dense (non-sparse) peak for a known accelerator, from ``devices.csv``
    (one source per row).
``formula``
    for CPUs: cores x clock x FLOP/cycle/core of the instruction set, from the run's
    ``environment.devices.cpu`` (ISA flags, core counts, clocks). The result states the
    formula, so a reader can check each factor.

Everything here is a pure function of its arguments (the CSV is read once and returned as an
immutable tuple).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: dtypes a roof can be stated for.
PEAK_DTYPES: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8")
_CSV_DTYPE_COLUMNS = {
    "fp32": "fp32_tflops", "tf32": "tf32_tflops", "fp16": "fp16_tflops", "bf16": "bf16_tflops",
    "int8": "int8_tops",
}


@dataclass(frozen=True)
class PeakSet:
    """The roofs of one device from one kind of source.

    ``compute`` holds (dtype, FLOP/s) pairs; ``notes`` (dtype, text) pairs say how each figure
    was obtained (a formula, or the GEMM that reached it). ``memory_bytes_per_s`` is None when
    the source states no bandwidth.
    """

    kind: str  # "measured", "datasheet" or "formula"
    device: str
    device_name: str
    source: str
    compute: tuple[tuple[str, float], ...]
    memory_bytes_per_s: float | None = None
    notes: tuple[tuple[str, str], ...] = ()
    memory_note: str = ""

    def flop_per_s(self, dtype: str) -> float | None:
        """Peak FLOP/s (int8: op/s) for ``dtype``, or None when this source has none."""
        for d, v in self.compute:
            if d == dtype:
                return v
        return None

    def note(self, dtype: str) -> str:
        for d, text in self.notes:
            if d == dtype:
                return text
        return ""

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.compute)


@dataclass(frozen=True)
class Roofs:
    """A device's measured roofs beside its datasheet (or CPU formula) roofs.

    ``missing`` says, in words, which source is absent and why (for warnings)."""

    device: str
    device_name: str
    measured: PeakSet | None
    datasheet: PeakSet | None
    missing: tuple[str, ...] = ()

    def compute(self, dtype: str) -> tuple[float, PeakSet] | None:
        """The roof a percentage is taken of: measured where there is one, else datasheet."""
        for ps in (self.measured, self.datasheet):
            if ps is not None:
                v = ps.flop_per_s(dtype)
                if v:
                    return v, ps
        return None

    def memory(self) -> tuple[float, PeakSet] | None:
        for ps in (self.measured, self.datasheet):
            if ps is not None and ps.memory_bytes_per_s:
                return ps.memory_bytes_per_s, ps
        return None


# ---- datasheet -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasheetEntry:
    """One row of devices.csv: dense peaks in TFLOPS (int8: TOPS) and memory in GB/s."""

    name: str
    match: str  # regular expression, searched case-insensitively in a device name
    vendor: str
    tflops: tuple[tuple[str, float], ...]
    memory_gb_per_s: float | None
    source: str

    def peakset(self, device: str = "", device_name: str = "") -> PeakSet:
        return PeakSet(
            kind="datasheet", device=device, device_name=device_name or self.name,
            source=f"{self.name}: {self.source}",
            compute=tuple((d, v * 1e12) for d, v in self.tflops),
            memory_bytes_per_s=self.memory_gb_per_s * 1e9 if self.memory_gb_per_s else None,
            notes=tuple((d, f"datasheet {self.name} (dense)") for d, _ in self.tflops),
            memory_note=f"datasheet {self.name}",
        )


def _float_or_none(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


@lru_cache(maxsize=1)
def datasheet_table() -> tuple[DatasheetEntry, ...]:
    """Every row of ``devices.csv`` (shipped with convbench), in file order."""
    text = resources.files("convbench.reports").joinpath("devices.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        tflops = tuple(
            (d, v) for d, col in _CSV_DTYPE_COLUMNS.items()
            if (v := _float_or_none(row.get(col, ""))) is not None
        )
        out.append(DatasheetEntry(
            name=row["name"], match=row["match"], vendor=row["vendor"], tflops=tflops,
            memory_gb_per_s=_float_or_none(row.get("memory_gb_per_s", "")), source=row["source"],
        ))
    return tuple(out)


def match_datasheet(device_name: str) -> DatasheetEntry | None:
    """The devices.csv row whose pattern matches ``device_name`` (first match in file
    order), e.g. ``"NVIDIA H100 80GB HBM3"`` -> H100 SXM; None when no row matches."""
    if not device_name:
        return None
    for entry in datasheet_table():
        if re.search(entry.match, device_name, flags=re.IGNORECASE):
            return entry
    return None


# ---- CPU formula ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuRate:
    """FLOP (int8: operations) per cycle per core for one dtype, and why."""

    flop_per_cycle: int
    why: str


def _vector_fp32_rate(flags: frozenset[str], vendor: str, family: int | None) -> CpuRate | None:
    amd = "amd" in vendor.lower()
    if "avx512f" in flags:
        if amd and family is not None and family < 0x1A:
            return CpuRate(32, "AVX-512 on a 256-bit datapath (Zen 4): 2 FMA x 8 fp32 lanes x 2 FLOP")
        return CpuRate(64, "AVX-512, 2 FMA units x 16 fp32 lanes x 2 FLOP")
    if "avx2" in flags and "fma" in flags:
        return CpuRate(32, "AVX2, 2 FMA units x 8 fp32 lanes x 2 FLOP")
    if "avx" in flags:
        return CpuRate(16, "AVX, one 8-lane add + one 8-lane multiply")
    if "sse4_2" in flags:
        return CpuRate(8, "SSE, one 4-lane add + one 4-lane multiply")
    return None


def cpu_rate(dtype: str, isa_flags, vendor: str = "", family: int | None = None) -> CpuRate | None:
    """FLOP/cycle/core of ``dtype`` on a CPU with ``isa_flags`` (x86 only; None where no rule
    applies: tf32, int4, non-x86 ISAs, int8 without VNNI or AMX).

    Rules (2 FLOP per multiply-add): AVX-512 with 2 FMA units 64 fp32 FLOP/cycle (Zen 4's
    256-bit datapath 32), AVX2 32; avx512_bf16 and avx512_fp16 twice the fp32 vector rate;
    AVX-512 VNNI int8 four times it (256 ops/cycle), AVX-VNNI 128; AMX 1024 bf16 (and fp16
    with amx_fp16) and 2048 int8 ops/cycle/core. A dtype with no native arithmetic (bf16
    without avx512_bf16/AMX, fp16 without avx512_fp16) runs at the fp32 rate.
    """
    flags = frozenset(isa_flags or ())
    fp32 = _vector_fp32_rate(flags, vendor, family)
    if dtype == "fp32":
        return fp32
    if dtype == "bf16":
        if "amx_bf16" in flags:
            return CpuRate(1024, "AMX-BF16 tile multiply")
        if "avx512_bf16" in flags and fp32 is not None:
            return CpuRate(2 * fp32.flop_per_cycle, "avx512_bf16 dot products: 2 x the fp32 rate")
        if fp32 is not None:
            return CpuRate(fp32.flop_per_cycle, "no native bf16 arithmetic: the fp32 rate")
        return None
    if dtype == "fp16":
        if "amx_fp16" in flags:
            return CpuRate(1024, "AMX-FP16 tile multiply")
        if "avx512_fp16" in flags and fp32 is not None:
            return CpuRate(2 * fp32.flop_per_cycle, "avx512_fp16: 32 fp16 lanes, 2 x the fp32 rate")
        if fp32 is not None:
            return CpuRate(fp32.flop_per_cycle, "no native fp16 arithmetic: the fp32 rate")
        return None
    if dtype == "int8":
        if "amx_int8" in flags:
            return CpuRate(2048, "AMX-INT8 tile multiply")
        if "avx512_vnni" in flags and fp32 is not None and "avx512f" in flags:
            return CpuRate(4 * fp32.flop_per_cycle, "AVX-512 VNNI: 4 int8 multiply-adds per 32-bit lane, 4 x the fp32 rate")
        if "avx_vnni" in flags:
            return CpuRate(128, "AVX-VNNI: 2 units x 8 lanes x 4 int8 multiply-adds x 2")
        return None
    return None


def _cpu_clock_hz(cpu_env: dict) -> tuple[float, str] | None:
    freq = cpu_env.get("freq_mhz") or {}
    mx, cur = freq.get("max") or 0, freq.get("current") or 0
    if mx and mx > 0:
        return mx * 1e6, "max clock"
    if cur and cur > 0:
        return cur * 1e6, "current clock; the OS reports no max"
    return None


def cpu_cores_used(cpu_env: dict, threads: int) -> int | None:
    """Physical cores a run with ``threads`` (0: every CPU the process may use) keeps busy."""
    physical = cpu_env.get("physical_cores") or cpu_env.get("logical_cores")
    affinity = cpu_env.get("affinity")
    avail = len(affinity) if affinity else (cpu_env.get("logical_cores") or physical)
    if not physical:
        return None
    wanted = threads if threads and threads > 0 else avail
    return max(1, min(int(wanted), int(physical)))


def cpu_formula(cpu_env: dict | None, threads: int = 0, device: str = "cpu") -> tuple[PeakSet | None, str]:
    """Peak FLOP/s per dtype of a CPU from run.json's ``environment.devices.cpu``:
    cores x clock x FLOP/cycle/core, each stated in the note. Returns (PeakSet or None,
    why None). The bandwidth is not derivable from these facts and is left unset."""
    if not cpu_env or "unavailable" in cpu_env or "error" in cpu_env:
        return None, "the run records no CPU environment"
    cores = cpu_cores_used(cpu_env, threads)
    clock = _cpu_clock_hz(cpu_env)
    if cores is None:
        return None, "the run records no core count"
    if clock is None:
        return None, "the run records no CPU clock"
    hz, clock_label = clock
    vendor = str(cpu_env.get("vendor") or "")
    family = cpu_env.get("family")
    compute, notes = [], []
    for dtype in PEAK_DTYPES:
        rate = cpu_rate(dtype, cpu_env.get("isa_flags"), vendor, family if isinstance(family, int) else None)
        if rate is None:
            continue
        value = cores * hz * rate.flop_per_cycle
        compute.append((dtype, value))
        notes.append((dtype, (
            f"{cores} core{'s' if cores != 1 else ''} x {hz / 1e9:.3g} GHz ({clock_label}) x "
            f"{rate.flop_per_cycle} FLOP/cycle/core ({rate.why}) = {value / 1e9:.1f} GFLOP/s"
        )))
    if not compute:
        return None, f"no FLOP/cycle rule for this CPU's ISA ({', '.join(cpu_env.get('isa_flags') or []) or 'no flags'})"
    name = str(cpu_env.get("model") or "CPU")
    return PeakSet(
        kind="formula", device=device, device_name=name,
        source=f"{name}: cores x clock x FLOP/cycle/core of its ISA", compute=tuple(compute),
        memory_bytes_per_s=None, notes=tuple(notes),
    ), ""


# ---- measured (run.json "peaks" / the peak cache) ------------------------------------------
def measured_entries(peaks) -> list[dict]:
    """run.json's ``peaks`` (a dict, a list of dicts, or empty) as a list of dicts."""
    if not peaks:
        return []
    if isinstance(peaks, dict):
        return [peaks] if peaks.get("compute_flop_per_s") or peaks.get("memory_bytes_per_s") else []
    return [p for p in peaks if isinstance(p, dict)]


def _same_device(entry: dict, device: str, device_name: str) -> bool:
    dev = str(entry.get("device") or "")
    norm = {"cuda": "cuda:0"}
    if norm.get(dev, dev) != norm.get(device, device):
        return False
    name = entry.get("device_name")
    return not (name and device_name and str(name) != str(device_name))


def measured_peakset(entry: dict) -> PeakSet:
    """A peak-cache / run.json entry as a PeakSet (notes name the GEMM that won)."""
    method = entry.get("method") or {}
    compute, notes = [], []
    for dtype, value in (entry.get("compute_flop_per_s") or {}).items():
        if value and value > 0 and math.isfinite(float(value)):
            compute.append((dtype, float(value)))
            m = method.get(dtype) if isinstance(method, dict) else None
            notes.append((dtype, _method_text(m)))
    mem = entry.get("memory_bytes_per_s")
    mem_method = method.get("memory") if isinstance(method, dict) else None
    when = entry.get("measured_at") or "unknown time"
    return PeakSet(
        kind="measured", device=str(entry.get("device") or ""),
        device_name=str(entry.get("device_name") or ""),
        source=f"convbench peak on {entry.get('host') or 'unknown host'}, {when}, "
               f"{entry.get('threads', '?')} threads",
        compute=tuple(compute),
        memory_bytes_per_s=float(mem) if mem and mem > 0 else None,
        notes=tuple(notes), memory_note=_method_text(mem_method),
    )


def _method_text(m) -> str:
    if not isinstance(m, dict):
        return ""
    parts = [str(m.get("gemm") or m.get("op") or "")]
    if m.get("shape"):
        parts.append(str(m["shape"]))
    if m.get("timer"):
        parts.append(f"timer {m['timer']}")
    return " ".join(p for p in parts if p)


def measured_for(peaks, device: str, device_name: str = "") -> PeakSet | None:
    """The measured roofs for ``device`` in run.json's ``peaks`` (None when absent)."""
    for entry in measured_entries(peaks):
        if _same_device(entry, device, device_name):
            return measured_peakset(entry)
    return None


# ---- both, for a run -----------------------------------------------------------------------
def roofs_for_run(meta: dict, device: str, device_name: str = "", threads: int | None = None) -> Roofs:
    """Measured and datasheet/formula roofs of ``device`` as one run saw it.

    ``meta`` is the run's run.json. ``threads`` (a row's thread count) chooses how many cores
    the CPU formula counts; None takes the run's setting."""
    missing = []
    measured = measured_for(meta.get("peaks"), device, device_name)
    if measured is None:
        missing.append(
            f"no measured peak for {device} in run {meta.get('run_id', '?')} "
            f"(run `convbench peak --device {device.split(':')[0]}` before `convbench run`)"
        )
    env = (meta.get("environment") or {}).get("devices") or {}
    kind = device.split(":")[0]
    datasheet = None
    if kind == "cpu":
        if threads is None:
            threads = int((meta.get("settings") or {}).get("threads") or 0)
        datasheet, why = cpu_formula(env.get("cpu"), threads, device)
        if datasheet is None:
            missing.append(f"no formula peak for {device_name or device}: {why}")
    else:
        name = device_name or str((env.get(device) or {}).get("name") or "")
        entry = match_datasheet(name)
        if entry is not None:
            datasheet = entry.peakset(device, name)
        else:
            missing.append(f"no datasheet peak for {name or device!r} (not in devices.csv)")
    return Roofs(device=device, device_name=device_name, measured=measured, datasheet=datasheet,
                 missing=tuple(missing))


def datasheet_for_current(device: str, device_name: str, cpu_env: dict | None, threads: int) -> PeakSet | None:
    """The datasheet (GPU) or formula (CPU) roofs of a device described directly (used by
    ``convbench peak`` to put the measured figures beside them)."""
    if device.split(":")[0] == "cpu":
        return cpu_formula(cpu_env, threads, device)[0]
    entry = match_datasheet(device_name)
    return entry.peakset(device, device_name) if entry else None
