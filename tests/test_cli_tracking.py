"""The tracking commands through click's CliRunner (check, history, store push/list) and one
real CPU run checked against itself through the installed ``convbench`` command."""

import json
import math
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.results.schema import empty_row
from convbench.results.store import RUN_JSON, RunWriter

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
WORKLOADS = ("mb1ic64ih56oc64kh3ph1", "mb1ic32ih28oc32kh3ph1")


def _night(root, night, slow=1.0, driver="550.54", status="ok"):
    w = RunWriter.create(root, ["convbench", "run"], {}, {
        "convbench": "0.1.0", "devices": {"cuda:0": {"name": "NVIDIA H100", "driver": driver}}})
    start = T0 + timedelta(days=night)
    rng = np.random.default_rng(night)
    for i, workload in enumerate(WORKLOADS):
        t = 1e-3 * (i + 1) * math.exp(rng.normal(0, 0.01)) * (slow if i == 0 else 1.0)
        r = empty_row()
        r.update(run_id=w.run_id, case_id=f"c{i}", started_at=start, workload=workload, network="resnet50",
                 layer=f"layer{i}", backend="torch", algorithm_requested="default", algorithm="cudnn",
                 device="cuda:0", dtype="fp16", direction="fwd", layout="nchw", cache="hot", timer="cuda-graph",
                 threads=0, repeat=0, status=status if i == 1 else "ok", reason="" if status == "ok" else "boom",
                 time_median_s=t, time_ci_low_s=t * 0.995, time_ci_high_s=t * 1.005)
        w.rows.append(r)
    w.meta["started_at"] = start.isoformat().replace("+00:00", "Z")
    w.finish("complete")
    return w.path


