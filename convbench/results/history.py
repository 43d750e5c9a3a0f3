"""A history store: one directory (a local path or any fsspec URL) holding many run directories.

Many machines write into one store at once without coordination: every run is its own
directory ``<UTC stamp>-<host>-<id>/``, so writers never touch the same files. A run becomes
visible to readers only once its ``run.json`` exists, and :func:`push_run` writes that file last
(into a local store it copies to a hidden temp directory and renames it into place, one atomic
step; into an object store it uploads the data files first and ``run.json`` last, as the commit
marker, since a single object upload is atomic there).

Readers (:func:`list_runs`, :func:`read_records`) list the store in a few calls, read every
``run.json`` in one batch, and read the rows of all runs as one ``pyarrow.dataset`` over their
``records.parquet`` files, filtering and projecting in Arrow (no Python loop over files). Runs
that cannot be data are skipped with a warning and listed in :attr:`StoreListing.skipped`: a
run still being written, a half-written one (state ``running``, writer gone), an upload without
its ``run.json``, a corrupt ``run.json`` or Parquet file, another schema version.

Times are UTC; durations are seconds.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from convbench.errors import ConvbenchError
from convbench.results.schema import ARROW_SCHEMA, CASE_KEY, COLUMN_NAMES, SCHEMA_VERSION
from convbench.results.store import PARQUET, RUN_JSON, fsync_path, read_rows, writer_alive

#: Name of a run directory as RunWriter makes it: ``20260101T020000Z-host-1a2b3c4d``.
RUN_NAME = re.compile(r"^\d{8}T\d{6}Z-.+-[0-9a-f]{8}$")
#: Hidden folder of a local store where :func:`push_run` assembles a run before renaming it.
INCOMING = ".incoming"
#: States whose rows are data (``running`` runs are either in progress or half-written).
FINISHED_STATES = ("complete", "interrupted")
#: The columns :func:`read_records` returns by default: identity, status and time, no samples.
DEFAULT_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys((
    "run_id", "case_id", "started_at", *CASE_KEY, "network", "layer", "count", "repeat", "algorithm",
    "device_name", "backend_version", "status", "reason", "time_median_s", "time_ci_low_s",
    "time_ci_high_s", "noise_rel", "samples", "throttled", "target_reached",
)))


# ---- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunInfo:
    """One readable run of a store.

    ``path`` is the run directory as the store's filesystem names it (a local absolute path,
    or the fsspec path without its protocol); ``started_at`` is the run's start (UTC) from
    ``run.json``; ``environment`` is :func:`environment_summary` of its ``run.json`` as sorted
    (key, value) pairs.
    """

    run_id: str
    name: str
    path: str
    started_at: datetime
    state: str
    host: str
    environment: tuple[tuple[str, str], ...]

    @property
    def env(self) -> dict[str, str]:
        """The environment summary as a dict."""
        return dict(self.environment)


@dataclass(frozen=True)
class SkippedRun:
    """A directory of the store that was not read as data, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class StoreListing:
    """The readable runs at a location, oldest first, and the ones skipped.

    ``url`` is the location as given; ``protocol`` is the fsspec protocol (``file`` locally).
    """

    url: str
    protocol: str
    runs: tuple[RunInfo, ...]
    skipped: tuple[SkippedRun, ...]

    def select(self, runs: Iterable[RunInfo]) -> "StoreListing":
        """The same store restricted to ``runs``."""
        return StoreListing(self.url, self.protocol, tuple(runs), self.skipped)


@dataclass(frozen=True)
class EnvironmentChange:
    """What changed in the environment at run ``run_id`` compared with the run before it.

    ``changes`` holds (key, before, after) triples; a missing value is ``""``.
    """

    run_id: str
    started_at: datetime
    previous_run_id: str
    changes: tuple[tuple[str, str, str], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _, _ in self.changes)


@dataclass(frozen=True)
class EnvironmentDifference:
    """One environment key on which a baseline and a candidate are not the same setup.

    ``baseline`` and ``candidate`` hold (value, number of runs) pairs, most frequent first;
    a key a run does not record has the value ``""``.
    """

    key: str
    baseline: tuple[tuple[str, int], ...]
    candidate: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        """``key: baseline A (12 runs), B (3 runs); candidate B``."""

        def side(values):
            if len(values) == 1:
                return values[0][0] or "(not recorded)"
            return ", ".join(f"{v or '(not recorded)'} ({n} run{'s' if n != 1 else ''})" for v, n in values)

        return f"{self.key}: baseline {side(self.baseline)}; candidate {side(self.candidate)}"


