"""Datasheet matching, the CPU formula, and which roof a run's rows are measured against."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convbench.reports import peaks as P


@pytest.mark.parametrize("name, expected", [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
    ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
    ("NVIDIA H100 NVL", "NVIDIA H100 NVL"),
    ("NVIDIA H200", "NVIDIA H200 SXM"),
    ("NVIDIA H200 NVL", "NVIDIA H200 NVL"),
    ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 SXM 40GB"),
    ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM 80GB"),
    ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 PCIe 40GB"),
    ("NVIDIA A100 80GB PCIe", "NVIDIA A100 PCIe 80GB"),
    ("NVIDIA L4", "NVIDIA L4"),
    ("NVIDIA L40S", "NVIDIA L40S"),
    ("AMD Instinct MI300X", "AMD Instinct MI300X"),
    ("NVIDIA L40", None),  # not L4, not L40S
    ("NVIDIA GH200 480GB", None),  # a different product, not an H200
    ("Intel(R) Xeon(R) Processor", None),
    ("", None),
])
def test_device_names_match_their_datasheet_row(name, expected):
    entry = P.match_datasheet(name)
    assert (entry.name if entry else None) == expected


def test_every_datasheet_row_has_a_source_and_dense_figures_that_hang_together():
    rows = P.datasheet_table()
    assert {r.name for r in rows} >= {"NVIDIA A100 SXM 40GB", "NVIDIA A100 SXM 80GB", "NVIDIA H100 SXM",
                                       "NVIDIA H100 PCIe", "NVIDIA H200 SXM", "NVIDIA L4", "NVIDIA L40S",
                                       "AMD Instinct MI300X"}
    for r in rows:
        t = dict(r.tflops)
        assert r.source and any(year in r.source for year in ("2020", "2021", "2022", "2023", "2024")), r.name
        assert set(t) == {"fp32", "tf32", "fp16", "bf16", "int8"} and r.memory_gb_per_s > 0, r.name
        assert t["fp32"] < t["tf32"] < t["fp16"] == t["bf16"] < t["int8"], r.name
        # dense int8 is twice dense fp16 on all of these (a sparsity figure would break it)
        assert t["int8"] == pytest.approx(2 * t["fp16"], rel=0.02), r.name
    h100 = P.match_datasheet("NVIDIA H100 80GB HBM3").peakset("cuda:0")
    assert h100.flop_per_s("bf16") == pytest.approx(989.5e12) and h100.memory_bytes_per_s == pytest.approx(3.35e12)
    assert h100.kind == "datasheet" and "Datasheet" in h100.source


AVX512_AMX = ["avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"]


@pytest.mark.parametrize("dtype, flags, vendor, family, rate", [
    ("fp32", AVX512_AMX, "GenuineIntel", 6, 64),
    ("fp32", ["avx", "avx2", "fma"], "GenuineIntel", 6, 32),
    ("fp32", ["avx"], "GenuineIntel", 6, 16),
    ("fp32", ["avx512f", "avx2", "fma"], "AuthenticAMD", 25, 32),  # Zen 4: 256-bit datapath
    ("fp32", ["avx512f", "avx2", "fma"], "AuthenticAMD", 26, 64),  # Zen 5
    ("bf16", AVX512_AMX, "GenuineIntel", 6, 1024),
    ("bf16", ["avx512f", "avx512_bf16", "fma", "avx2"], "GenuineIntel", 6, 128),
    ("bf16", ["avx512f", "fma", "avx2"], "GenuineIntel", 6, 64),  # no native bf16: fp32 rate
    ("int8", AVX512_AMX, "GenuineIntel", 6, 2048),
    ("int8", ["avx512f", "avx512_vnni", "fma", "avx2"], "GenuineIntel", 6, 256),
    ("int8", ["avx512f", "avx512_vnni", "fma", "avx2"], "AuthenticAMD", 25, 128),
    ("int8", ["avx2", "fma", "avx_vnni"], "GenuineIntel", 6, 128),
    ("fp16", ["avx512f", "avx512_fp16", "fma", "avx2"], "GenuineIntel", 6, 128),
    ("fp16", ["avx512f", "amx_fp16", "fma"], "GenuineIntel", 6, 1024),
])
def test_cpu_flop_per_cycle_rules(dtype, flags, vendor, family, rate):
    r = P.cpu_rate(dtype, flags, vendor, family)
    assert r is not None and r.flop_per_cycle == rate and r.why


@pytest.mark.parametrize("dtype, flags", [
    ("tf32", AVX512_AMX), ("int4", AVX512_AMX), ("fp32", ["asimd", "neon"]), ("int8", ["avx2", "fma"]),
])
def test_no_rule_means_no_figure(dtype, flags):
    assert P.cpu_rate(dtype, flags, "GenuineIntel", 6) is None


def _cpu(cores=2, logical=None, mhz_max=0.0, mhz_cur=2000.0, flags=AVX512_AMX, affinity=None):
    logical = logical or cores
    return {"model": "Test CPU", "vendor": "GenuineIntel", "family": 6, "physical_cores": cores,
            "logical_cores": logical, "affinity": affinity if affinity is not None else list(range(logical)),
            "isa_flags": flags, "freq_mhz": {"current": mhz_cur, "min": 0.0, "max": mhz_max}}


def test_cpu_formula_states_each_factor():
    ps, why = P.cpu_formula(_cpu(), threads=0)
    assert why == "" and ps.kind == "formula"
    assert ps.flop_per_s("fp32") == pytest.approx(2 * 2.0e9 * 64)
    assert ps.flop_per_s("int8") == pytest.approx(2 * 2.0e9 * 2048)
    note = ps.note("fp32")
    assert "2 cores x 2 GHz" in note and "64 FLOP/cycle/core" in note and "current clock" in note
    assert "256.0 GFLOP/s" in note and ps.memory_bytes_per_s is None
    assert "tf32" not in ps.dtypes


def test_cpu_formula_counts_the_cores_the_threads_use_and_prefers_the_max_clock():
    one, _ = P.cpu_formula(_cpu(cores=8, mhz_max=3000.0), threads=1)
    assert one.flop_per_s("fp32") == pytest.approx(1 * 3.0e9 * 64) and "max clock" in one.note("fp32")
    smt, _ = P.cpu_formula(_cpu(cores=4, logical=8), threads=8)  # SMT threads add no FMA units
    assert smt.flop_per_s("fp32") == pytest.approx(4 * 2.0e9 * 64)
    pinned, _ = P.cpu_formula(_cpu(cores=8, affinity=[0, 1, 2]), threads=0)
    assert pinned.flop_per_s("fp32") == pytest.approx(3 * 2.0e9 * 64)


@pytest.mark.parametrize("env, text", [
    (None, "no CPU environment"),
    ({"unavailable": "x"}, "no CPU environment"),
    (_cpu(mhz_cur=0.0), "no CPU clock"),
    (_cpu(flags=["asimd"]), "no FLOP/cycle rule"),
])
def test_cpu_formula_says_why_it_has_no_figure(env, text):
    ps, why = P.cpu_formula(env, 0)
    assert ps is None and text in why


@given(cores=st.integers(1, 256), threads=st.integers(0, 512), mhz=st.floats(500, 6000))
def test_cpu_formula_is_cores_times_clock_times_rate(cores, threads, mhz):
    ps, _ = P.cpu_formula(_cpu(cores=cores, mhz_max=mhz), threads)
    used = min(threads if threads else cores, cores)
    for dtype, rate in (("fp32", 64), ("bf16", 1024), ("int8", 2048)):
        assert ps.flop_per_s(dtype) == pytest.approx(used * mhz * 1e6 * rate)


def test_measured_peaks_from_run_json_dict_or_list():
    entry = {"device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3", "compute_flop_per_s": {"bf16": 7.8e14},
             "memory_bytes_per_s": 3.0e12, "method": {"bf16": {"gemm": "torch.mm", "shape": "8192x8192x8192",
                                                              "timer": "cuda-graph"}},
             "measured_at": "2026-01-01T00:00:00Z", "host": "h", "threads": 16}
    for peaks in (entry, [dict(entry, device="cpu", device_name="CPU"), entry]):
        ps = P.measured_for(peaks, "cuda:0", "NVIDIA H100 80GB HBM3")
        assert ps.kind == "measured" and ps.flop_per_s("bf16") == 7.8e14 and ps.memory_bytes_per_s == 3.0e12
        assert "torch.mm 8192x8192x8192" in ps.note("bf16")
    assert P.measured_for(entry, "cuda", "") is not None  # cuda means cuda:0
    assert P.measured_for(entry, "cuda:1", "") is None
    assert P.measured_for(entry, "cuda:0", "NVIDIA L4") is None  # another GPU under the same index
    assert P.measured_for({}, "cpu") is None and P.measured_for(None, "cpu") is None


def test_roofs_prefer_measured_and_name_what_is_missing():
    meta = {"run_id": "abc", "settings": {"threads": 0},
            "environment": {"devices": {"cpu": _cpu(), "cuda:0": {"name": "Mystery GPU"}}},
            "peaks": {"device": "cpu", "device_name": "Test CPU", "compute_flop_per_s": {"fp32": 1e11}}}
    cpu = P.roofs_for_run(meta, "cpu", "Test CPU")
    value, ps = cpu.compute("fp32")
    assert value == 1e11 and ps.kind == "measured" and not cpu.missing
    assert cpu.compute("bf16")[1].kind == "formula"  # no measured bf16: the formula's
    gpu = P.roofs_for_run(meta, "cuda:0", "Mystery GPU")
    assert gpu.compute("fp16") is None and gpu.memory() is None
    assert any("no datasheet peak for 'Mystery GPU'" in m for m in gpu.missing)
    assert any("no measured peak for cuda:0" in m for m in gpu.missing)
    h100 = P.roofs_for_run(meta, "cuda:0", "NVIDIA H100 80GB HBM3")
    assert h100.compute("fp16")[1].kind == "datasheet" and h100.memory()[0] == pytest.approx(3.35e12)
