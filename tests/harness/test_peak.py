"""convbench peak: the measurement (CPU here, CUDA with the gpu marker) and the peak cache."""

import json
import os

import pytest

from convbench.errors import ConvbenchError
from convbench.harness import peak as P


def entry(device="cpu", threads=2, when="2026-01-01T00:00:00Z", host="h1", fp32=1e11):
    return {"device": device, "device_name": "Test", "host": host, "threads": threads,
            "compute_flop_per_s": {"fp32": fp32}, "memory_bytes_per_s": 1e10, "method": {},
            "measured_at": when}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "convbench" / "peaks.json"


def test_cache_path_follows_xdg_and_defaults_to_home(cache, monkeypatch, tmp_path):
    assert P.cache_path() == cache
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert P.cache_path() == tmp_path / "home" / ".cache" / "convbench" / "peaks.json"


def test_round_trip_keyed_by_host_and_device(cache):
    assert P.latest_peaks("cpu", 2, host="h1") is None
    P.save_peaks(entry(threads=2, when="2026-01-01T00:00:00Z", fp32=1.0e11))
    P.save_peaks(entry(threads=1, when="2026-01-02T00:00:00Z", fp32=0.5e11))
    P.save_peaks(entry(threads=2, when="2026-01-03T00:00:00Z", fp32=1.2e11))
    P.save_peaks(entry(threads=2, when="2026-01-04T00:00:00Z", fp32=9e11, host="h2"))
    P.save_peaks(entry(device="cuda:0", threads=0, when="2026-01-05T00:00:00Z", fp32=5e13))
    data = json.loads(cache.read_text())
    assert set(data["hosts"]) == {"h1", "h2"} and set(data["hosts"]["h1"]) == {"cpu", "cuda:0"}
    assert P.latest_peaks("cpu", 2, host="h1")["compute_flop_per_s"]["fp32"] == 1.2e11  # newest, same threads
    assert P.latest_peaks("cpu", 1, host="h1")["compute_flop_per_s"]["fp32"] == 0.5e11
    assert P.latest_peaks("cpu", 7, host="h1")["measured_at"] == "2026-01-03T00:00:00Z"  # else newest
    assert P.latest_peaks("cuda", 4, host="h1")["device"] == "cuda:0"
    assert P.latest_peaks("cpu", 2, host="h3") is None
    assert not list(cache.parent.glob("*.tmp"))  # atomic rewrite leaves no temp file


def test_zero_threads_means_every_cpu_the_process_may_use(cache):
    n = len(os.sched_getaffinity(0))
    assert P.resolve_threads("cpu", 0) == n and P.resolve_threads("cpu", 3) == 3
    P.save_peaks(entry(threads=n, host="h1"))
    assert P.latest_peaks("cpu", 0, host="h1")["threads"] == n


def test_old_entries_are_dropped(cache):
    for i in range(P.KEEP_PER_DEVICE + 5):
        P.save_peaks(entry(when=f"2026-01-01T00:00:{i:02d}Z"))
    kept = json.loads(cache.read_text())["hosts"]["h1"]["cpu"]
    assert len(kept) == P.KEEP_PER_DEVICE and kept[-1]["measured_at"].endswith(f"{P.KEEP_PER_DEVICE + 4:02d}Z")


def test_a_corrupt_cache_warns_on_read_and_refuses_a_write(cache):
    cache.parent.mkdir(parents=True)
    cache.write_text("{broken")
    with pytest.warns(UserWarning, match="is corrupt"):
        assert P.latest_peaks("cpu", 2, host="h1") is None
    with pytest.raises(ConvbenchError, match="is corrupt.*delete it"):
        P.save_peaks(entry())
    with pytest.raises(ConvbenchError, match="no 'measured_at'"):
        P.save_peaks({k: v for k, v in entry().items() if k != "measured_at"})


@pytest.mark.parametrize("kwargs, text", [
    ({"device": "tpu"}, "unknown device"),
    ({"dtypes": ["tf32"]}, "tf32 is a CUDA tensor-core format"),
    ({"dtypes": ["int4"]}, "no GEMM roof for 'int4'"),
    ({"max_time_s": -1}, "max-time"),
    ({"sizes": [4]}, "at least 16"),
])
def test_bad_requests(kwargs, text):
    with pytest.raises(ConvbenchError, match=text):
        P.measure_peaks(**{"device": "cpu", **kwargs})


def test_measure_cpu_peaks():
    pytest.importorskip("torch")
    e = P.measure_peaks("cpu", ["fp32", "int8"], threads=1, max_time_s=2.0, sizes=(128, 256),
                        copy_bytes=32 << 20, backends=("torch",))
    assert set(e) >= {"device", "device_name", "host", "threads", "compute_flop_per_s", "memory_bytes_per_s",
                      "method", "measured_at"}
    assert e["device"] == "cpu" and e["threads"] == 1 and e["device_name"]
    assert set(e["compute_flop_per_s"]) == {"fp32", "int8"}
    assert all(v > 1e8 for v in e["compute_flop_per_s"].values())
    assert e["memory_bytes_per_s"] > 1e8
    fp32 = e["method"]["fp32"]
    assert fp32["timer"] == "wall" and fp32["statistic"] == "fastest sample"
    assert fp32["best_flop_per_s"] == e["compute_flop_per_s"]["fp32"] >= fp32["median_flop_per_s"]
    labels = {c["gemm"] for c in fp32["candidates"]}
    assert {"torch.mm", "torch 1x1 conv (nhwc)", "torch 1x1 conv (native)"} <= labels
    assert e["method"]["int8"]["candidates"][0]["gemm"] == "torch._int_mm"
    assert e["method"]["memory"]["bytes_counted"] == "read + write"
    json.dumps(e)  # the entry is plain JSON


@pytest.mark.gpu
def test_measure_cuda_peaks_under_the_datasheet():
    from convbench.reports.peaks import match_datasheet

    e = P.measure_peaks("cuda", ["fp32", "tf32", "bf16", "int8"], max_time_s=8.0)
    sheet = match_datasheet(e["device_name"])
    for dtype, value in e["compute_flop_per_s"].items():
        assert value > 1e12, dtype
        if sheet is not None:
            assert value < 1.1 * dict(sheet.tflops)[dtype] * 1e12, (dtype, value)
    assert e["compute_flop_per_s"]["tf32"] > e["compute_flop_per_s"]["fp32"]
    assert e["method"]["bf16"]["timer"] in ("cuda-graph", "cuda-event-batch")
    if sheet is not None:
        assert 0.3 * sheet.memory_gb_per_s * 1e9 < e["memory_bytes_per_s"] < 1.1 * sheet.memory_gb_per_s * 1e9
