"""Regressions found in review: each test names the symptom it guards against."""

import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from convbench.backends.base import Case
from convbench.cli import main
from convbench.errors import ConvbenchError
from convbench.harness import runner
from convbench.harness.plan import PlannedCase, Workload, build_plan
from convbench.harness.timing import StoppingRule
from convbench.harness.worker import Settings, run_case
from convbench.reports.console import print_run
from convbench.results import load
from convbench.results.schema import empty_row
from convbench.results.store import RUN_JSON, RunWriter
from convbench.workloads.spec import ConvSpec

SPEC = ConvSpec(in_channels=4, out_channels=8, input_size=(6, 6), kernel_size=3, padding=1, name="tiny")


def _row(i):
    r = empty_row()
    r.update(run_id="r", case_id=f"c{i:04d}", workload="mb1ic4ih6oc8kh3ph1", backend="torch", status="ok",
             reason="", time_median_s=1e-3, samples_s=[1e-3], samples=1, count=1, dims=2, flops=10, bytes=5)
    return r


@pytest.mark.parametrize("kw", [dict(max_time_s=math.nan), dict(min_time_s=math.nan),
                                dict(max_time_s=math.inf), dict(min_time_s=0.1, max_time_s=math.inf)])
def test_non_finite_times_are_refused_not_an_endless_or_uncapped_loop(kw):
    # NaN compared false everywhere: --max-time nan removed the cap, --min-time nan the target check
    with pytest.raises(ConvbenchError, match="min-time/max-time"):
        StoppingRule(**kw)


def test_a_run_under_a_folder_with_brackets_loads(tmp_path):
    root = tmp_path / "runs [x]"
    w = RunWriter.create(root, ["convbench", "run"], {}, {})
    w.append(_row(0))
    w.finish("complete")
    assert len(load(w.path)) == 1  # was read as a glob: "no run directories"
    assert len(load(root)) == 1


def test_resume_of_a_run_still_being_written_is_refused(tmp_path):
    w = RunWriter.create(tmp_path, ["convbench", "run"], {}, {})
    w.append(_row(0))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        meta = json.loads((w.path / RUN_JSON).read_text())
        meta["pid"] = other.pid  # another live process on this host is its writer
        (w.path / RUN_JSON).write_text(json.dumps(meta))
        with pytest.raises(ConvbenchError, match="still being written"):
            RunWriter.reopen(w.path)
    finally:
        other.kill()
        other.wait()
    RunWriter.reopen(w.path).finish("complete")  # once the writer is gone, resume works


def test_a_timer_no_device_has_is_a_user_error():
    wl = (Workload(SPEC),)
    with pytest.raises(ConvbenchError, match="timer: unknown timer 'bogus'"):
        build_plan(wl, ["torch"], timers=("bogus",))
    assert len(build_plan(wl, ["torch"], timers=("default", "wall", "cuda-graph"))) == 3


def test_case_timeout_must_be_positive(tmp_path):
    for bad in (0.0, -1.0, math.nan):
        req = runner.RunRequest(workloads=(Workload(SPEC),), backends=("torch",), case_timeout_s=bad)
        with pytest.raises(ConvbenchError, match="case-timeout"):
            runner.run_benchmark(req, tmp_path)
    assert not list(tmp_path.iterdir())


def test_cold_cache_refuses_a_batch_timer(fault_backend):
    from fault_backend import FaultBackend

    rule = StoppingRule(target_noise=0.5, min_time_s=0.0, max_time_s=0.05)
    case = Case(SPEC, "fp32", "fwd", "native", "cpu", "ok", 1)
    rows = {t: run_case(FaultBackend(), PlannedCase(case, "fault", Workload(SPEC), "cold", t), Settings(rule=rule))
            for t in ("wall", "wall-batch")}
    assert rows["wall"]["status"] == "ok" and rows["wall"]["cache"] == "cold"
    # a batch is flushed once: every launch after the first ran hot, yet the row said cold
    assert rows["wall-batch"]["status"] == "unsupported" and "cold cache" in rows["wall-batch"]["reason"]


def _run_dir(tmp_path):
    w = RunWriter.create(tmp_path, ["convbench", "run"], {}, {})
    w.finish("complete")
    return str(w.path)


@pytest.mark.parametrize("opt", [["--max-time", "0.1"], ["--threads", "1"], ["--seed", "3"],
                                 ["--inputs", "normal"], ["--out", "elsewhere"], ["--case-timeout", "5"]])
def test_resume_refuses_options_it_would_ignore(tmp_path, opt):
    r = CliRunner().invoke(main, ["run", "--resume", _run_dir(tmp_path), *opt])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("convbench: error: resume:") and opt[0] in r.stderr


def test_resolution_without_a_network_is_a_user_error():
    r = CliRunner().invoke(main, ["run", "--workload", "mb1ic4ih6oc8kh3ph1", "--resolution", "112"])
    assert r.exit_code == 2 and "convbench: error: resolution" in r.stderr


def test_ctrl_c_before_the_run_starts_exits_130(monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_benchmark", interrupted)
    r = CliRunner().invoke(main, ["run", "--workload", "mb1ic4ih6oc8kh3ph1", "--backend", "torch"])
    assert r.exit_code == 130 and "Traceback" not in r.output  # click said "Aborted!" and exit 1


def test_run_output_tells_cache_and_layout_apart():
    rows = []
    for cache in ("hot", "cold"):
        r = _row(len(rows))
        r.update(layer="l", algorithm="a", dtype="fp32", direction="fwd", layout_requested="nchw", device="cpu",
                 cache=cache, repeat=0, noise_rel=0.01, tflops=1.0, timer="wall", target_reached=True)
        rows.append(r)

    class _Out:
        def __init__(self):
            self.parts = []

        def write(self, s):
            self.parts.append(s)

    class _Console:
        file = _Out()

    print_run(_Console, rows, "csv")
    lines = "".join(_Console.file.parts).splitlines()
    header = lines[0].split(",")
    assert {"cache", "layout_requested", "device", "repeat"} <= set(header)
    assert [l.split(",")[header.index("cache")] for l in lines[1:]] == ["hot", "cold"]
    from rich.console import Console

    con = Console(width=200, record=True)
    print_run(con, rows, "table")
    text = con.export_text()
    assert "cache" in text and "cold" in text and "layout" not in text  # only what differs
