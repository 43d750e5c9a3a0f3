"""Timers, warm-up and the stopping rule.

Every figure convbench reports is the median of samples taken by one named timer (the
``timer`` column). A *timer* turns ``n`` launches of a kernel into one sample, in seconds per
launch. The *stopping rule* decides how many samples to take: it keeps sampling until the
relative half-width of the median's 95% confidence interval is at most ``target_noise``, no
sooner than ``min_time_s`` and no later than ``max_time_s`` (wall-clock seconds of the
sampling loop, cache flushes included), and always takes at least ``min_samples`` samples.

Timers (DESIGN, Settled details: Timers):

``wall``
    ``perf_counter_ns`` around one launch followed by a synchronisation.
``wall-batch``
    one clock read around ``n`` back-to-back launches and one synchronisation, per launch.
``cuda-event``, ``cuda-event-batch``, ``cuda-graph``, ``kernel``
    CUDA timers, defined in :mod:`convbench.harness.devices.cuda`.

Timer objects are small: ``name``, ``launches`` (per sample), ``sample() -> seconds per
launch``, ``close()``. The device module builds them; this module only drives them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from convbench.results.stats import SampleSummary, summarize


class Timer(Protocol):
    """One timing method bound to one kernel."""

    name: str
    launches: int  # launches per sample (1 for single-launch timers)

    def sample(self) -> float:
        """Take one sample; return seconds per launch."""

    def close(self) -> None:
        """Release what the timer holds (graphs, events)."""


@dataclass(frozen=True)
class StoppingRule:
    """When to stop sampling. Times in seconds; ``target_noise`` is a fraction (0.01 = 1%)."""

    target_noise: float = 0.01
    min_time_s: float = 0.1
    max_time_s: float = 2.0
    min_samples: int = 3
    max_samples: int = 100_000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        from convbench.errors import ConvbenchError

        if not 0 < self.target_noise < 1:
            raise ConvbenchError(f"target-noise: must be between 0 and 1, got {self.target_noise}")
        if not (math.isfinite(self.min_time_s) and math.isfinite(self.max_time_s)) or (
                self.min_time_s < 0 or self.max_time_s <= 0):
            raise ConvbenchError(
                f"min-time/max-time: must be finite, >= 0 and > 0, got {self.min_time_s}, {self.max_time_s}"
            )
        if self.min_time_s > self.max_time_s:
            raise ConvbenchError(
                f"min-time: {self.min_time_s} s is more than max-time {self.max_time_s} s"
            )
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ConvbenchError(
                f"samples: need 1 <= min ({self.min_samples}) <= max ({self.max_samples})"
            )


@dataclass(frozen=True)
class Measurement:
    """The outcome of timing one kernel: raw samples (seconds per launch) and statistics."""

    timer: str
    samples_s: tuple[float, ...]
    launches_per_sample: int
    stop_reason: str  # "target", "max-time", "max-samples"
    target_noise: float
    warmup_launches: int
    warmup_s: float
    sampling_s: float
    dropped_samples: int = 0  # samples dropped because the device throttled while they ran
    throttled: bool = False
    summary: SampleSummary = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", summarize(self.samples_s))

    @property
    def noise_rel(self) -> float:
        """Relative half-width of the median's confidence interval (fraction)."""
        return self.summary.noise_rel

    @property
    def target_reached(self) -> bool:
        return self.noise_rel <= self.target_noise


def warm_up(timer: Timer, max_s: float = 1.0, agree: float = 0.05, max_samples: int = 50) -> tuple[int, float]:
    """Sample until two consecutive samples agree within ``agree`` (fraction), at most
    ``max_s`` seconds. Returns (launches, seconds spent). Not counted in min/max time."""
    start = time.perf_counter()
    prev = None
    samples = 0
    while True:
        t = timer.sample()
        samples += 1
        if prev is not None and abs(t - prev) <= agree * max(prev, 1e-12):
            break
        prev = t
        if time.perf_counter() - start >= max_s or samples >= max_samples:
            break
    return samples * timer.launches, time.perf_counter() - start


