"""The stopping rule and the host timers: what the timer did, never how fast a kernel was."""

import time

import pytest
from hypothesis import given, settings, strategies as st

from convbench.errors import ConvbenchError
from convbench.harness.timing import (StoppingRule, WallBatchTimer, WallTimer, launches_for, measure,
                                      warm_up)


class SeqTimer:
    """A timer that returns a scripted sequence of samples (seconds per launch)."""

    name = "scripted"
    launches = 1

    def __init__(self, values):
        self.values = list(values)
        self.i = 0

    def sample(self):
        v = self.values[min(self.i, len(self.values) - 1)]
        self.i += 1
        return v

    def close(self):
        pass


class FakeClock:
    """Each call advances by `step` seconds: the loop's time without sleeping."""

    def __init__(self, step):
        self.t = 0.0
        self.step = step

    def __call__(self):
        self.t += self.step
        return self.t


def test_constant_samples_stop_on_target_after_min_time():
    rule = StoppingRule(target_noise=0.01, min_time_s=0.5, max_time_s=10)
    m = measure(SeqTimer([1e-3] * 10_000), rule, clock=FakeClock(0.01))
    assert m.stop_reason == "target"
    assert m.target_reached and m.noise_rel == 0
    assert len(m.samples_s) >= 40  # min-time 0.5 s at 0.01 s per sample
    assert m.summary.median_s == pytest.approx(1e-3)


def test_noisy_samples_run_to_max_time_and_are_flagged():
    values = [1e-3, 3e-3] * 5000  # bimodal: the median's interval never narrows below 1%
    rule = StoppingRule(target_noise=0.01, min_time_s=0.1, max_time_s=1.0)
    m = measure(SeqTimer(values), rule, clock=FakeClock(0.01))
    assert m.stop_reason == "max-time"
    assert not m.target_reached and m.noise_rel > 0.01
    assert 95 <= len(m.samples_s) <= 101


def test_every_row_has_at_least_min_samples_even_past_max_time():
    rule = StoppingRule(min_time_s=0.0, max_time_s=0.1, min_samples=3)
    m = measure(SeqTimer([0.5]), rule, clock=FakeClock(1.0))  # each sample "takes" 1 s
    assert len(m.samples_s) == 3 and m.stop_reason == "max-time"


def test_max_samples_bound():
    m = measure(SeqTimer([1.0, 2.0] * 100), StoppingRule(min_time_s=0, max_time_s=100, max_samples=7),
                clock=FakeClock(0.001))
    assert len(m.samples_s) == 7 and m.stop_reason == "max-samples"


def test_throttled_samples_are_dropped_and_flagged():
    calls = {"n": 0}

    def throttled():
        calls["n"] += 1
        return calls["n"] % 2 == 0

    m = measure(SeqTimer([1e-3] * 1000), StoppingRule(min_time_s=0.2, max_time_s=0.5), throttle_check=throttled,
                clock=FakeClock(0.03))
    assert m.throttled and m.dropped_samples > 0


def test_a_case_that_only_ever_throttles_keeps_its_samples_flagged():
    m = measure(SeqTimer([1e-3] * 100), StoppingRule(min_time_s=0.0, max_time_s=0.2), throttle_check=lambda: True,
                clock=FakeClock(0.05))
    assert m.throttled and m.dropped_samples == 0 and len(m.samples_s) >= 3


def test_flush_runs_before_every_sample():
    flushes = []
    t = SeqTimer([1e-3] * 100)
    m = measure(t, StoppingRule(min_time_s=0, max_time_s=0.05), flush=lambda: flushes.append(t.i),
                clock=FakeClock(0.01))
    assert len(flushes) == len(m.samples_s)


def test_warm_up_stops_when_two_samples_agree():
    launches, _ = warm_up(SeqTimer([5.0, 2.0, 1.0, 1.01, 1.0]))
    assert launches == 4


@pytest.mark.parametrize("kw", [dict(target_noise=0), dict(target_noise=1.5), dict(min_time_s=3, max_time_s=2),
                                dict(max_time_s=0), dict(min_samples=0)])
def test_bad_rules_are_user_errors(kw):
    with pytest.raises(ConvbenchError):
        StoppingRule(**kw)


class SleepKernel:
    def __init__(self, s):
        self.s = s
        self.runs = 0
        self.syncs = 0

    def run(self):
        self.runs += 1
        time.sleep(self.s)

    def synchronize(self):
        self.syncs += 1


def test_wall_timer_times_one_launch_and_its_sync():
    k = SleepKernel(0.002)
    t = WallTimer(k)
    s = t.sample()
    assert k.runs == 1 and k.syncs == 1 and 0.002 <= s < 0.05


def test_wall_batch_reports_per_launch():
    k = SleepKernel(0.001)
    t = WallBatchTimer(k, 5)
    s = t.sample()
    assert k.runs == 5 and k.syncs == 1 and 0.001 <= s < 0.02 and t.launches == 5


@given(st.floats(min_value=1e-9, max_value=10), st.floats(min_value=1e-5, max_value=1))
@settings(max_examples=50, deadline=None)
def test_launches_for_targets_the_sample_length(est, sample):
    n = launches_for(est, sample, cap=1000)
    assert 1 <= n <= 1000
    if n < 1000 and n > 1:
        assert n * est >= sample
