"""A history store of many runs: listing, skipping what is not data, reading rows across runs,
environment summaries, and pushing runs into a store shared by many writers."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from convbench.errors import ConvbenchError
from convbench.results.history import (
    INCOMING, environment_changes, environment_differences, environment_summary, list_runs, push_run,
    read_records, select_runs,
)
from convbench.results.schema import ARROW_SCHEMA, empty_row
from convbench.results.store import PARQUET, RUN_JSON, RunWriter

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)
WORKLOADS = ("mb1ic64ih56oc64kh3ph1", "mb1ic128ih28oc128kh3ph1")


def _row(run_id, workload, backend="torch", time_s=1e-3, status="ok", started=T0):
    r = empty_row()
    r.update(run_id=run_id, case_id=f"{workload}-{backend}", started_at=started, workload=workload, network="n",
             layer="l", count=1, dims=2, kind="conv", backend=backend, algorithm="a", algorithm_requested="default",
             device="cpu", dtype="fp32", direction="fwd", layout="nchw", cache="hot", timer="wall", threads=0,
             repeat=0, status=status, reason="" if status == "ok" else "because",
             time_median_s=time_s if status == "ok" else None, time_ci_low_s=time_s * 0.99,
             time_ci_high_s=time_s * 1.01, noise_rel=0.01, samples=10, samples_s=[time_s] * 3, stop_reason="target")
    return r


def _env(**cpu):
    return {"convbench": "0.1.0", "convbench_commit": "abc", "python": "3.11.7", "threads": 0,
            "packages": {"torch": "2.13.0"}, "devices": {"cpu": {"model": "Xeon", "freq_mhz": {"current": 2100.0,
                                                                                             "max": 3000.0},
                                                             **cpu}}}


def make_run(root, night=0, rows=None, state="complete", env=None, append=False):
    """A finished run started ``night`` days after T0 (rows written in one Parquet rewrite,
    or appended through the journal with ``append``)."""
    w = RunWriter.create(root, ["convbench", "run"], {}, env or _env())
    start = T0 + timedelta(days=night)
    for r in rows if rows is not None else [_row(w.run_id, wl, started=start) for wl in WORKLOADS]:
        r = dict(r, run_id=w.run_id)
        if append:
            w.append(r)
        else:
            w.rows.append(r)
    w.meta["started_at"] = start.isoformat().replace("+00:00", "Z")
    if state == "running":
        w._flush_parquet()
        w.update_meta()
    else:
        w.finish(state)
    return w


def _kill_writer(path: Path, heartbeat="2000-01-01T00:00:00Z"):
    meta = json.loads((path / RUN_JSON).read_text())
    meta.update(state="running", pid=2**22 + 4321, heartbeat_at=heartbeat)
    (path / RUN_JSON).write_text(json.dumps(meta))


# ---- listing -----------------------------------------------------------------------------------
def test_listing_orders_by_start_and_skips_what_is_not_data(tmp_path):
    good = [make_run(tmp_path, night=n) for n in (3, 1, 2)]
    interrupted = make_run(tmp_path, night=4, state="interrupted")
    dead = make_run(tmp_path, night=5)
    _kill_writer(dead.path)
    alive = make_run(tmp_path, night=6, state="running")  # this process writes it: still running
    corrupt = make_run(tmp_path, night=7)
    (corrupt.path / RUN_JSON).write_text('{"schema_version": 1, "run_id": "x", "sta')
    old = make_run(tmp_path, night=8)
    meta = json.loads((old.path / RUN_JSON).read_text())
    (old.path / RUN_JSON).write_text(json.dumps(dict(meta, schema_version=0)))
    (tmp_path / "20260101T020000Z-gone-0badc0de").mkdir()  # a writer died before run.json
    (tmp_path / "notes").mkdir()  # not a run: ignored silently
    with pytest.warns(UserWarning) as caught:
        listing = list_runs(tmp_path)
    assert [r.run_id for r in listing.runs] == [good[1].run_id, good[2].run_id, good[0].run_id, interrupted.run_id]
    reasons = {Path(s.path).name: s.reason for s in listing.skipped}
    assert reasons[dead.path.name].startswith("half-written")
    assert reasons[alive.path.name].startswith("still running")
    assert "corrupt" in reasons[corrupt.path.name] and "schema version 0" in reasons[old.path.name]
    assert "no run.json" in reasons["20260101T020000Z-gone-0badc0de"]
    assert len(listing.skipped) == 5 and len(caught) == 5
    assert all(str(w.message).startswith("skipping run ") for w in caught)


def test_one_run_directory_and_globs_are_locations_too(tmp_path):
    runs = [make_run(tmp_path / "a", night=n) for n in range(2)] + [make_run(tmp_path / "b", night=5)]
    assert [r.run_id for r in list_runs(runs[0].path).runs] == [runs[0].run_id]
    assert len(list_runs(str(tmp_path / "*")).runs) == 3
    with pytest.raises(ConvbenchError, match="does not exist"):
        list_runs(tmp_path / "nope")
    with pytest.raises(ConvbenchError, match="no directory matches"):
        list_runs(str(tmp_path / "zz*"))


def test_select_runs_by_time_count_and_exclusion(tmp_path):
    runs = [make_run(tmp_path, night=n) for n in range(6)]
    listing = list_runs(tmp_path)
    assert [r.run_id for r in select_runs(listing, last=2).runs] == [runs[4].run_id, runs[5].run_id]
    since = select_runs(listing, since=T0 + timedelta(days=3), until=T0 + timedelta(days=5))
    assert [r.run_id for r in since.runs] == [runs[3].run_id, runs[4].run_id]
    assert runs[0].run_id not in {r.run_id for r in select_runs(listing, exclude_run_ids=[runs[0].run_id]).runs}
    with pytest.raises(ConvbenchError, match="last"):
        select_runs(listing, last=0)


# ---- reading -----------------------------------------------------------------------------------
def test_rows_across_runs_with_filters_and_run_columns(tmp_path):
    for n in range(4):
        rows = [_row("", wl, backend=b, time_s=1e-3 * (n + 1)) for wl in WORKLOADS for b in ("torch", "onednn")]
        make_run(tmp_path, night=n, rows=rows)
    listing = list_runs(tmp_path)
    df = read_records(listing)
    assert len(df) == 16 and "samples_s" not in df.columns
    assert set(df["run_id"]) == {r.run_id for r in listing.runs}
    assert str(df["run_started_at"].dtype).startswith("datetime64") and df["run_started_at"].dt.tz is not None
    first = df[df["run_id"] == listing.runs[0].run_id]
    assert (first["run_started_at"] == pd.Timestamp(T0)).all() and (first["time_median_s"] == 1e-3).all()
    only = read_records(listing, filters={"backend": ["onednn"], "workload": [WORKLOADS[0]]})
    assert len(only) == 4 and set(only["backend"]) == {"onednn"}
    pattern = read_records(listing, filters={"workload": ["mb1ic128*"]})
    assert len(pattern) == 8 and set(pattern["workload"]) == {WORKLOADS[1]}
    with_samples = read_records(listing, columns=["case_id", "samples_s"])
    assert list(with_samples["samples_s"][0]) == [1e-3] * 3 or len(with_samples["samples_s"][0]) == 3
    with pytest.raises(ConvbenchError, match="not a result column"):
        read_records(listing, filters={"nope": ["x"]})


def test_a_parquet_file_without_a_newer_column_reads_as_null(tmp_path):
    w = make_run(tmp_path, night=0)
    table = pq.read_table(w.path / PARQUET).drop_columns(["error_bound_ratio", "stop_reason"])
    pq.write_table(table, w.path / PARQUET)
    make_run(tmp_path, night=1)
    df = read_records(list_runs(tmp_path), columns=["case_id", "stop_reason", "error_bound_ratio"])
    assert len(df) == 4 and df["stop_reason"].isna().sum() == 2


def test_an_unreadable_parquet_file_skips_that_run_with_a_warning(tmp_path):
    good = make_run(tmp_path, night=0)
    bad = make_run(tmp_path, night=1)
    (bad.path / PARQUET).write_bytes(b"PAR1 this is not parquet")
    listing = list_runs(tmp_path)
    with pytest.warns(UserWarning, match="unreadable"):
        df = read_records(listing)
    assert set(df["run_id"]) == {good.run_id}


def test_reading_120_runs_is_one_scan(tmp_path):
    for n in range(120):
        make_run(tmp_path, night=n, rows=[_row("", f"mb1ic{c + 1}ih8oc8kh3", time_s=1e-3) for c in range(10)])
    t = time.perf_counter()
    df = read_records(list_runs(tmp_path))
    elapsed = time.perf_counter() - t
    assert len(df) == 1200 and df["run_id"].nunique() == 120
    assert elapsed < 10  # about 0.3 s on 2 busy cores (benchmarks/history_scale.py times 500 runs)


# ---- environment -------------------------------------------------------------------------------
def _gpu_meta(driver="550.54", sm_clock=1980, commit="abc"):
    return {
        "environment": {
            "host": "gpu-07", "python": "3.11.7", "platform": "Linux-6.8", "convbench": "0.1.0",
            "convbench_commit": commit, "threads": 0, "env": {"CUDA_VISIBLE_DEVICES": "0"},
            "packages": {"torch": "2.13.0+cu128", "numpy": "2.4.6"},
            "devices": {
                "cpu": {"model": "EPYC 9654", "isa_flags": ["avx2", "avx512f"], "freq_mhz": {"current": 3012.5,
                                                                                           "max": 3700.0},
                        "affinity": [0, 1, 2, 3], "governor": "performance"},
                "cuda:0": {"name": "NVIDIA H100 80GB HBM3", "driver": driver, "cuda_runtime": "12.8", "cudnn": 91000,
                           "uuid": "GPU-1234", "app_sm_clock_mhz": sm_clock, "max_sm_clock_mhz": 1980,
                           "power_limit_w": 700.0, "now": {"temperature_c": 41, "sm_clock_mhz": 1755}},
            },
        },
        "backends": {"torch": {"versions": {"torch": "2.13.0+cu128", "cudnn": "9.10.0"}}},
    }


def test_environment_summary_keeps_what_decides_comparability():
    env = environment_summary(_gpu_meta())
    assert env["cuda:0.driver"] == "550.54" and env["cuda:0.app_sm_clock_mhz"] == "1980"
    assert env["cuda:0.name"] == "NVIDIA H100 80GB HBM3" and env["cuda:0.power_limit_w"] == "700"
    assert env["package.torch"] == "2.13.0+cu128" and env["torch.cudnn"] == "9.10.0"
    assert env["cpu.model"] == "EPYC 9654" and env["cpu.max_freq_mhz"] == "3700" and env["cpu.cpus_allowed"] == "4"
    assert env["convbench.commit"] == "abc" and env["env.CUDA_VISIBLE_DEVICES"] == "0"
    text = json.dumps(env)
    assert "GPU-1234" not in text and "gpu-07" not in text and "3012.5" not in text and "1755" not in text


def test_environment_changes_and_differences(tmp_path):
    runs = []
    for n, driver in enumerate(["550.54", "550.54", "560.28", "560.28"]):
        w = make_run(tmp_path, night=n, env=_gpu_meta(driver=driver, commit=f"c{n}")["environment"])
        runs.append(w)
    listing = list_runs(tmp_path)
    changes = environment_changes(listing.runs)
    assert [c.run_id for c in changes] == [r.run_id for r in runs[1:]]  # the commit moves every night
    assert ("cuda:0.driver", "550.54", "560.28") in changes[1].changes
    diffs = environment_differences(listing.runs[:2], listing.runs[3:])
    assert [d.key for d in diffs] == ["cuda:0.driver"]  # the commit is not a difference for check
    assert diffs[0].describe() == "cuda:0.driver: baseline 550.54; candidate 560.28"
    mixed = environment_differences(listing.runs[:3], listing.runs[3:])
    assert mixed[0].describe() == "cuda:0.driver: baseline 550.54 (2 runs), 560.28 (1 run); candidate 560.28"


# ---- push --------------------------------------------------------------------------------------
def test_push_into_a_local_store_is_atomic_and_idempotent(tmp_path):
    src = make_run(tmp_path / "local", night=0, append=True)
    store = tmp_path / "store"
    res = push_run(src.path, store)
    assert res.copied and Path(res.destination) == store / src.path.name
    assert sorted(os.listdir(res.destination)) == sorted(os.listdir(src.path))
    assert not os.listdir(store / INCOMING)  # the temp folder is gone
    again = push_run(src.path, store)
    assert not again.copied and again.destination == res.destination
    listing = list_runs(store)
    assert [r.run_id for r in listing.runs] == [src.run_id] and len(read_records(listing)) == 2
    # a half-assembled copy in .incoming (a pusher died) is never read as a run
    (store / INCOMING / "x").mkdir()
    (store / INCOMING / "x" / RUN_JSON).write_text("{}")
    assert len(list_runs(store).runs) == 1


def test_push_refuses_runs_that_have_not_finished(tmp_path):
    running = make_run(tmp_path / "l", night=0, state="running")
    with pytest.raises(ConvbenchError, match="still running"):
        push_run(running.path, tmp_path / "store")
    dead = make_run(tmp_path / "l", night=1)
    _kill_writer(dead.path)
    with pytest.raises(ConvbenchError, match="half-written.*--resume"):
        push_run(dead.path, tmp_path / "store")
    with pytest.raises(ConvbenchError, match="not a run directory"):
        push_run(tmp_path, tmp_path / "store")
    assert not (tmp_path / "store").exists() or not list_runs(tmp_path / "store").runs


def test_push_publishes_journal_rows_that_parquet_lacks(tmp_path):
    w = RunWriter.create(tmp_path / "l", ["convbench"], {}, _env())
    w.append(_row(w.run_id, WORKLOADS[0]))
    w._parquet_at = float("inf")  # the next rows reach only the journal
    w.append(_row(w.run_id, WORKLOADS[1]))
    w.update_meta(state="interrupted")  # as after Ctrl-C between Parquet rewrites
    assert pq.read_metadata(w.path / PARQUET).num_rows == 1
    res = push_run(w.path, tmp_path / "store")
    assert pq.read_metadata(Path(res.destination) / PARQUET).num_rows == 2


def test_many_writers_at_once_lose_nothing(tmp_path):
    store = tmp_path / "store"
    sources = [make_run(tmp_path / f"m{i % 4}", night=i) for i in range(40)]
    with ThreadPoolExecutor(8) as pool:  # every run pushed twice, by racing pushers
        results = list(pool.map(lambda w: push_run(w.path, store), sources + sources))
    assert sum(r.copied for r in results) >= 40
    listing = list_runs(store)
    assert sorted(r.run_id for r in listing.runs) == sorted(w.run_id for w in sources)
    assert len(read_records(listing)) == 80


_WRITER = """
import sys
from convbench.results.store import RunWriter
from convbench.results.schema import empty_row
root, tag = sys.argv[1], sys.argv[2]
for i in range(10):
    w = RunWriter.create(root, ["convbench"], {}, {"host": tag})
    r = empty_row()
    r.update(run_id=w.run_id, case_id=f"{tag}-{i}", workload="mb1ic4ih8oc4kh3", backend="torch", status="ok",
             time_median_s=1e-3, repeat=0)
    w.append(r)
    w.finish("complete")