def measure(
    timer: Timer,
    rule: StoppingRule,
    flush: Callable[[], None] | None = None,
    throttle_check: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Warm up, then sample ``timer`` under ``rule``.

    ``flush`` (cold-cache mode) runs before every sample and is excluded from the sample but
    counted in the loop's time. ``throttle_check`` (a GPU monitor) is polled at most every
    20 ms; samples taken while it reports throttling are dropped when enough others remain,
    and the measurement is flagged ``throttled`` either way.
    """
    warm_launches, warm_s = warm_up(timer)
    samples: list[float] = []
    throttled_idx: set[int] = set()
    next_check = 6
    start = clock()
    last_poll = start
    stop_reason = "max-samples"
    while True:
        if flush is not None:
            flush()
        samples.append(timer.sample())
        now = clock()
        if throttle_check is not None and now - last_poll >= 0.02:
            last_poll = now
            if throttle_check():
                throttled_idx.add(len(samples) - 1)
        n = len(samples)
        elapsed = now - start
        if n >= rule.max_samples:
            stop_reason = "max-samples"
            break
        if elapsed >= rule.max_time_s and n >= rule.min_samples:
            stop_reason = "max-time"
            break
        if elapsed >= rule.min_time_s and n >= max(rule.min_samples, next_check):
            next_check = n + max(1, n // 10)
            kept = [s for i, s in enumerate(samples) if i not in throttled_idx]
            if len(kept) >= rule.min_samples and summarize(kept, rule.confidence).noise_rel <= rule.target_noise:
                stop_reason = "target"
                break
    sampling_s = clock() - start
    kept = [s for i, s in enumerate(samples) if i not in throttled_idx]
    dropped = len(samples) - len(kept)
    if len(kept) < rule.min_samples:  # a case that only ever throttled keeps its samples, flagged
        kept, dropped = samples, 0
    return Measurement(
        timer=timer.name,
        samples_s=tuple(kept),
        launches_per_sample=timer.launches,
        stop_reason=stop_reason,
        target_noise=rule.target_noise,
        warmup_launches=warm_launches,
        warmup_s=warm_s,
        sampling_s=sampling_s,
        dropped_samples=dropped,
        throttled=bool(throttled_idx),
    )


# ---- host timers -----------------------------------------------------------------------
class WallTimer:
    """``wall``: perf_counter_ns around one launch and its synchronisation."""

    name = "wall"
    launches = 1

    def __init__(self, kernel) -> None:
        self._run = kernel.run
        self._sync = kernel.synchronize

    def sample(self) -> float:
        t0 = time.perf_counter_ns()
        self._run()
        self._sync()
        return (time.perf_counter_ns() - t0) * 1e-9

    def close(self) -> None:
        pass


class WallBatchTimer:
    """``wall-batch``: one clock read around ``launches`` back-to-back launches, per launch."""

    name = "wall-batch"

    def __init__(self, kernel, launches: int) -> None:
        self._run = kernel.run
        self._sync = kernel.synchronize
        self.launches = max(1, int(launches))

    def sample(self) -> float:
        run = self._run
        t0 = time.perf_counter_ns()
        for _ in range(self.launches):
            run()
        self._sync()
        return (time.perf_counter_ns() - t0) * 1e-9 / self.launches

    def close(self) -> None:
        pass


def launches_for(estimate_s: float, sample_s: float = 1e-3, cap: int = 1000) -> int:
    """Launches per sample so one sample lasts about ``sample_s`` seconds (1..cap)."""
    if not estimate_s or estimate_s <= 0 or math.isnan(estimate_s):
        return 1
    return int(min(cap, max(1, math.ceil(sample_s / estimate_s))))


def estimate(kernel, budget_s: float = 0.05) -> float:
    """Rough seconds per launch: the fastest of a few synchronised launches."""
    best = math.inf
    start = time.perf_counter()
    for _ in range(100):
        t0 = time.perf_counter()
        kernel.run()
        kernel.synchronize()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return best
