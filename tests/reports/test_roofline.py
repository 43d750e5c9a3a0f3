"""roofline: points, ceilings, points above ceilings, missing peaks, and a real run under its roofs."""

import pytest
from report_helpers import cpu_peaks

from convbench.errors import ConvbenchError
from convbench.reports import roofline as R
from convbench.reports.compare import load_runs

A = "mb1ic64ih56oc64kh3ph1"  # 231 MFLOP
DW = "g144mb1ic144ih56oc144kh3ph1"


def test_points_ceilings_and_extremes(make_run, tmp_path):
    rows = [dict(workload=A, time=2e-3), dict(workload=DW, layer="features.3.conv.1.0", time=1e-3),
            dict(workload=A, backend="onednn", time=1.5e-3), dict(workload=A, dtype="bf16", time=1e-4)]
    data = R.roofline(load_runs([make_run(rows, peaks=cpu_peaks(fp32=200e9, memory=20e9))]), dtype="fp32")
    assert data.device == "cpu" and len(data.points) == 3
    kinds = {c.kind: c for c in data.ceilings}
    assert set(kinds) == {"measured", "formula"}
    assert kinds["measured"].ridge == pytest.approx(10.0) and kinds["formula"].compute_flop_per_s == pytest.approx(256e9)
    assert not data.warnings and not data.above()
    worst, best = data.extremes()
    assert worst.layer == "features.3.conv.1.0" and best.backend == "onednn"
    for p in data.points:
        assert p.flop_per_s <= kinds["measured"].compute_flop_per_s
    png = R.save(data, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = R.save(data, tmp_path / "r.svg").read_text()
    assert "<svg" in svg and "features.3.conv.1.0" in svg


def test_a_point_above_the_measured_ceiling_is_flagged(make_run):
    rows = [dict(workload=A, time=1e-3), dict(workload=A, backend="onednn", time=1e-4)]  # 2.3 TFLOP/s
    data = R.roofline(load_runs([make_run(rows, peaks=cpu_peaks(fp32=1e12))]))
    assert [p.backend for p in data.above("measured")] == ["onednn"]
    text = " ".join(data.warnings)
    assert "above the measured fp32 compute ceiling" in text and "bug in either figure" in text
    assert "above the fp32 formula peak" in text


def test_hot_cache_points_above_the_memory_slope_are_noted_cold_ones_warned(make_run):
    rows = [dict(workload=DW, time=1e-4), dict(workload=DW, backend="onednn", time=1e-4, cache="cold")]
    data = R.roofline(load_runs([make_run(rows, peaks=cpu_peaks(fp32=1e12, memory=1e9))]))
    assert any("hot-cache point(s) sit above the measured memory slope" in n for n in data.notes)
    assert any("cold-cache point(s) above the measured memory slope" in w for w in data.warnings)


def test_a_device_without_a_known_peak_plots_without_ceilings(make_run):
    rows = [dict(workload=A, time=1e-3, device="cuda:0", device_name="Mystery GPU", timer="cuda-graph")]
    data = R.roofline(load_runs([make_run(rows, devices={"cuda:0": {"name": "Mystery GPU"}})]), device="cuda")
    assert data.device == "cuda:0" and not data.ceilings
    assert any("no datasheet peak for 'Mystery GPU'" in w for w in data.warnings)
    assert any("no measured peak for cuda:0" in w for w in data.warnings)
    assert R.render(data, "png")[:4] == b"\x89PNG"


def test_datasheet_ceiling_for_a_known_gpu(make_run):
    rows = [dict(workload=A, dtype="fp16", time=1e-6, device="cuda:0", device_name="NVIDIA H100 80GB HBM3")]
    data = R.roofline(load_runs([make_run(rows)]))
    (c,) = data.ceilings
    assert c.kind == "datasheet" and c.compute_flop_per_s == pytest.approx(989.5e12)
    assert c.ridge == pytest.approx(989.5e12 / 3.35e12)


def test_choices_and_errors(make_run, tmp_path):
    rows = [dict(workload=A, time=1e-3), dict(workload=A, dtype="bf16", time=1e-3),
            dict(workload=A, time=1e-3, device="cuda:0", device_name="NVIDIA L4")]
    runs = load_runs([make_run(rows)])
    with pytest.raises(ConvbenchError, match=r"several devices \(cpu, cuda:0\); choose one with --device"):
        R.roofline(runs)
    with pytest.raises(ConvbenchError, match=r"several dtypes \(fp32, bf16\); choose one with --dtype"):
        R.roofline(runs, device="cpu")
    with pytest.raises(ConvbenchError, match="dtype: int8 has no ok rows"):
        R.roofline(runs, device="cpu", dtype="int8")
    with pytest.raises(ConvbenchError, match=r"^no ok rows in"):
        R.roofline(load_runs([make_run([dict(workload=A, status="crashed", reason="SIGSEGV")], root=tmp_path / "x")]))
    with pytest.raises(ConvbenchError, match=r"\.png or \.svg"):
        R.save(R.roofline(runs, device="cuda:0"), tmp_path / "r.jpg")


def test_user_strings_cannot_break_the_plot(make_run):
    rows = [dict(workload=A, time=1e-3, layer="$\\frac{1}{0}$ _x <b>", backend="_hidden")]
    data = R.roofline(load_runs([make_run(rows)]))
    assert R.render(data, "svg").startswith(b"<?xml")


def test_a_real_run_sits_under_its_measured_ceilings(tmp_path, monkeypatch):
    """Measure the fp32 roof, run two small layers with it in run.json, and check every
    point sits under the measured compute ceiling (one thread for both, as the design asks)."""
    pytest.importorskip("torch")
    from convbench.harness import runner
    from convbench.harness.peak import latest_peaks, measure_peaks, save_peaks
    from convbench.harness.plan import workloads_from

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    entry = measure_peaks("cpu", ["fp32"], threads=1, max_time_s=3.0, sizes=(256, 512),
                          copy_bytes=64 << 20, backends=("torch",))
    save_peaks(entry)
    assert latest_peaks("cpu", 1)["compute_flop_per_s"]["fp32"] == entry["compute_flop_per_s"]["fp32"]
    request = runner.RunRequest(
        workloads=tuple(workloads_from(descriptors=['mb1ic32ih28oc32kh3ph1n"small"',
                                                    'g32mb1ic32ih28oc32kh3ph1n"depthwise"'])),
        backends=("torch",), threads=1, min_time_s=0.05, max_time_s=0.3)
    path, outcome, _, meta = runner.run_benchmark(request, tmp_path / "results")
    assert meta["peaks"]["compute_flop_per_s"]["fp32"] == entry["compute_flop_per_s"]["fp32"]
    data = R.roofline(load_runs([str(path)]))
    measured = [c for c in data.ceilings if c.kind == "measured"]
    assert measured and measured[0].compute_flop_per_s == entry["compute_flop_per_s"]["fp32"]
    assert len(data.points) == 2
    assert not data.above("measured"), data.warnings
    for p in data.points:
        assert p.flop_per_s < measured[0].compute_flop_per_s
