"""Run directories: durable rows, atomic rewrites, half-written runs, bad input."""

import json
import os
import warnings

import pandas as pd
import pytest

from convbench.errors import ConvbenchError
from convbench.results import load
from convbench.results.schema import COLUMN_NAMES, empty_row
from convbench.results.store import JOURNAL, PARQUET, RUN_JSON, RunWriter, read_meta, read_rows


def _row(i, status="ok"):
    r = empty_row()
    r.update(run_id="r", case_id=f"c{i:04d}", workload="mb1ic4ih6oc8kh3ph1", backend="torch", status=status,
             reason="" if status == "ok" else "because", time_median_s=1e-3 * (i + 1), samples_s=[1e-3, 2e-3],
             samples=2, count=1, dims=2, flops=10, bytes=5, started_at=pd.Timestamp.now(tz="UTC"))
    return r


def _writer(tmp_path):
    return RunWriter.create(tmp_path, ["convbench", "run"], {"k": 1}, {"host": "h"})


def test_rows_round_trip_with_schema_types(tmp_path):
    w = _writer(tmp_path)
    for i in range(5):
        w.append(_row(i))
    w.finish("complete")
    df = load(w.path)
    assert list(df.columns) == list(COLUMN_NAMES)
    assert len(df) == 5 and list(df["samples_s"][0]) == [1e-3, 2e-3]
    assert str(df["started_at"].dtype).startswith("datetime64") and df["time_median_s"].dtype == float
    meta = read_meta(w.path)
    assert meta["state"] == "complete" and meta["run_id"] == w.run_id


def test_journal_rows_count_before_parquet_is_rewritten(tmp_path):
    w = _writer(tmp_path)
    w.append(_row(0))
    w._parquet_at = float("inf")  # as if the last rewrite were just now
    for i in range(1, 4):
        w.append(_row(i))
    assert len(read_rows(w.path)) == 4  # journal lines not yet in Parquet are read too


def test_a_line_cut_by_a_crash_is_ignored_and_cut_on_resume(tmp_path):
    w = _writer(tmp_path)
    w.append(_row(0))
    w.append(_row(1))
    with open(w.path / JOURNAL, "a") as f:
        f.write('{"case_id": "c9999", "sta')  # killed mid-write
    assert len(read_rows(w.path)) == 2
    w2 = RunWriter.reopen(w.path)
    w2.append(_row(2))
    w2.finish("complete")
    lines = (w.path / JOURNAL).read_text().splitlines()
    assert all(json.loads(l) for l in lines) and len(lines) == 3
    assert len(load(w.path)) == 3


def test_half_written_runs_are_skipped_with_a_warning(tmp_path):
    good = _writer(tmp_path)
    good.append(_row(0))
    good.finish("complete")
    dead = _writer(tmp_path)
    dead.append(_row(1))
    meta = json.loads((dead.path / RUN_JSON).read_text())
    meta.update(pid=2**22 + 12345, heartbeat_at="2000-01-01T00:00:00Z")  # writer gone
    (dead.path / RUN_JSON).write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="half-written"):
        df = load(tmp_path)
    assert list(df["case_id"]) == ["c0000"]
    assert len(load(tmp_path, include_incomplete=True)) == 2


@pytest.mark.parametrize("content, msg", [(None, "not a run directory"), ("{not json", "corrupt"),
                                          ('{"run_id": "x", "schema_version": 99}', "schema version")])
def test_bad_run_directories_are_one_line_errors(tmp_path, content, msg):
    d = tmp_path / "run"
    d.mkdir()
    if content is not None:
        (d / RUN_JSON).write_text(content)
    with pytest.raises(ConvbenchError, match=msg):
        read_meta(d)


def test_missing_path_and_empty_root(tmp_path):
    with pytest.raises(ConvbenchError, match="does not exist"):
        load(tmp_path / "nope")
    with pytest.raises(ConvbenchError, match="no run directories"):
        load(tmp_path)


def test_glob_and_fsspec_url(tmp_path):
    for i in range(3):
        w = _writer(tmp_path)
        w.append(_row(i))
        w.finish("complete")
    assert len(load(str(tmp_path / "*"))) == 3
    assert len(load(f"file://{tmp_path}")) == 3


def test_parquet_is_replaced_atomically(tmp_path):
    w = _writer(tmp_path)
    for i in range(30):
        w._parquet_at = 0
        w.append(_row(i))
    assert not [p for p in os.listdir(w.path) if p.endswith(".tmp")]
    assert (w.path / PARQUET).exists()
