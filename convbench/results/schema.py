"""The one definition of a result row: column names, types and status values.

Units are in the column names: ``_s`` seconds, ``_flop_per_byte``, ``tflops`` (10^12 FLOP/s),
``bandwidth_gb_per_s`` (10^9 bytes/s). ``flops`` and ``bytes`` are for one launch (not
multiplied by ``count``).
"""

from __future__ import annotations

import enum

import pyarrow as pa

#: Bumped when a column changes meaning or is removed (adding a column does not bump it).
SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """How a case ended. Every row has one, and every non-ok row has a ``reason``."""

    OK = "ok"  # verified, then timed
    WRONG = "wrong"  # result outside tolerance: not timed
    UNSUPPORTED = "unsupported"  # the stack cannot run this combination (reason says why)
    CRASHED = "crashed"  # the worker process died (signal, abort)
    TIMEOUT = "timeout"  # the case exceeded --case-timeout
    OOM = "oom"  # out of memory
    ERROR = "error"  # an exception in the backend

    def __str__(self) -> str:
        return self.value


_F64, _I64, _STR, _BOOL = pa.float64(), pa.int64(), pa.string(), pa.bool_()

#: (name, arrow type, description). Order is the column order on disk.
COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("run_id", _STR, "run directory id"),
    ("case_id", _STR, "stable hash of the case (shape, backend, algorithm, dtype, direction, layout, device, cache, timer, repeat)"),
    ("started_at", pa.timestamp("us", tz="UTC"), "when the case started (UTC)"),
    # the workload
    ("workload", _STR, "convbench descriptor of the shape"),
    ("network", _STR, "network or suite the shape came from"),
    ("layer", _STR, "layer path(s) sharing the shape, comma-separated"),
    ("count", _I64, "how often the shape occurs in its network or suite"),
    ("dims", _I64, "spatial dimensions (1-3)"),
    ("kind", _STR, "conv, linear or deformable"),
    # the case
    ("backend", _STR, "backend name"),
    ("backend_version", _STR, "framework version"),
    ("algorithm", _STR, "what actually ran (kernel or implementation name where the stack tells)"),
    ("algorithm_requested", _STR, "the plan's choice: default, autotune, direct, ..."),
    ("device", _STR, "cpu, cuda:0, ..."),
    ("device_name", _STR, "CPU model or GPU name"),
    ("dtype", _STR, "fp32, tf32, fp16, bf16, int8, int4"),
    ("direction", _STR, "fwd, dgrad or wgrad"),
    ("layout", _STR, "layout that ran: nchw, nhwc, blocked, ..."),
    ("layout_requested", _STR, "the plan's layout: native, nchw, nhwc"),
    ("cache", _STR, "hot or cold"),
    ("timer", _STR, "timing method: wall, wall-batch, cuda-event, cuda-event-batch, cuda-graph, kernel"),
    ("timer_requested", _STR, "the plan's timer: default or a timer name"),
    ("threads", _I64, "CPU threads used (0: stack default)"),
    ("repeat", _I64, "repetition index (0-based)"),
    # the outcome
    ("status", _STR, "ok, wrong, unsupported, crashed, timeout, oom, error"),
    ("reason", _STR, "why the status is not ok (empty when ok)"),
    ("max_abs_error", _F64, "max |result - reference|"),
    ("max_rel_error", _F64, "max |result - reference| / bound scale (sum|x||w|)"),
    ("error_bound_ratio", _F64, "max over elements of |error| / allowed error (<= 1 passes)"),
    # the time
    ("time_median_s", _F64, "median time of one launch (s)"),
    ("time_min_s", _F64, "fastest sample (s)"),
    ("time_q1_s", _F64, "first quartile (s)"),
    ("time_q3_s", _F64, "third quartile (s)"),
    ("time_ci_low_s", _F64, "lower end of the 95% confidence interval of the median (s)"),
    ("time_ci_high_s", _F64, "upper end of the 95% confidence interval of the median (s)"),
    ("noise_rel", _F64, "relative half-width of the median's 95% confidence interval"),
    ("samples", _I64, "number of samples"),
    ("samples_s", pa.list_(_F64), "the samples (s per launch)"),
    ("launches_per_sample", _I64, "launches averaged into one sample (batch timers)"),
    ("target_reached", _BOOL, "noise_rel <= target noise"),
    ("stop_reason", _STR, "why sampling stopped: target, max-time, max-samples"),
    ("setup_s", _F64, "first-call cost: compilation, autotune, primitive creation (s)"),
    ("throttled", _BOOL, "the device throttled during the case (GPU: NVML throttle reasons)"),
    # the work
    ("flops", _I64, "operations of one launch (2 per MAC)"),
    ("bytes", _I64, "minimal bytes one launch moves (input + weights + output + bias)"),
    ("intensity_flop_per_byte", _F64, "flops / bytes"),
    ("tflops", _F64, "flops / time_median_s / 1e12"),
    ("bandwidth_gb_per_s", _F64, "bytes / time_median_s / 1e9"),
    ("repro", _STR, "command line that reruns this case alone"),
    ("extra", _STR, "JSON object of backend-specific facts (quantization, TF32 flags, ...)"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in COLUMNS)
ARROW_SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in COLUMNS])
#: The fields whose values identify a case across runs (used to match rows in compare/check).
CASE_KEY: tuple[str, ...] = (
    "workload", "backend", "algorithm_requested", "device", "dtype", "direction", "layout_requested",
    "cache", "timer_requested", "threads",
)


def empty_row() -> dict:
    """A row with every column present and unset (None)."""
    return {name: None for name in COLUMN_NAMES}
