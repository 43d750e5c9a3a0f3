"""Run directories on disk: durable appends, atomic rewrites, and loading.

A run is ``<root>/<UTC timestamp>-<host>-<short id>/`` holding

* ``run.json``: schema version, run id, state (running, complete, interrupted), times, the
  command line, settings, environment, host, pid and a heartbeat; rewritten atomically.
* ``records.jsonl``: the journal. Each finished case is one JSON line, flushed and fsynced
  before the next case starts, so a SIGKILL loses nothing.
* ``records.parquet``: all rows, rewritten atomically (temp file, fsync, rename) when the rows
  have grown by a tenth since the last rewrite (at most once a second) and at the end.

Readers take the Parquet file plus any journal lines not yet in it.
"""

from __future__ import annotations

import glob as _glob
import json
import os
import socket
import sys
import time
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from convbench.errors import ConvbenchError
from convbench.results.schema import ARROW_SCHEMA, COLUMN_NAMES, SCHEMA_VERSION

RUN_JSON = "run.json"
JOURNAL = "records.jsonl"
PARQUET = "records.parquet"
#: A ``running`` run whose heartbeat is older than this (seconds) has lost its writer.
STALE_AFTER_S = 600


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def fsync_path(path) -> None:
    """fsync a file or a directory (a directory after a rename makes the rename durable);
    filesystems that cannot are passed over."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file, fsync and rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def _row_to_json(row: dict) -> str:
    out = {}
    for k, v in row.items():
        if isinstance(v, datetime):
            v = v.isoformat()
        elif hasattr(v, "item") and not isinstance(v, (list, tuple)):
            v = v.item()
        if isinstance(v, float) and v != v:
            v = None
        out[k] = v
    return json.dumps(out, allow_nan=False, default=str)


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Rows (dicts of schema columns) -> an Arrow table with the schema's types."""
    cols = {}
    for name in COLUMN_NAMES:
        vals = [r.get(name) for r in rows]
        if name == "started_at":
            vals = [pd.Timestamp(v).to_pydatetime() if v is not None else None for v in vals]
        if ARROW_SCHEMA.field(name).type == pa.float64():
            vals = [None if v is None else float(v) for v in vals]
        cols[name] = vals
    return pa.table(cols, schema=ARROW_SCHEMA)


