"""compare: matching, ratios with their noise, verdicts, count-weighted geomeans, output formats."""

import json
import math

import pytest
from report_helpers import cpu_peaks

from convbench.errors import ConvbenchError
from convbench.reports import compare as C

A = "mb1ic64ih56oc64kh3ph1"
B = "mb1ic256ih14oc256kh3ph1"
D = "mb1ic512ih7oc2048kh1"


def two_backends(**onednn):
    """torch 1 ms on A and B; onednn's times on them given as keyword arguments."""
    rows = [dict(workload=A, layer="layer1.0.conv2", time=1e-3), dict(workload=B, layer="layer3.0.conv2", time=2e-3)]
    for w, layer in ((A, "layer1.0.conv2"), (B, "layer3.0.conv2")):
        t, low, high = onednn[w]
        rows.append(dict(workload=w, layer=layer, backend="onednn", time=t, low=low, high=high,
                         algorithm="brgconv:avx512_core", layout="blocked:nChw16c"))
    return rows


def test_backends_match_although_algorithm_and_layout_that_ran_differ(make_run):
    run = make_run(two_backends(**{A: (0.5e-3, 0.495e-3, 0.505e-3), B: (2.02e-3, 2.0e-3, 2.04e-3)}))
    comp = C.compare(C.load_runs([run]))
    assert comp.axis == "backend" and comp.baseline == "torch" and comp.candidates == ("onednn",)
    by = {c.workload: c for c in comp.cases}
    assert set(by) == {A, B} and not comp.gaps
    a = by[A]
    assert a.ratio == pytest.approx(0.5) and a.verdict == "faster" and a.ratio_high < 1
    assert a.baseline.algorithm == "jit:avx512_core" and a.candidate.algorithm == "brgconv:avx512_core"
    assert by[B].verdict == "same"  # 1.01 with an interval inside 1 +/- 5%


@pytest.mark.parametrize("cand, expected", [
    ((2.0e-3, 1.98e-3, 2.02e-3), "slower"),
    ((0.5e-3, 0.49e-3, 0.51e-3), "faster"),
    ((1.0e-3, 0.99e-3, 1.01e-3), "same"),
    ((1.0e-3, 0.5e-3, 2.0e-3), "unclear"),  # noisy: neither side of 1, wider than the band
])
def test_verdicts_follow_the_ratio_interval(make_run, cand, expected):
    run = make_run(two_backends(**{A: cand, B: cand}))
    comp = C.compare(C.load_runs([run]))
    assert {c.workload: c.verdict for c in comp.cases}[A] == expected


def test_verdict_threshold_widens_same(make_run):
    run = make_run(two_backends(**{A: (1.08e-3, 1.07e-3, 1.09e-3), B: (2e-3, 1.99e-3, 2.01e-3)}))
    runs = C.load_runs([run])
    assert {c.workload: c.verdict for c in C.compare(runs).cases}[A] == "slower"
    assert {c.workload: c.verdict for c in C.compare(runs, threshold=0.0).cases}[B] == "unclear"
    with pytest.raises(ConvbenchError, match="threshold"):
        C.compare(runs, threshold=1.5)


def test_geomean_is_weighted_by_count(make_run):
    rows = [dict(workload=A, time=1e-3, count=3), dict(workload=B, time=1e-3, count=1),
            dict(workload=A, backend="onednn", time=2e-3, count=3), dict(workload=B, backend="onednn", time=0.5e-3, count=1)]
    comp = C.compare(C.load_runs([make_run(rows)]))
    s = comp.summaries[0]
    assert s.geomean_ratio == pytest.approx(math.exp((3 * math.log(2) + math.log(0.5)) / 4))  # sqrt(2)
    assert s.weight == 4 and s.cases == 2 and dict(s.verdicts)["slower"] == 1 and dict(s.verdicts)["faster"] == 1
    assert s.speedup == pytest.approx(1 / math.sqrt(2))


