"""report: a self-contained, escaped HTML page and a Markdown twin, with every section."""

import re

import pytest
from report_helpers import cpu_peaks

from convbench.errors import ConvbenchError
from convbench.reports import report as R
from convbench.reports.compare import load_runs

A = "mb1ic64ih56oc64kh3ph1"
B = "mb1ic256ih14oc256kh3ph1"
EVIL = "<script>alert(1)</script>"


def rows():
    return [
        dict(workload=A, layer=EVIL, time=2e-3, count=3),
        dict(workload=B, layer="layer3.0.conv2", time=1e-3, count=1),
        dict(workload=A, layer=EVIL, backend="onednn", time=1e-3, count=3),
        dict(workload=B, layer="layer3.0.conv2", backend="onednn", time=1e-3, count=1),
        dict(workload="mb1ic512ih7oc2048kh1", layer="layer4.0.conv3", backend="onednn", status="wrong",
             reason="max |error| 5 > bound <1e-3> & more"),
        dict(workload="mb1ic512ih7oc2048kh1", layer="layer4.0.conv3", status="unsupported",
             reason="torch has no <fp4> conv"),
    ]


def test_html_is_self_contained_and_escapes_user_strings(make_run, tmp_path):
    root = tmp_path / 'odd <b>dir</b> & "quotes"'
    run = make_run(rows(), peaks=cpu_peaks(), root=root)
    out = tmp_path / "report.html"
    assert R.write_report(load_runs([str(run)]), out) == [out]
    html = out.read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>dir</b>" not in html and "&lt;b&gt;dir&lt;/b&gt;" in html
    assert "<fp4>" not in html and "&lt;fp4&gt;" in html and "<warning>" not in html
    # self-contained: inline CSS/JS, images as data URIs, nothing fetched
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "<script src" not in html and "@import" not in html
    assert html.count("data:image/png;base64,") == 1
    # only the page's own sorting script, nothing the data injected
    assert html.count("<script>") == 1
    for section in ("Summary", "Runs", "Comparisons", "Rooflines", "Per-network breakdown",
                    "Rows that were unsupported, wrong or failed"):
        assert section in html
    assert "faster" in html and "geomean time ratio" in html and "2 cores x 2 GHz" in html
    assert "max |error| 5 &gt; bound &lt;1e-3&gt; &amp; more" in html


def test_network_breakdown_orders_layers_by_time_times_count(make_run):
    run = make_run(rows(), peaks=cpu_peaks())
    report = R.build_report(load_runs([str(run)]))
    torch = next(t for t in report.networks if "torch" in t.title)
    assert [r[0] for r in torch.rows] == [EVIL, "layer3.0.conv2"]  # 3 x 2 ms before 1 x 1 ms
    assert [r[5] for r in torch.rows] == ["85.7%", "14.3%"] and torch.rows[-1][6] == "100.0%"
    assert "total 7 ms over 2 distinct shapes (4 layers); 1 shape(s) take half of the time" in torch.lines[0]
    assert any("no ok row" in line for line in torch.lines)  # layer4.0.conv3 was unsupported
    assert [r[7] for r in report.failures.rows] == ["wrong", "unsupported"]


def test_several_runs_are_compared_by_run(make_run, tmp_path):
    r1 = make_run(rows()[:2], root=tmp_path / "a")
    r2 = make_run([dict(workload=A, layer=EVIL, time=4e-3, count=3), dict(workload=B, time=1e-3)], root=tmp_path / "b")
    report = R.build_report(load_runs([str(r1), str(r2)]))
    titles = [t.title for t in report.comparisons]
    assert titles[0].startswith("Comparison of runs") and len(report.runs) == 2
    assert any("slower" in line for line in report.summary)


def test_a_run_without_ok_rows_still_gets_a_page(make_run, tmp_path):
    run = make_run([dict(workload=A, status="crashed", reason="SIGSEGV in <libfoo>")])
    out = tmp_path / "r.html"
    R.write_report(load_runs([str(run)]), out)
    html = out.read_text()
    assert "SIGSEGV in &lt;libfoo&gt;" in html and "no ok rows in" in html
    assert "data:image/png" not in html


def test_markdown_escapes_and_writes_its_images_beside_it(make_run, tmp_path):
    run = make_run(rows(), peaks=cpu_peaks())
    out = tmp_path / "pr.md"
    written = R.write_report(load_runs([str(run)]), out)
    assert written[0] == out and written[1].name == "pr-roofline-cpu-fp32.png" and written[1].exists()
    md = out.read_text()
    assert EVIL not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "](pr-roofline-cpu-fp32.png)" in md and "max \\|error\\| 5 &gt; bound" in md
    assert "## Comparisons" in md and "| layer |" in md
    for line in md.splitlines():
        if line.startswith("|") and "---" not in line:
            assert line.rstrip().endswith("|")


def test_output_and_format_errors(make_run, tmp_path):
    runs = load_runs([str(make_run(rows()))])
    with pytest.raises(ConvbenchError, match="does not exist"):
        R.write_report(runs, tmp_path / "nodir" / "r.html")
    with pytest.raises(ConvbenchError, match="format"):
        R.write_report(runs, tmp_path / "r.html", fmt="pdf")
