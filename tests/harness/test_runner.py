"""The harness end to end with real faults in real worker processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convbench.harness import runner
from convbench.harness.plan import Workload
from convbench.results import load
from convbench.workloads.spec import ConvSpec

SPEC = ConvSpec(in_channels=4, out_channels=8, input_size=(6, 6), kernel_size=3, padding=1, name="tiny")
FAST = dict(min_time_s=0.0, max_time_s=0.05, target_noise=0.5)


def _request(algorithms, **kw):
    opts = dict(workloads=(Workload(SPEC, 2, "t", ("tiny",)),), backends=("fault",), algorithms=tuple(algorithms),
                case_timeout_s=20.0, **FAST)
    opts.update(kw)
    return runner.RunRequest(**opts)


def test_every_fault_becomes_a_row_and_the_run_goes_on(tmp_path, fault_backend):
    req = _request(["ok", "wrong", "raise", "abort", "segv", "oom", "slow"])
    path, outcome, plan, meta = runner.run_benchmark(req, tmp_path)
    status = {r["algorithm_requested"]: r for r in outcome.rows}
    assert status["ok"]["status"] == "ok" and status["ok"]["samples"] >= 3
    assert status["ok"]["timer"] == "wall" and status["ok"]["time_median_s"] > 0
    assert status["wrong"]["status"] == "wrong" and status["wrong"]["time_median_s"] is None
    assert "max abs error" in status["wrong"]["reason"] or status["wrong"]["reason"]
    assert status["raise"]["status"] == "error" and "deliberate failure" in status["raise"]["reason"]
    assert status["abort"]["status"] == "crashed" and "SIGABRT" in status["abort"]["reason"]
    assert status["segv"]["status"] == "crashed" and "SIGSEGV" in status["segv"]["reason"]
    assert status["oom"]["status"] == "oom"
    assert status["slow"]["status"] == "ok" and status["slow"]["time_median_s"] >= 0.002
    df = load(path)
    assert len(df) == 7 and set(df["case_id"]) == {pc.case_id for pc in plan}
    assert meta["state"] == "complete"
    assert all(r["repro"].startswith("convbench run --workload") for r in outcome.rows)


def test_a_hang_times_out_and_the_next_case_runs(tmp_path, fault_backend):
    req = _request(["hang", "ok"], case_timeout_s=3.0)
    t0 = time.monotonic()
    path, outcome, _, _ = runner.run_benchmark(req, tmp_path)
    assert time.monotonic() - t0 < 60
    by = {r["algorithm_requested"]: r["status"] for r in outcome.rows}
    assert by == {"hang": "timeout", "ok": "ok"}


def test_resume_runs_nothing_new(tmp_path, fault_backend):
    req = _request(["ok", "wrong"])
    path, outcome, _, _ = runner.run_benchmark(req, tmp_path)
    assert len(outcome.rows) == 2
    path2, outcome2, _, meta = runner.resume_benchmark(path)
    assert path2 == path and outcome2.rows == []
    assert len(load(path)) == 2 and meta["state"] == "complete"


def _cli(tmp_path, *args):
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, "-m", "convbench.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_rows(root: Path, n: int, timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for journal in root.glob("*/records.jsonl"):
            if sum(1 for line in journal.read_text().splitlines() if line.strip()) >= n:
                return journal.parent
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_or_interrupted_run_loses_no_finished_case(tmp_path, fault_backend, sig):
    args = ["run", "--backend", "fault", "--algorithm", "slow", "--repeat", "40", "--workload",
            "mb1ic4ih6oc8kh3ph1", "--min-time", "0", "--max-time", "0.3", "--target-noise", "0.0001",
            "--out", str(tmp_path / "res"), "--format", "none"]
    proc = _cli(tmp_path, *args)
    run_dir = _wait_rows(tmp_path / "res", 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    journal_rows = [json.loads(l) for l in (run_dir / "records.jsonl").read_text().splitlines() if l.strip()]
    meta = json.loads((run_dir / "run.json").read_text())
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert meta["state"] == "interrupted"
        assert "--resume" in err
    else:
        assert meta["state"] == "running"  # the writer died; readers skip it unless asked
    df = load(run_dir, include_incomplete=True)
    assert len(df) == len(journal_rows) >= 3
    assert set(df["status"]) == {"ok"}
    # resume finishes the rest, and a second resume runs nothing
    done = subprocess.run([sys.executable, "-m", "convbench.cli", "run", "--resume", str(run_dir), "--format", "none"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(load(run_dir)) == 40
    again = subprocess.run([sys.executable, "-m", "convbench.cli", "run", "--resume", str(run_dir), "--format", "json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout) == []