def test_compare_runs_by_default_with_baseline_by_id_prefix_or_directory(make_run, tmp_path):
    r1 = make_run([dict(workload=A, time=1e-3), dict(workload=B, time=1e-3)], root=tmp_path / "a")
    r2 = make_run([dict(workload=A, time=1.5e-3), dict(workload=B, time=1e-3)], root=tmp_path / "b")
    runs = C.load_runs([str(r1), str(r2)])
    comp = C.compare(runs)
    ids = runs.run_ids
    assert comp.axis == "run" and comp.baseline == ids[0] and {c.verdict for c in comp.cases} == {"slower", "same"}
    for name in (ids[1], ids[1][:5], r2.name, str(r2)):
        assert C.compare(runs, baseline=name).baseline == ids[1]
    with pytest.raises(ConvbenchError, match="baseline: 'nosuch' is not a run"):
        C.compare(runs, baseline="nosuch")
    # the same run named twice is one run
    assert C.load_runs([str(r1), str(r1)]).run_ids == (ids[0],)


def test_gaps_list_cases_ok_on_one_side_with_the_reason(make_run):
    rows = [dict(workload=A, time=1e-3), dict(workload=B, time=1e-3),
            dict(workload=A, backend="onednn", time=1e-3),
            dict(workload=B, backend="onednn", status="wrong", reason="max error 3 > bound 1e-5"),
            dict(workload=D, backend="onednn", time=1e-3, algorithm_requested="winograd")]
    comp = C.compare(C.load_runs([make_run(rows)]))
    assert [c.workload for c in comp.cases] == [A]
    gaps = {(g.workload, g.candidate_status, g.baseline_status): g for g in comp.gaps}
    assert (B, "wrong", "ok") in gaps and "max error" in gaps[(B, "wrong", "ok")].reason
    assert (D, "ok", "missing") in gaps
    assert "winograd" in C.gap_label(comp, gaps[(D, "ok", "missing")])


def test_repeats_combine_into_one_side(make_run):
    rows = [dict(workload=A, time=1e-3, repeat=0), dict(workload=A, time=1.2e-3, repeat=1),
            dict(workload=A, time=3e-3, repeat=2), dict(workload=A, backend="onednn", time=1e-3)]
    comp = C.compare(C.load_runs([make_run(rows)]))
    (case,) = comp.cases
    assert case.baseline.rows == 3 and case.baseline.time_s == pytest.approx(1.2e-3)
    assert case.baseline.ci_low_s == pytest.approx(0.99e-3) and case.baseline.ci_high_s == pytest.approx(3.03e-3)
    assert any("--repeat" in n for n in comp.notes)


def test_percent_of_roof_uses_measured_peaks_else_the_cpu_formula(make_run):
    rows = [dict(workload=A, time=1e-3), dict(workload=A, backend="onednn", time=0.5e-3)]
    flops = C.load_runs([make_run(rows)]).rows["flops"].iloc[0]
    measured = C.compare(C.load_runs([make_run(rows, peaks=cpu_peaks(fp32=1e12))]))
    (c,) = measured.cases
    assert c.baseline.peak_kind == "measured" and c.baseline.peak_fraction == pytest.approx(flops / 1e-3 / 1e12)
    formula = C.compare(C.load_runs([make_run(rows)]))
    (c,) = formula.cases
    assert c.candidate.peak_kind == "formula"
    assert c.candidate.peak_fraction == pytest.approx(flops / 0.5e-3 / (2 * 2.0e9 * 64))
    header, _ = C.table_rows(formula)
    assert "% formula roof base" in header


def test_by_dtype_and_by_algorithm(make_run):
    rows = [dict(workload=A, time=1e-3), dict(workload=A, dtype="bf16", time=0.25e-3),
            dict(workload=A, backend="onednn", time=1e-3),
            dict(workload=A, backend="onednn", algorithm_requested="winograd", time=0.8e-3)]
    runs = C.load_runs([make_run(rows)])
    dt = C.compare(runs, by="dtype")
    assert dt.baseline == "fp32" and [(c.field("backend"), c.ratio) for c in dt.cases] == [("torch", 0.25)]
    alg = C.compare(runs, by="algorithm")
    assert alg.baseline == "default" and alg.candidates == ("winograd",)
    assert [c.ratio for c in alg.cases] == [pytest.approx(0.8)] and alg.cases[0].field("backend") == "onednn"


@pytest.mark.parametrize("kwargs, text", [
    ({"by": "colour"}, "unknown axis 'colour'"),
    ({"by": "device"}, "needs at least two values"),
    ({"by": "run"}, "needs at least two values"),
])
def test_bad_axes(make_run, kwargs, text):
    runs = C.load_runs([make_run(two_backends(**{A: (1e-3, 1e-3, 1e-3), B: (1e-3, 1e-3, 1e-3)}))])
    with pytest.raises(ConvbenchError, match=text):
        C.compare(runs, **kwargs)