@pytest.fixture
def cli():
    runner = CliRunner()

    def call(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return call


@pytest.fixture
def store(tmp_path):
    """12 nights; the first workload is 20% slower from night 8."""
    root = tmp_path / "store"
    runs = [_night(root, n, slow=1.2 if n >= 8 else 1.0) for n in range(12)]
    return root, runs


def test_help(cli):
    for cmd in (["check"], ["history"], ["store"], ["store", "push"], ["store", "list"]):
        r = cli(*cmd, "--help")
        assert r.exit_code == 0 and "Usage:" in r.output


def test_check_exit_codes(cli, store, tmp_path):
    root, runs = store
    r = cli("check", "--baseline", root, "--candidate", runs[8], "--last", 7)
    assert r.exit_code == 1 and "FAIL" in r.output and "regressions, worst first" in r.output
    assert WORKLOADS[0] in r.output and "x1.1" in r.output
    r = cli("check", "--baseline", root, "--candidate", runs[7], "--last", 7)
    assert r.exit_code == 0 and "PASS" in r.output
    r = cli("check", "--baseline", runs[3], "--candidate", runs[8], "--threshold", "25%")
    assert r.exit_code == 0  # a 20% slowdown under a 25% threshold
    r = cli("check", "--baseline", root, "--candidate", tmp_path / "missing")
    assert r.exit_code == 2 and "convbench: error: store:" in r.stderr
    r = cli("check", "--baseline", root, "--candidate", runs[8], "--threshold", "-3%")
    assert r.exit_code == 2 and "threshold" in r.stderr
    r = cli("check", "--baseline", root, "--candidate", runs[8], "--workload", "mb1ic64ih56oc64kh3ph1n\"conv1\"")
    assert r.exit_code == 1  # a descriptor with a layer name matches the shape
    r = cli("check", "--baseline", root, "--candidate", runs[8], "--last", 7, "--workload", WORKLOADS[1])
    assert r.exit_code == 0


def test_check_json_markdown_and_job_summary(cli, store, tmp_path):
    root, runs = store
    summary = tmp_path / "summary.md"
    r = cli("check", "--baseline", root, "--candidate", runs[9], "--last", 5, "--format", "json",
            "--summary", summary)
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["exit_code"] == 1 and [c["workload"] for c in data["regressions"]] == [WORKLOADS[0]]
    assert data["regressions"][0]["confidence"] > 0.99 and len(data["baseline"]["runs"]) == 5
    assert "## convbench check: regression" in summary.read_text()
    r = cli("check", "--baseline", root, "--candidate", runs[9], "--last", 5, "--format", "markdown")
    assert r.stdout.startswith("## convbench check: regression") and "| case |" in r.stdout


def test_check_warns_when_the_environment_differs(cli, tmp_path):
    root = tmp_path / "s"
    base = [_night(root, n) for n in range(3)]
    cand = _night(tmp_path / "c", 3, driver="560.28")
    r = cli("check", "--baseline", root, "--candidate", cand)
    assert r.exit_code == 0
    assert "warning: environment differs from the baseline: cuda:0.driver: baseline 550.54; candidate 560.28" \
        in r.stderr
    assert len(base) == 3


def test_a_case_that_breaks_fails_the_check(cli, tmp_path):
    root = tmp_path / "s"
    [_night(root, n) for n in range(3)]
    bad = _night(tmp_path / "c", 3, status="crashed")
    r = cli("check", "--baseline", root, "--candidate", bad, "--format", "json")
    data = json.loads(r.stdout)
    assert r.exit_code == 1 and data["broken"][0]["reason"] == "boom" and not data["regressions"]


def test_history_outputs(cli, store, tmp_path):
    root, runs = store
    png = tmp_path / "trend.png"
    r = cli("history", root, "--plot", png)
    assert r.exit_code == 0 and "1 change point(s)" in r.stdout and png.read_bytes()[:4] == b"\x89PNG"
    r = cli("history", root, "--format", "json", "--backend", "torch")
    data = json.loads(r.stdout)
    [cp] = data["change_points"]
    assert cp["run_id"] == Path(runs[8]).name.rsplit("-", 1)[1] and cp["ratio"] == pytest.approx(1.2, rel=0.03)
    assert len(data["series"]) == 24 and data["environment_changes"] == []
    r = cli("history", root, "--format", "csv", "--workload", WORKLOADS[1])
    assert len(r.stdout.splitlines()) == 13
    r = cli("history", root, "--format", "markdown", "--since", "2026-03-05")
    assert r.stdout.startswith("## convbench history: 1 change point")
    r = cli("history", root, "--backend", "jax")
    assert r.exit_code == 2 and "no rows" in r.stderr
    r = cli("history", root, "--since", "yesterday-ish")
    assert r.exit_code == 2 and "since" in r.stderr


def test_history_fails_once_on_the_night_a_step_is_confirmed(cli, tmp_path):
    root = tmp_path / "s"
    codes = []
    for n in range(14):
        _night(root, n, slow=1.2 if n >= 8 else 1.0)
        if n >= 6:
            codes.append(cli("history", root, "--fail-recent", 3).exit_code)
    assert codes == [0, 0, 0, 0, 1, 0, 0, 0]  # nights 6..13: the step at 8 is confirmed on night 10


def test_store_push_and_list(cli, tmp_path):
    local = tmp_path / "local"
    run = _night(local, 0)
    store = tmp_path / "shared"
    r = cli("store", "push", run, store)
    assert r.exit_code == 0 and r.stdout.startswith("pushed: ")
    r = cli("store", "push", run, store)
    assert r.exit_code == 0 and r.stdout.startswith("already in the store: ")
    dead = _night(local, 1)
    meta = json.loads((dead / RUN_JSON).read_text())
    meta.update(state="running", pid=2**22 + 99, heartbeat_at="2000-01-01T00:00:00Z")
    (dead / RUN_JSON).write_text(json.dumps(meta))
    r = cli("store", "push", dead, store)
    assert r.exit_code == 2 and "half-written" in r.stderr
    shutil.copytree(dead, store / dead.name)  # someone copied it by hand
    r = cli("store", "list", store, "--format", "json")
    data = json.loads(r.stdout)
    assert [x["run_id"] for x in data["runs"]] == [run.name.rsplit("-", 1)[1]]
    assert data["skipped"][0]["reason"].startswith("half-written")
    r = cli("history", store)
    assert r.exit_code == 0 and "warning: skipping run" in r.stderr and "half-written" in r.stderr


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One real CPU run (torch, or convbench's reference kernels where torch cannot run)."""
    out = tmp_path_factory.mktemp("real")
    exe = Path(sys.executable).with_name("convbench")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "convbench.cli"])]
    base = ["run", "--workload", "mb1ic8ih16oc8kh3ph1", "--min-time", "0.05", "--max-time", "0.3", "--out", str(out),
            "--format", "none"]
    for backend in (["--backend", "torch"], ["--backend", "reference", "--algorithm", "direct"]):
        proc = subprocess.run(cmd + base + backend, capture_output=True, text=True, timeout=300, cwd=out)
        runs = sorted(p for p in out.iterdir() if (p / RUN_JSON).exists())
        if proc.returncode == 0 and runs:
            return cmd, runs[-1]
    pytest.fail(f"no CPU run could be made: {proc.stderr[-2000:]}")


def test_a_real_cpu_run_checked_against_itself_passes(real_run, tmp_path):
    cmd, run = real_run
    proc = subprocess.run(cmd + ["check", "--baseline", str(run), "--candidate", str(run), "--format", "json"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 0 and not data["regressions"] and not data["broken"]
    [case] = data["cases"]
    assert case["ratio"] == 1.0 and case["outcome"] in ("same", "unclear")  # unclear: a noise over 5%
    pushed = subprocess.run(cmd + ["store", "push", str(run), str(tmp_path / "store")], capture_output=True, text=True,
                            timeout=120)
    assert pushed.returncode == 0 and pushed.stdout.startswith("pushed: ")