def write_parquet_atomic(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(rows_to_table(rows), tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


class RunWriter:
    """Writes one run directory. Use :meth:`create` for a new run, :meth:`reopen` to resume."""

    def __init__(self, path: Path, meta: dict, rows: list[dict]) -> None:
        self.path = Path(path)
        self.meta = meta
        self.rows = rows
        self._parquet_rows = len(rows)
        self._parquet_at = 0.0
        self._journal = open(self.path / JOURNAL, "a", encoding="utf-8")

    @classmethod
    def create(cls, root: str | os.PathLike, command: list[str], settings: dict, environment: dict,
               extra: dict | None = None) -> "RunWriter":
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        run_id = new_run_id()
        host = socket.gethostname().split(".")[0] or "host"
        stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        path = root / f"{stamp}-{host}-{run_id}"
        path.mkdir()
        meta = {
            "schema_version": SCHEMA_VERSION, "run_id": run_id, "state": "running",
            "started_at": _iso(_now()), "finished_at": None, "heartbeat_at": _iso(_now()),
            "host": socket.gethostname(), "pid": os.getpid(), "command": command,
            "settings": settings, "environment": environment, "cluster": None,
        }
        meta.update(extra or {})
        writer = cls(path, meta, [])
        writer._write_meta()
        return writer

    @classmethod
    def reopen(cls, path: str | os.PathLike) -> "RunWriter":
        path = Path(path)
        meta = read_meta(path)
        ours = meta.get("host") == socket.gethostname() and meta.get("pid") == os.getpid()
        if writer_alive(meta) and not ours:  # two writers would run and append the same cases
            raise ConvbenchError(
                f"resume: {path} is still being written (pid {meta.get('pid')} on {meta.get('host')}); "
                "resume it once that run has stopped"
            )
        rows = read_rows(path).to_dict("records")
        meta.update(state="running", heartbeat_at=_iso(_now()), host=socket.gethostname(), pid=os.getpid())
        meta.setdefault("resumed_at", [])
        meta["resumed_at"] = list(meta["resumed_at"]) + [_iso(_now())]
        _truncate_partial_line(path / JOURNAL)
        writer = cls(path, meta, [_clean(r) for r in rows])
        writer._write_meta()
        return writer

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def done_case_ids(self) -> set[str]:
        return {r["case_id"] for r in self.rows}

    def append(self, row: dict) -> None:
        """Make ``row`` durable (journal + fsync), and rewrite Parquet when due."""
        self._journal.write(_row_to_json(row) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self.rows.append(row)
        now = time.monotonic()
        if len(self.rows) >= max(self._parquet_rows * 1.1, self._parquet_rows + 1) and now - self._parquet_at >= 1.0:
            self._flush_parquet()
        self.meta["heartbeat_at"] = _iso(_now())
        self._write_meta()

    def _flush_parquet(self) -> None:
        write_parquet_atomic(self.path / PARQUET, self.rows)
        self._parquet_rows = len(self.rows)
        self._parquet_at = time.monotonic()

    def _write_meta(self) -> None:
        write_json_atomic(self.path / RUN_JSON, self.meta)

    def update_meta(self, **changes) -> None:
        self.meta.update(changes)
        self._write_meta()

    def finish(self, state: str) -> None:
        """Final Parquet rewrite and run.json with ``state`` (complete or interrupted)."""
        self._flush_parquet()
        self._journal.close()
        self.meta.update(state=state, finished_at=_iso(_now()), heartbeat_at=_iso(_now()))
        self._write_meta()


def _truncate_partial_line(path: Path) -> None:
    """Cut a journal line that a crash left without its newline, so appends stay whole."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def _clean(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k == "samples_s" and v is not None and not isinstance(v, list):
            v = list(v)
        try:
            if v is not None and not isinstance(v, (list, str)) and pd.isna(v):
                v = None
        except (TypeError, ValueError):
            pass
        out[k] = v
    return out


# ---- reading -----------------------------------------------------------------------------
def read_meta(path, fs=None, what: str = "run") -> dict:
    """run.json of a run directory (local, or on an fsspec filesystem ``fs``); a one-line
    ConvbenchError, prefixed ``what``, when it is missing, corrupt or of another schema."""
    p = f"{str(path).rstrip('/')}/{RUN_JSON}"
    try:
        if fs is None:
            with open(p, "rb") as f:
                meta = json.loads(f.read())
        else:
            with fs.open(p, "rb") as f:
                meta = json.loads(f.read())
    except FileNotFoundError:
        raise ConvbenchError(f"{what}: {path} is not a run directory (no {RUN_JSON})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConvbenchError(f"{what}: {p} is corrupt ({exc})") from None
    if not isinstance(meta, dict) or "run_id" not in meta:
        raise ConvbenchError(f"{what}: {p} is not a convbench run.json")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConvbenchError(
            f"{what}: {path} has schema version {version}; this convbench reads version {SCHEMA_VERSION}"
        )
    return meta


def writer_alive(meta: dict) -> bool:
    """Whether a ``running`` run's writer may still be at work (same host and pid alive,
    or a heartbeat younger than :data:`STALE_AFTER_S`)."""
    if meta.get("state") != "running":
        return False
    if meta.get("host") == socket.gethostname() and meta.get("pid"):
        try:
            os.kill(int(meta["pid"]), 0)
        except (ProcessLookupError, PermissionError, ValueError):
            return False
        return True
    hb = meta.get("heartbeat_at")
    try:
        age = (_now() - datetime.fromisoformat(str(hb).replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return False
    return age < STALE_AFTER_S


def _journal_rows(path: Path) -> list[dict]:
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # a line cut by a crash mid-write
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return rows


def read_rows(path: str | os.PathLike) -> pd.DataFrame:
    """Rows of one run directory: Parquet plus journal lines not yet in it."""
    path = Path(path)
    frames = []
    seen: set[str] = set()
    pfile = path / PARQUET
    if pfile.exists():
        try:
            table = pq.read_table(pfile)
        except Exception as exc:
            raise ConvbenchError(f"run: {pfile} is corrupt ({exc})") from None
        df = table.to_pandas()
        seen = set(df["case_id"])
        frames.append(df)
    extra = [r for r in _journal_rows(path / JOURNAL) if r.get("case_id") not in seen]
    if extra:
        frames.append(rows_to_table(extra).to_pandas())
    if not frames:
        return rows_to_table([]).to_pandas()
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df.drop_duplicates(subset=["case_id"], keep="first").reset_index(drop=True)


def _is_run_dir(fs, path: str) -> bool:
    return fs.exists(f"{path.rstrip('/')}/{RUN_JSON}")


def find_runs(location: str | os.PathLike) -> list[str]:
    """Run directories at ``location``: a run directory, a root of them, or a glob."""
    loc = str(location)
    if "://" in loc:
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(loc)
        out = []
        for p in paths:
            if _is_run_dir(fs, p):
                out.append(p)
            elif fs.isdir(p):
                out += sorted(d for d in fs.ls(p, detail=False) if _is_run_dir(fs, d))
        return out
    if any(ch in loc for ch in "*?[") and not Path(loc).exists():  # a real path may hold "[" too
        candidates = sorted(_glob.glob(loc))
    else:
        candidates = [loc]
    out = []
    for c in candidates:
        p = Path(c)
        if (p / RUN_JSON).exists():
            out.append(str(p))
        elif p.is_dir():
            out += sorted(str(d) for d in p.iterdir() if (d / RUN_JSON).exists())
    return out


def load(location, include_incomplete: bool = False, with_meta: bool = False):
    """Rows of every run at ``location`` (a run directory, a root of runs, a glob or an
    fsspec URL) as one DataFrame, in run start order.

    Half-written runs (state ``running`` with no live writer) are skipped with a warning
    unless ``include_incomplete``. ``with_meta=True`` returns (DataFrame, list of run.json).
    """
    loc = str(location)
    runs = find_runs(loc)
    if not runs:
        if "://" not in loc and not any(ch in loc for ch in "*?[") and not Path(loc).exists():
            raise ConvbenchError(f"results: {loc} does not exist")
        raise ConvbenchError(f"results: no run directories at {loc}")
    frames, metas = [], []
    for run in runs:
        if "://" in run or "://" in loc:
            df, meta = _load_remote(loc, run)
        else:
            meta = read_meta(run)
            if meta.get("state") == "running" and not include_incomplete and not writer_alive(meta):
                warnings.warn(f"skipping half-written run {run} (state running, writer gone)", stacklevel=2)
                continue
            df = read_rows(run)
        meta = dict(meta, path=str(run))
        metas.append(meta)
        frames.append(df)
    if not frames:
        raise ConvbenchError(f"results: every run at {loc} is half-written")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return (df, metas) if with_meta else df


def _load_remote(loc: str, run: str):
    import fsspec

    fs, _, _ = fsspec.get_fs_token_paths(loc)
    meta = read_meta(run, fs=fs)
    pfile = f"{run}/{PARQUET}"
    if fs.exists(pfile):
        with fs.open(pfile, "rb") as f:
            df = pq.read_table(f).to_pandas()
    else:
        df = rows_to_table([]).to_pandas()
    return df, meta


def default_root() -> Path:
    return Path("results")


def command_line() -> list[str]:
    return ["convbench", *sys.argv[1:]]