@dataclass(frozen=True)
class PushResult:
    """Where :func:`push_run` put a run; ``copied`` is False when the store already held it."""

    destination: str
    copied: bool


# ---- filesystems ---------------------------------------------------------------------------
def _is_url(location: str) -> bool:
    return "://" in location


def _filesystem(location: str | os.PathLike):
    """(fsspec filesystem, path in it) for a local path or URL."""
    import fsspec

    loc = str(location)
    if _is_url(loc):
        try:
            fs, path = fsspec.core.url_to_fs(loc)
        except (ImportError, ValueError) as exc:
            raise ConvbenchError(f"store: cannot open {loc} ({exc})") from None
        return fs, path.rstrip("/") or "/"
    return fsspec.filesystem("file"), os.path.abspath(os.path.expanduser(loc))


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def _protocol(fs) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return str(protocol[0])


def _arrow_fs(fs):
    import pyarrow.fs as pafs

    if _is_local(fs):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def _join(*parts: str) -> str:
    """Join fsspec paths (fsspec writes paths with ``/`` on every platform)."""
    return posixpath.join(*parts)


def _parent(path: str) -> str:
    return posixpath.dirname(path.rstrip("/"))


# ---- environment ---------------------------------------------------------------------------
_DEVICE_FIELDS = (
    # CPU
    "model", "arch", "physical_cores", "logical_cores", "isa_flags", "l2_cache_bytes", "l3_cache_bytes",
    "governor",
    # GPU
    "name", "compute_capability", "sm_count", "memory_bytes", "driver", "cuda_runtime", "cudnn",
    "max_sm_clock_mhz", "max_mem_clock_mhz", "app_sm_clock_mhz", "app_mem_clock_mhz", "power_limit_w",
    "persistence_mode", "locked_sm_clock_mhz", "locked_mem_clock_mhz",
)
#: Keys whose change history marks but check does not warn about (the harness's own revision
#: changes every night in a CI that tracks convbench's main branch).
CHECK_IGNORED_KEYS = ("convbench.commit",)


def _text(value) -> str | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def environment_summary(meta: Mapping) -> dict[str, str]:
    """The facts of a run's ``run.json`` that decide whether two runs are comparable, flattened
    to ``{key: text}``: convbench version and commit, Python, OS, thread settings and thread
    variables, package versions (``package.torch``), each backend's library versions
    (``torch.onednn``), and per device its model, ISA, core count, caches and governor (CPU), or
    its name, driver, CUDA runtime, cuDNN, clocks (MHz), power limit (W) and persistence mode
    (GPU). The CPU's maximum frequency is kept (MHz), its momentary one is not; host names and
    GPU serial numbers are left out, so runs of one configuration on several machines of a
    fleet compare as one environment.
    """
    env = meta.get("environment") or {}
    out: dict[str, str] = {}

    def put(key: str, value) -> None:
        text = _text(value)
        if text is not None:
            out[key] = text

    put("convbench.version", env.get("convbench"))
    put("convbench.commit", env.get("convbench_commit"))
    put("python", env.get("python"))
    put("os", env.get("platform"))
    put("threads", env.get("threads"))
    for name, value in sorted((env.get("env") or {}).items()):
        put(f"env.{name}", value)
    for name, value in sorted((env.get("packages") or {}).items()):
        put(f"package.{name}", value)
    for backend, info in sorted((meta.get("backends") or {}).items()):
        if isinstance(info, dict):
            for lib, value in sorted((info.get("versions") or {}).items()):
                put(f"{backend}.{lib}", value)
    for device, facts in sorted((env.get("devices") or {}).items()):
        if not isinstance(facts, dict):
            continue
        if "unavailable" in facts or "error" in facts:
            put(f"{device}.available", "no")
            continue
        for field in _DEVICE_FIELDS:
            put(f"{device}.{field}", facts.get(field))
        freq = facts.get("freq_mhz")
        if isinstance(freq, dict) and freq.get("max"):
            put(f"{device}.max_freq_mhz", freq["max"])
        if facts.get("affinity"):
            put(f"{device}.cpus_allowed", len(facts["affinity"]))
    return out


