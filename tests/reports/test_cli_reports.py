"""The report commands through click's CliRunner: help, outputs, and one-line errors."""

import json

import pytest
from click.testing import CliRunner
from report_helpers import cpu_peaks

from convbench.cli import main

A = "mb1ic64ih56oc64kh3ph1"
B = "mb1ic256ih14oc256kh3ph1"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, text):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("convbench: error:") and text in lines[0], lines
    assert "Traceback" not in result.output


@pytest.fixture
def run(make_run):
    return make_run([dict(workload=A, time=2e-3, count=3), dict(workload=B, time=1e-3),
                     dict(workload=A, backend="onednn", time=1e-3, count=3), dict(workload=B, backend="onednn", time=1e-3),
                     dict(workload=B, backend="onednn", dtype="bf16", status="unsupported", reason="no bf16")],
                    peaks=cpu_peaks())


@pytest.mark.parametrize("cmd", ["peak", "compare", "roofline", "report"])
def test_help(cmd):
    r = invoke(cmd, "--help")
    assert r.exit_code == 0 and "Usage:" in r.output and len(r.output) > 300


def test_compare_formats(run):
    r = invoke("compare", run)
    assert r.exit_code == 0 and "faster" in r.output and "geomean time ratio" in r.output
    data = json.loads(invoke("compare", run, "--format", "json").output)
    assert data["axis"] == "backend" and data["summary"][0]["cases"] == 2
    csv_out = invoke("compare", run, "--format", "csv").output
    assert csv_out.startswith("workload,layer,network,count") and len(csv_out.splitlines()) == 3
    md = invoke("compare", run, "--format", "markdown", "--baseline", "onednn", "--threshold", "10%").output
    assert "baseline onednn" in md and "±10%" in md


def test_compare_errors(run, make_run, tmp_path):
    one_line_error(invoke("compare", tmp_path / "nosuch"), "does not exist")
    one_line_error(invoke("compare", run, "--baseline", "tf"), "baseline: 'tf' is not a backend")
    one_line_error(invoke("compare", run, "--threshold", "lots"), "threshold")
    one_line_error(invoke("compare", run, "--by", "run"), "needs at least two values")
    bad = make_run([dict(workload=A, status="error", reason="boom")], root=tmp_path / "bad")
    one_line_error(invoke("compare", bad), "no ok rows in")
    corrupt = make_run([dict(workload=A, time=1e-3)], root=tmp_path / "corrupt")
    (corrupt / "run.json").write_text("{not json")
    one_line_error(invoke("compare", corrupt), "is corrupt")
    other = make_run([dict(workload=A, time=1e-3)], root=tmp_path / "schema")
    text = (other / "run.json").read_text().replace('"schema_version": 1', '"schema_version": 99')
    (other / "run.json").write_text(text)
    one_line_error(invoke("compare", run, other), "schema version 99")


def test_roofline_writes_the_plot_and_warns(run, make_run, tmp_path):
    out = tmp_path / "roof.svg"
    r = invoke("roofline", run, "--dtype", "fp32", "-o", out)
    assert r.exit_code == 0 and out.read_text().lstrip().startswith("<?xml") and "4 points" in r.output
    gpu = make_run([dict(workload=A, time=1e-3, device="cuda:0", device_name="Mystery GPU")], root=tmp_path / "gpu")
    r = invoke("roofline", gpu, "-o", tmp_path / "g.png")
    assert r.exit_code == 0 and "warning: no datasheet peak for 'Mystery GPU'" in r.stderr


def test_roofline_errors(run, make_run, tmp_path):
    one_line_error(invoke("roofline", run, "--device", "cuda", "-o", tmp_path / "x.png"), "device: cuda:0 has no ok rows")
    one_line_error(invoke("roofline", run, "-o", tmp_path / "x.gif"), ".png or .svg")
    bad = make_run([dict(workload=A, status="timeout", reason="slow")], root=tmp_path / "bad")
    one_line_error(invoke("roofline", bad, "-o", tmp_path / "x.png"), "no ok rows in")
    r = invoke("roofline", run)
    assert r.exit_code == 2 and "-o" in r.output


def test_report_html_md_and_stdout(run, make_run, tmp_path):
    out = tmp_path / "r.html"
    r = invoke("report", run, "-o", out)
    assert r.exit_code == 0 and out.exists() and "wrote" in r.output
    r = invoke("report", run, "-o", tmp_path / "r.md")
    assert r.exit_code == 0 and (tmp_path / "r-roofline-cpu-fp32.png").exists()
    r = invoke("report", run, "-o", "-")
    assert r.exit_code == 0 and r.output.startswith("# convbench report")
    bad = make_run([dict(workload=A, status="oom", reason="CUDA out of memory")], root=tmp_path / "bad")
    r = invoke("report", bad, "-o", tmp_path / "bad.html")
    assert r.exit_code == 0 and "CUDA out of memory" in (tmp_path / "bad.html").read_text()
    one_line_error(invoke("report", run, "-o", tmp_path / "no" / "r.html"), "does not exist")


def test_peak_prints_and_saves(monkeypatch, tmp_path):
    import convbench.harness.peak as peak

    entry = {"device": "cpu", "device_name": "Test CPU", "host": "h", "threads": 2,
             "compute_flop_per_s": {"fp32": 1.5e11}, "memory_bytes_per_s": 1.2e10,
             "method": {"fp32": {"gemm": "torch.mm", "shape": "1024x1024x1024", "timer": "wall"},
                        "int8": {"error": "no GEMM ran for this dtype"},
                        "memory": {"op": "torch copy_", "shape": "1200 MiB"}, "versions": {"torch": "2"}},
             "measured_at": "2026-01-01T00:00:00Z"}
    calls = []
    monkeypatch.setattr(peak, "measure_peaks", lambda *a: calls.append(a) or entry)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    r = invoke("peak", "--dtype", "fp32,int8", "--threads", "2", "--max-time", "5")
    assert r.exit_code == 0, r.output
    assert calls == [("cpu", ("fp32", "int8"), 2, 5.0)]
    assert "150 GFLOP/s" in r.output and "torch.mm 1024x1024x1024" in r.output and "no GEMM ran" in r.output
    assert "12 GB/s" in r.output and f"saved to {tmp_path}" in r.stderr
    assert peak.latest_peaks("cpu", 2, host="h") == entry
    r = invoke("peak", "--no-save", "--format", "json")
    assert json.loads(r.output)["compute_flop_per_s"]["fp32"] == 1.5e11 and "saved" not in r.stderr


@pytest.mark.parametrize("args, text", [
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--dtype", "tf32"], "tf32 is a CUDA tensor-core format"),
    (["--dtype", "int4"], "no GEMM roof for 'int4'"),
    (["--dtype", "fp33"], "fp33"),
    (["--max-time", "0"], "max-time"),
])
def test_peak_errors(args, text):
    one_line_error(invoke("peak", *args), text)


def test_peak_on_a_missing_gpu_is_an_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(invoke("peak", "--device", "cuda"), "device: cuda:0 is not available here")