"""


def test_processes_writing_runs_directly_into_one_store(tmp_path):
    """``convbench run --out STORE`` on several machines: each run is its own directory."""
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"w{i}"]) for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    listing = list_runs(tmp_path)
    assert len(listing.runs) == 40 and not listing.skipped
    assert read_records(listing)["case_id"].nunique() == 40


@pytest.fixture
def memory_store():
    url = f"memory://convbench-test-{uuid.uuid4().hex[:8]}"
    yield url
    fs = fsspec.filesystem("memory")
    path = url.split("://", 1)[1]
    if fs.exists(path):
        fs.rm(path, recursive=True)


def test_remote_store_gets_run_json_last_and_reads_through_fsspec(tmp_path, memory_store):
    runs = [make_run(tmp_path, night=n) for n in range(3)]
    for w in runs:
        assert push_run(w.path, memory_store).copied
    assert not push_run(runs[0].path, memory_store).copied
    # an upload that died before its commit marker: data files but no run.json
    fs = fsspec.filesystem("memory")
    partial = memory_store.split("://", 1)[1] + "/20260201T020000Z-gpu-0badc0de"
    fs.pipe_file(partial + "/" + PARQUET, (runs[0].path / PARQUET).read_bytes())
    with pytest.warns(UserWarning, match="no run.json"):
        listing = list_runs(memory_store)
    assert [r.run_id for r in listing.runs] == [w.run_id for w in runs]
    df = read_records(listing, filters={"workload": [WORKLOADS[0]]})
    assert len(df) == 3 and set(df["run_name"]) == {w.path.name for w in runs}
    # the pushed run reads back identically
    local = pq.read_table(runs[1].path / PARQUET)
    with fs.open(f"{memory_store.split('://', 1)[1]}/{runs[1].path.name}/{PARQUET}", "rb") as f:
        assert pq.read_table(f).equals(local)


def test_run_json_alone_decides_visibility_in_a_remote_store(tmp_path, memory_store):
    w = make_run(tmp_path, night=0)
    fs = fsspec.filesystem("memory")
    root = memory_store.split("://", 1)[1]
    order = []
    real = fs.pipe_file

    def spy(path, value, **kw):
        order.append(Path(path).name)
        return real(path, value, **kw)

    fs.pipe_file = spy
    try:
        push_run(w.path, memory_store)
    finally:
        del fs.pipe_file
    assert order[-1] == RUN_JSON and set(order) == set(os.listdir(w.path))
    assert fs.exists(f"{root}/{w.path.name}/{RUN_JSON}")


def test_arrow_schema_is_the_dataset_schema():
    """Rows read from a store carry the schema's types (timestamps in UTC)."""
    assert ARROW_SCHEMA.field("started_at").type == pa.timestamp("us", tz="UTC")


def test_host_is_recorded_but_not_part_of_the_environment(tmp_path):
    w = make_run(tmp_path, night=0)
    info = list_runs(tmp_path).runs[0]
    assert info.host == socket.gethostname() and info.state == "complete" and info.name == w.path.name
    assert "host" not in info.env
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list_runs(tmp_path)  # a clean store warns about nothing
