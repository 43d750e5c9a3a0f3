"""Synthetic run directories for the report tests, written with the real RunWriter."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from convbench.results.schema import empty_row
from convbench.results.store import RunWriter
from convbench.workloads import parse

CPU_ENV = {
    "model": "Test CPU 9000", "vendor": "GenuineIntel", "family": 6, "physical_cores": 2, "logical_cores": 2,
    "affinity": [0, 1], "isa_flags": ["avx", "avx2", "avx512f", "fma", "amx_bf16", "amx_int8", "amx_tile"],
    "freq_mhz": {"current": 2000.0, "min": 0.0, "max": 0.0},
}


def row(run_id="r", workload="mb1ic64ih56oc64kh3ph1", layer="layer1.0.conv2", backend="torch", dtype="fp32",
        direction="fwd", time=1e-3, low=None, high=None, status="ok", reason="", count=1, device="cpu",
        device_name="Test CPU 9000", threads=0, algorithm="jit:avx512_core", algorithm_requested="default",
        timer="wall", cache="hot", layout="nchw", layout_requested="native", repeat=0, network="resnet50"):
    """One schema row; flops and bytes from the descriptor; CI default +/-1% of the median."""
    spec = parse(workload)
    flops, nbytes = spec.flops(direction), spec.bytes(dtype)
    r = empty_row()
    key = "|".join(map(str, (workload, backend, algorithm_requested, dtype, direction, layout_requested, device,
                             threads, cache, timer, repeat)))
    r.update(
        run_id=run_id, case_id=hashlib.sha256(key.encode()).hexdigest()[:16],
        started_at=datetime(2026, 1, 1, tzinfo=timezone.utc), workload=workload, network=network, layer=layer,
        count=count, dims=spec.dims, kind=spec.kind, backend=backend, backend_version="1.0", algorithm=algorithm,
        algorithm_requested=algorithm_requested, device=device, device_name=device_name, dtype=dtype,
        direction=direction, layout=layout, cache=cache, timer=timer, threads=threads, repeat=repeat,
        status=status, reason=reason, flops=flops, bytes=nbytes, intensity_flop_per_byte=flops / nbytes,
        repro=f"convbench run --workload {workload} --backend {backend} --layout {layout_requested}",
        extra="{}", throttled=False,
    )
    if status == "ok":
        r.update(time_median_s=time, time_min_s=time * 0.98, time_q1_s=time * 0.99, time_q3_s=time * 1.01,
                 time_ci_low_s=low if low is not None else time * 0.99,
                 time_ci_high_s=high if high is not None else time * 1.01, noise_rel=0.01, samples=20,
                 samples_s=[time] * 20, launches_per_sample=1, target_reached=True, stop_reason="target",
                 setup_s=0.01, tflops=flops / time / 1e12, bandwidth_gb_per_s=nbytes / time / 1e9)
    return r


def write_run(root, rows, peaks=None, cpu=CPU_ENV, devices=None, threads=0, state="complete"):
    """A run directory under ``root`` holding ``rows`` (dicts of :func:`row` keyword arguments,
    ``run_id`` filled in), with a CPU environment and ``peaks`` in run.json."""
    env = {"host": "testhost", "python": "3.11", "platform": "Linux", "convbench": "0.1.0",
           "packages": {"torch": "2.13.0"}, "threads": threads, "env": {},
           "devices": {"cpu": dict(cpu), **(devices or {})}, "warnings": ["a <warning> & more"]}
    w = RunWriter.create(root, ["convbench", "run"], {"threads": threads}, env,
                         extra={"peaks": peaks or {}, "backends": {"torch": {"versions": {"torch": "2.13.0"}}},
                                "backends_skipped": {}})
    for spec in rows:
        w.append(row(run_id=w.run_id, **spec))
    w.finish(state)
    return w.path


def cpu_peaks(fp32=200e9, bf16=2e12, memory=20e9, threads=2, device_name="Test CPU 9000"):
    return {"device": "cpu", "device_name": device_name, "host": "testhost", "threads": threads,
            "compute_flop_per_s": {"fp32": fp32, "bf16": bf16}, "memory_bytes_per_s": memory,
            "method": {"fp32": {"gemm": "torch.mm", "shape": "1024x1024x1024", "timer": "wall"},
                       "memory": {"op": "torch copy_", "shape": "1024 MiB", "timer": "wall"}},
            "measured_at": "2026-01-01T00:00:00Z"}