def test_no_ok_rows_and_no_match_are_errors(make_run, tmp_path):
    bad = make_run([dict(workload=A, status="error", reason="boom")], root=tmp_path / "bad")
    with pytest.raises(ConvbenchError, match=r"^no ok rows in .*bad"):
        C.compare(C.load_runs([bad]))
    r1 = make_run([dict(workload=A, time=1e-3, threads=1)], root=tmp_path / "x")
    r2 = make_run([dict(workload=A, time=1e-3, threads=2)], root=tmp_path / "y")
    with pytest.raises(ConvbenchError, match=r"no ok case .* \(the cases differ in: threads\)"):
        C.compare(C.load_runs([str(r1), str(r2)]))


def test_workload_key_and_requested_layout():
    assert C.workload_key('mb1ic64ih56oc64kh3ph1n"layer1.0.conv1"') == "mb1ic64ih56oc64kh3ph1"
    assert C.workload_key("mb1ic64ih56oc64kh3ph1") == "mb1ic64ih56oc64kh3ph1"
    assert C.requested_layout({"layout": "blocked:nChw16c", "repro": "convbench run --layout native --x y"}) == "native"
    assert C.requested_layout({"layout": "nhwc", "repro": None}) == "nhwc"
    assert C.requested_layout({"layout": "x", "layout_requested": "nchw"}) == "nchw"


def test_formats(make_run):
    rows = two_backends(**{A: (0.5e-3, 0.49e-3, 0.51e-3), B: (2e-3, 1.99e-3, 2.01e-3)})
    rows[0]["layer"] = "a|b<c>*_x"
    comp = C.compare(C.load_runs([make_run(rows)]))
    data = json.loads(C.to_json(comp))
    assert data["axis"] == "backend" and len(data["cases"]) == 2 and data["summary"][0]["candidate"] == "onednn"
    assert {"ratio", "ratio_low", "ratio_high", "verdict", "baseline_time_s", "candidate_peak_fraction"} <= set(data["cases"][0])
    csv_text = C.to_csv(comp)
    assert csv_text.splitlines()[0].startswith("workload,layer,network,count,")
    assert len(csv_text.splitlines()) == 3
    md = C.to_markdown(comp)
    assert "a\\|b&lt;c&gt;\\*\\_x" in md and "<c>" not in md
    assert md.count("\n|") >= 4 and "geomean time ratio" in md


def test_rich_table_escapes_markup(make_run):
    from rich.console import Console

    rows = two_backends(**{A: (0.5e-3, 0.49e-3, 0.51e-3), B: (2e-3, 1.99e-3, 2.01e-3)})
    rows[0]["layer"] = "[bold]layer[/bold]"
    comp = C.compare(C.load_runs([make_run(rows)]))
    console = Console(width=250, record=True)
    console.print(C.render_table(comp))
    assert "[bold]layer[/bold]" in console.export_text()


def test_by_device_matches_each_devices_default_timer(make_run):
    rows = [dict(workload=A, time=1e-3),
            dict(workload=A, time=1e-5, device="cuda:0", device_name="NVIDIA L4", timer="cuda-graph")]
    comp = C.compare(C.load_runs([make_run(rows)]), by="device", baseline="cpu")
    (case,) = comp.cases
    assert comp.candidates == ("cuda:0",) and case.ratio == pytest.approx(0.01) and case.verdict == "faster"
    assert case.candidate.peak_kind == "datasheet"
    assert C.requested_timer({"repro": "convbench run --timer cuda-event --x"}) == "cuda-event"
    assert C.requested_timer({"repro": "convbench run"}) == "default"


def test_zero_threads_matches_the_resolved_count_of_its_run(make_run, tmp_path):
    r0 = make_run([dict(workload=A, time=1e-3, threads=0)], root=tmp_path / "zero")  # affinity [0, 1]
    r2 = make_run([dict(workload=A, time=1e-3, threads=2)], root=tmp_path / "two")
    (case,) = C.compare(C.load_runs([str(r0), str(r2)])).cases
    assert case.field("threads") == 2 and case.verdict == "same"