def environment_changes(runs: Sequence[RunInfo]) -> tuple[EnvironmentChange, ...]:
    """For runs in time order, each run whose environment differs from the run before it."""
    out = []
    for prev, run in zip(runs, runs[1:]):
        a, b = prev.env, run.env
        changes = tuple((k, a.get(k, ""), b.get(k, "")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        if changes:
            out.append(EnvironmentChange(run.run_id, run.started_at, prev.run_id, changes))
    return tuple(out)


def environment_differences(baseline: Sequence[RunInfo], candidate: Sequence[RunInfo],
                            ignore: Sequence[str] = CHECK_IGNORED_KEYS) -> tuple[EnvironmentDifference, ...]:
    """Keys on which the candidate runs are not the same setup as the baseline runs: the
    candidate's values differ from the baseline's, or either side mixes several values."""

    def counted(runs, key):
        counts: dict[str, int] = {}
        for r in runs:
            v = r.env.get(key, "")
            counts[v] = counts.get(v, 0) + 1
        return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    keys = sorted({k for r in (*baseline, *candidate) for k in r.env} - set(ignore))
    out = []
    for key in keys:
        b, c = counted(baseline, key), counted(candidate, key)
        if len(b) == 1 and len(c) == 1 and b[0][0] == c[0][0]:
            continue
        out.append(EnvironmentDifference(key, b, c))
    return tuple(out)


# ---- listing -------------------------------------------------------------------------------
def _parse_time(text) -> datetime | None:
    try:
        ts = pd.Timestamp(str(text))
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").to_pydatetime()


def _run_info(path: str, raw: bytes | Exception, has_parquet: bool) -> RunInfo | SkippedRun:
    name = posixpath.basename(path.rstrip("/"))
    if isinstance(raw, Exception):
        return SkippedRun(path, f"unreadable {RUN_JSON} ({type(raw).__name__}: {raw})")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return SkippedRun(path, f"corrupt {RUN_JSON} ({exc})")
    if not isinstance(meta, dict) or "run_id" not in meta:
        return SkippedRun(path, f"{RUN_JSON} is not a convbench run.json")
    if meta.get("schema_version") != SCHEMA_VERSION:
        return SkippedRun(path, f"schema version {meta.get('schema_version')} (this convbench reads {SCHEMA_VERSION})")
    state = meta.get("state")
    if state == "running":
        if writer_alive(meta):
            return SkippedRun(path, "still running (its writer is alive)")
        return SkippedRun(path, "half-written (state running, writer gone)")
    if state not in FINISHED_STATES:
        return SkippedRun(path, f"unknown state {state!r}")
    if not has_parquet:
        return SkippedRun(path, f"no {PARQUET} (state {state})")
    started = _parse_time(meta.get("started_at"))
    if started is None:
        return SkippedRun(path, f"started_at {meta.get('started_at')!r} is not a time")
    env = environment_summary(meta)
    return RunInfo(
        run_id=str(meta["run_id"]), name=name, path=path, started_at=started, state=str(state),
        host=str(meta.get("host") or ""), environment=tuple(sorted(env.items())),
    )


def _glob_chars(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def list_runs(location: str | os.PathLike, warn: bool = True) -> StoreListing:
    """The runs at ``location`` (a run directory, a store of them, a local glob, or an fsspec
    URL of either), oldest first by their ``started_at``.

    The store is listed in two calls (``*/run.json`` and ``*/records.parquet``) and every
    ``run.json`` is read in one batch (concurrent on object stores). Runs that are not data are
    left out, listed in ``skipped`` and, with ``warn``, reported with :func:`warnings.warn`.
    ConvbenchError when the location does not exist.
    """
    loc = str(location)
    fs, root = _filesystem(loc)
    if _glob_chars(root) and not _is_url(loc):
        matches = sorted(fs.glob(root))
        roots = [m for m in matches if fs.isdir(m)]
        if not roots:
            raise ConvbenchError(f"store: no directory matches {loc}")
    else:
        if not fs.exists(root):
            raise ConvbenchError(f"store: {loc} does not exist")
        if not fs.isdir(root):
            raise ConvbenchError(f"store: {loc} is not a directory")
        roots = [root]
    run_json: list[str] = []
    parquet: set[str] = set()
    bare: list[str] = []
    for r in roots:
        if fs.exists(_join(r, RUN_JSON)):
            run_json.append(_join(r, RUN_JSON))
            if fs.exists(_join(r, PARQUET)):
                parquet.add(r)
            continue
        found = [p for p in fs.glob(_join(r, "*", RUN_JSON))]
        run_json += found
        parquet |= {_parent(p) for p in fs.glob(_join(r, "*", PARQUET))}
        with_meta = {_parent(p) for p in found}
        for entry in fs.ls(r, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry.get("type") == "directory" and RUN_NAME.match(name) and entry["name"].rstrip("/") not in with_meta:
                bare.append(entry["name"].rstrip("/"))
    contents = fs.cat(sorted(set(run_json)), on_error="return") if run_json else {}
    runs, skipped = [], [SkippedRun(p, f"no {RUN_JSON}: creation or upload did not finish") for p in sorted(bare)]
    for meta_path in sorted(set(run_json)):
        run_dir = _parent(meta_path)
        raw = contents.get(meta_path)
        if raw is None:  # fsspec may key by a normalised path
            raw = next((v for k, v in contents.items() if k.rstrip("/").endswith(meta_path.lstrip("/"))),
                       FileNotFoundError(meta_path))
        info = _run_info(run_dir, raw, run_dir in parquet)
        (runs if isinstance(info, RunInfo) else skipped).append(info)
    if warn:
        for s in skipped:
            warnings.warn(f"skipping run {s.path}: {s.reason}", stacklevel=2)
    runs.sort(key=lambda r: (r.started_at, r.name))
    return StoreListing(url=loc, protocol=_protocol(fs), runs=tuple(runs), skipped=tuple(skipped))


def select_runs(listing: StoreListing, last: int | None = None, since: datetime | None = None,
                until: datetime | None = None, exclude_run_ids: Iterable[str] = ()) -> StoreListing:
    """Runs of ``listing`` started in [since, until), without ``exclude_run_ids``, the ``last``
    most recent of them (all when None)."""
    excluded = set(exclude_run_ids)
    runs = [r for r in listing.runs if r.run_id not in excluded
            and (since is None or r.started_at >= since) and (until is None or r.started_at < until)]
    if last is not None:
        if last < 1:
            raise ConvbenchError(f"last: must be at least 1, got {last}")
        runs = runs[-last:]
    return listing.select(runs)


# ---- reading rows --------------------------------------------------------------------------
def _matcher_expression(filters: Mapping[str, Sequence[str]]):
    """Arrow filter for exact values; (column, patterns) left for fnmatch after the read."""
    expr = None
    patterns = {}
    for column, values in filters.items():
        if column not in COLUMN_NAMES:
            raise ConvbenchError(f"filter: {column!r} is not a result column")
        values = tuple(str(v) for v in values)
        if not values:
            continue
        if any(_glob_chars(v) for v in values):
            patterns[column] = values
            continue
        term = ds.field(column).isin(list(values))
        expr = term if expr is None else expr & term
    return expr, patterns


def read_records(listing: StoreListing, columns: Sequence[str] | None = None,
                 filters: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Rows of every run of ``listing`` as one DataFrame, read as one ``pyarrow.dataset`` over
    their Parquet files with the filter pushed into the scan.

    ``columns``: result columns to read (default :data:`DEFAULT_COLUMNS`; ``samples_s`` is
    large and only read when asked for). ``filters``: {column: values}; a row passes when, for
    every column, its value equals one of the values (values with ``*?[`` are fnmatch
    patterns). Added columns: ``run_name``, ``run_path`` and ``run_started_at`` (UTC) of the
    row's run. A run whose Parquet file turns out unreadable is skipped with a warning.
    """
    cols = list(dict.fromkeys(columns or DEFAULT_COLUMNS))
    for c in cols:
        if c not in COLUMN_NAMES:
            raise ConvbenchError(f"columns: {c!r} is not a result column")
    if "run_id" not in cols:
        cols.insert(0, "run_id")
    expr, patterns = _matcher_expression(filters or {})
    for c in patterns:
        if c not in cols:
            cols.append(c)
    runs = list(listing.runs)
    if not runs:
        return _empty_frame(cols)
    fs, _ = _filesystem(listing.url)
    afs = _arrow_fs(fs)
    by_file = {_join(r.path, PARQUET): r for r in runs}
    table = None
    while by_file:
        try:
            dataset = ds.dataset(list(by_file), schema=ARROW_SCHEMA, format="parquet", filesystem=afs)
            table = dataset.to_table(columns=[*cols, "__filename"], filter=expr)
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            bad = _unreadable_files(list(by_file), afs)
            if not bad:
                raise ConvbenchError(f"store: cannot read the runs of {listing.url} ({exc})") from None
            for f in bad:
                warnings.warn(f"skipping run {by_file[f].path}: {PARQUET} is unreadable", stacklevel=2)
                del by_file[f]
    if table is None:
        return _empty_frame(cols)
    df = table.to_pandas()
    runs_of = df.pop("__filename").map(lambda f: by_file[f])
    df["run_name"] = runs_of.map(lambda r: r.name)
    df["run_path"] = runs_of.map(lambda r: r.path)
    df["run_started_at"] = pd.to_datetime(runs_of.map(lambda r: r.started_at), utc=True)
    missing_id = df["run_id"].isna()
    if missing_id.any():
        df.loc[missing_id, "run_id"] = runs_of[missing_id].map(lambda r: r.run_id)
    for column, values in patterns.items():
        text = df[column].astype(str)
        df = df[text.map(lambda v: any(fnmatch.fnmatchcase(v, p) for p in values))]
    return df.reset_index(drop=True)


def _empty_frame(cols: Sequence[str]) -> pd.DataFrame:
    df = pa.Table.from_pylist([], schema=pa.schema([ARROW_SCHEMA.field(c) for c in cols])).to_pandas()
    df["run_name"] = pd.Series(dtype=object)
    df["run_path"] = pd.Series(dtype=object)
    df["run_started_at"] = pd.Series(dtype="datetime64[us, UTC]")
    return df


def _unreadable_files(files: list[str], afs) -> list[str]:
    bad = []
    for f in files:
        try:
            pq.ParquetFile(afs.open_input_file(f)).schema_arrow
        except (pa.ArrowInvalid, OSError):
            bad.append(f)
    return bad


def load_store(location: str | os.PathLike, columns: Sequence[str] | None = None,
               filters: Mapping[str, Sequence[str]] | None = None, last: int | None = None,
               since: datetime | None = None) -> tuple[pd.DataFrame, StoreListing]:
    """:func:`list_runs`, :func:`select_runs` and :func:`read_records` in one call."""
    listing = select_runs(list_runs(location), last=last, since=since)
    return read_records(listing, columns=columns, filters=filters), listing


# ---- push ----------------------------------------------------------------------------------
def _read_meta_any(fs, run_dir: str) -> dict:
    from convbench.results.store import read_meta

    return read_meta(run_dir, fs=fs, what="push")


def _run_files(fs, run_dir: str) -> list[str]:
    """Names of the plain files of a run directory, temp files (``.name``) left out."""
    out = []
    for entry in fs.ls(run_dir, detail=True):
        name = posixpath.basename(entry["name"].rstrip("/"))
        if entry.get("type") == "file" and not name.startswith("."):
            out.append(name)
    return sorted(out)


def _consolidated_parquet(fs, run_dir: str) -> bytes | None:
    """The Parquet bytes to publish when the journal holds rows the Parquet file lacks (a run
    interrupted between rewrites); None when ``records.parquet`` is already complete."""
    if not _is_local(fs):
        return None
    rows = read_rows(run_dir)
    pfile = _join(run_dir, PARQUET)
    have = pq.ParquetFile(pfile).metadata.num_rows if os.path.exists(pfile) else -1
    if have == len(rows):
        return None
    table = pa.Table.from_pandas(rows[list(COLUMN_NAMES)], schema=ARROW_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def push_run(run: str | os.PathLike, store: str | os.PathLike) -> PushResult:
    """Copy the finished run directory ``run`` into ``store`` (a local path or fsspec URL) so
    that readers see all of it or none of it.

    A local store gets the run assembled in ``STORE/.incoming/`` and renamed into place (one
    atomic rename; files and directories fsynced first). A remote store gets the data files
    first and ``run.json`` last: readers list runs by their ``run.json``, so that single upload
    is the commit. Pushing a run the store already holds (same name and run id) copies nothing.
    A run that is still running or half-written is refused (ConvbenchError): resume or finish it.
    """
    src_fs, src = _filesystem(run)
    if not src_fs.isdir(src):
        raise ConvbenchError(f"push: {run} is not a directory")
    meta = _read_meta_any(src_fs, src)
    state = meta.get("state")
    if state == "running":
        if writer_alive(meta):
            raise ConvbenchError(f"push: {run} is still running; push it when it has finished")
        raise ConvbenchError(f"push: {run} is half-written (state running, writer gone); "
                             f"finish it with `convbench run --resume {run}` first")
    if state not in FINISHED_STATES:
        raise ConvbenchError(f"push: {run} has state {state!r}; only finished runs are pushed")
    name = posixpath.basename(src.rstrip("/"))
    dst_fs, root = _filesystem(store)
    dst = _join(root, name)
    existing = _existing_run(dst_fs, dst)
    if existing is not None:
        if existing.get("run_id") == meta["run_id"]:
            return PushResult(_display(store, dst), copied=False)
        raise ConvbenchError(f"push: {_display(store, dst)} already holds another run ({existing.get('run_id')})")
    files = _run_files(src_fs, src)
    if PARQUET not in files:
        raise ConvbenchError(f"push: {run} has no {PARQUET}")
    parquet_bytes = _consolidated_parquet(src_fs, src)
    if _is_local(dst_fs):
        _push_local(src_fs, src, files, parquet_bytes, dst_fs, root, name)
    else:
        _push_remote(src_fs, src, files, parquet_bytes, dst_fs, dst)
    return PushResult(_display(store, dst), copied=True)


def _display(store, dst: str) -> str:
    s = str(store)
    if _is_url(s):
        return s.rstrip("/") + "/" + posixpath.basename(dst)
    return dst


def _existing_run(fs, dst: str) -> dict | None:
    try:
        with fs.open(_join(dst, RUN_JSON), "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"run_id": None}


def _push_local(src_fs, src: str, files: list[str], parquet_bytes: bytes | None, dst_fs, root: str,
                name: str) -> None:
    os.makedirs(root, exist_ok=True)
    incoming = os.path.join(root, INCOMING)
    os.makedirs(incoming, exist_ok=True)
    tmp = os.path.join(incoming, f"{name}.{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)
    try:
        for fname in [f for f in files if f != RUN_JSON] + [RUN_JSON]:
            target = os.path.join(tmp, fname)
            if fname == PARQUET and parquet_bytes is not None:
                with open(target, "wb") as out:
                    out.write(parquet_bytes)
            elif _is_local(src_fs):
                shutil.copyfile(_join(src, fname), target)
            else:
                src_fs.get_file(_join(src, fname), target)
            fsync_path(target)
        fsync_path(tmp)
        try:
            os.rename(tmp, os.path.join(root, name))
        except OSError:
            if _existing_run(dst_fs, os.path.join(root, name)) is not None:
                return  # another writer pushed the same run at the same moment
            raise
        fsync_path(root)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _push_remote(src_fs, src: str, files: list[str], parquet_bytes: bytes | None, dst_fs, dst: str) -> None:
    dst_fs.makedirs(dst, exist_ok=True)
    for fname in [f for f in files if f != RUN_JSON]:
        if fname == PARQUET and parquet_bytes is not None:
            dst_fs.pipe_file(_join(dst, fname), parquet_bytes)
        else:
            with src_fs.open(_join(src, fname), "rb") as f:
                dst_fs.pipe_file(_join(dst, fname), f.read())
    with src_fs.open(_join(src, RUN_JSON), "rb") as f:
        dst_fs.pipe_file(_join(dst, RUN_JSON), f.read())  # the commit marker: written last


__all__ = [
    "CHECK_IGNORED_KEYS", "DEFAULT_COLUMNS", "EnvironmentChange", "EnvironmentDifference", "FINISHED_STATES",
    "INCOMING", "PushResult", "RUN_NAME", "RunInfo", "SkippedRun", "StoreListing",
    "environment_changes", "environment_differences", "environment_summary", "list_runs", "load_store",
    "push_run", "read_records", "select_runs",
]
