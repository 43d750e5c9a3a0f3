"""Device modules: the CPU's flush, timers and environment; CUDA answers cleanly without a GPU."""

import json

import pytest

from convbench.errors import ConvbenchError
from convbench.harness import runner
from convbench.harness.devices import cpu, get_device, normalize_device
from convbench.harness.plan import Workload
from convbench.workloads.spec import ConvSpec


def test_cpu_flush_touches_a_buffer_larger_than_the_last_level_cache():
    flush, size = cpu.make_flush()
    flush()
    flush()
    assert size >= min(2 * cpu.last_level_cache_bytes(), 1024**3) and size >= 64 * 1024**2


def test_cpu_environment_names_the_processor():
    env = cpu.environment()
    assert env["model"] and env["logical_cores"] >= 1 and isinstance(env["isa_flags"], list)


def test_unknown_device_and_timer_are_user_errors():
    with pytest.raises(ConvbenchError):
        get_device("tpu:0")
    with pytest.raises(ConvbenchError):
        cpu.make_timer("cuda-graph", object())
    assert normalize_device("cuda") == "cuda:0"


def test_cuda_module_reports_why_when_absent():
    cuda = get_device("cuda")
    reason = cuda.available()
    assert reason is None or "CUDA" in reason or "torch" in reason
    if reason:
        assert cuda.list_devices() == []


def test_cold_cache_run_flushes_before_every_sample(tmp_path, fault_backend):
    spec = ConvSpec(in_channels=4, out_channels=8, input_size=(6, 6), kernel_size=3, padding=1)
    req = runner.RunRequest(workloads=(Workload(spec),), backends=("fault",), algorithms=("ok",),
                            caches=("cold",), min_time_s=0.0, max_time_s=0.3, target_noise=0.5)
    _, outcome, _, _ = runner.run_benchmark(req, tmp_path)
    (row,) = outcome.rows
    assert row["status"] == "ok" and row["cache"] == "cold" and row["timer"] == "wall"
    assert json.loads(row["extra"])["flush_bytes"] >= 64 * 1024**2


@pytest.mark.parametrize("bad", ["cpu:7", "cuda:x"])
def test_malformed_device_names(bad):
    with pytest.raises(ConvbenchError):
        normalize_device(bad)
