"""Tracking commands: ``check`` (exit 1 on a regression), ``history`` (series, change points,
trend plot) and ``store push`` / ``store list`` (a history store shared by many machines).

Thin: options -> one library call (:mod:`convbench.reports.regressions`,
:mod:`convbench.results.history`) -> rendering. Library warnings (skipped half-written runs)
are printed on stderr as ``warning: ...`` lines.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from contextlib import contextmanager
from datetime import datetime

import click

from convbench.cli_common import console as _console, parse_fraction, split_values as _split
from convbench.errors import ConvbenchError

_FORMATS = ("table", "json", "markdown")


def _threshold(text: str) -> float:
    """``0.05`` or ``5%`` -> 0.05; a negative or non-numeric value is a user error."""
    return parse_fraction(text, "threshold", "0.05 or 5%")


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ConvbenchError(f"since: expected a date such as 2026-01-31, got {text!r}") from None
    if ts is pd.NaT:
        raise ConvbenchError(f"since: expected a date such as 2026-01-31, got {text!r}")
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _workloads(values: tuple[str, ...]) -> tuple[str, ...]:
    """Descriptors as the ``workload`` column holds them (the layer name dropped); patterns
    with ``*?[`` stay as they are."""
    from convbench.workloads import parse

    out = []
    for v in values:
        if any(ch in v for ch in "*?["):
            out.append(v)
        else:
            out.append(str(parse(v).with_(name="")))
    return tuple(dict.fromkeys(out))


def _filter_options(fn):
    """--workload, --network, --backend, --algorithm, --dtype, --direction, --layout,
    --device, --case: restrict the rows (repeatable, comma-separated, fnmatch patterns)."""
    options = [
        click.option("--workload", "workloads", multiple=True,
                     help="Descriptor(s) of the shapes to keep (patterns such as 'mb1ic64*' work)."),
        click.option("--network", "networks", multiple=True, help="Network or suite column value(s)."),
        click.option("--backend", "backends", multiple=True, help="Backend(s), e.g. torch,onednn."),
        click.option("--algorithm", "algorithms", multiple=True, help="Requested algorithm(s)."),
        click.option("--dtype", "dtypes", multiple=True, help="Dtype(s)."),
        click.option("--direction", "directions", multiple=True, help="fwd, dgrad, wgrad."),
        click.option("--layout", "layouts", multiple=True, help="Layout(s)."),
        click.option("--device", "devices", multiple=True, help="Device(s), e.g. cpu, cuda:0."),
        click.option("--case", "case_ids", multiple=True, help="case_id(s)."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _filters(kw: dict) -> dict[str, tuple[str, ...]]:
    columns = {
        "workloads": "workload", "networks": "network", "backends": "backend", "algorithms": "algorithm_requested",
        "dtypes": "dtype", "directions": "direction", "layouts": "layout", "devices": "device",
        "case_ids": "case_id",
    }
    out = {}
    for arg, column in columns.items():
        values = _split(kw.pop(arg, ()))
        if arg == "workloads":
            values = _workloads(values)
        if values:
            out[column] = values
    return out


@contextmanager
def _library_warnings():
    """Print the library's warnings (skipped runs) on stderr as ``warning: ...``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                    continue
                click.echo(f"warning: {w.message}", err=True)


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text.rstrip("\n") + "\n\n")


def _with_filters(fn):
    @functools.wraps(fn)
    def wrapper(**kw):
        filters = _filters(kw)
        return fn(filters=filters, **kw)

    return _filter_options(wrapper)


# ---- check ---------------------------------------------------------------------------------
@click.command("check")
@click.option("--baseline", required=True, metavar="RUN_OR_DIR",
              help="A run directory, or a folder/store of runs (per case the median over them; their "
                   "spread is the noise). Local path or fsspec URL.")
@click.option("--candidate", required=True, metavar="RUN",
              help="The run to judge (or a folder holding one night's shards).")
@click.option("--threshold", default="5%", show_default=True,
              help="Smallest slowdown that counts: 0.05 or 5%.")
@click.option("--last", type=click.IntRange(min=1),
              help="Use only the N most recent baseline runs started before the candidate.")
@click.option("--fail-on-missing", is_flag=True,
              help="Exit 1 also when a case of the baseline is missing from the candidate.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
@click.option("--summary", "summary_file", type=click.Path(dir_okay=False),
              help="Also append the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY).")
@_with_filters
def check_cmd(baseline, candidate, threshold, last, fail_on_missing, fmt, summary_file, filters):
    """Exit 1 if the CANDIDATE run regressed against the BASELINE.

    A case regressed when its time ratio (candidate / baseline) is at least 1 + threshold and
    its 95% interval lies wholly above 1, or when it was ok in the baseline and is not ok now.
    Regressions are listed worst first with ratio and confidence; improvements are reported too.
    A baseline whose environment (device, driver, library versions, clocks) differs from the
    candidate's is named on stderr.

    \b
    Exit status: 0 no regression, 1 regression, 2 bad input.
    Examples:
      convbench check --baseline results/ --candidate results/20260131T020000Z-gpu1-1a2b3c4d
      convbench check --baseline s3://perf/nightly --last 7 --candidate results/RUN --format markdown
    """
    from convbench.reports import regressions as R

    with _library_warnings():
        result = R.check(baseline, candidate, threshold=_threshold(threshold), last=last, filters=filters or None,
                         fail_on_missing=fail_on_missing)
    for d in result.environment_differences:
        click.echo(f"warning: environment differs from the baseline: {d.describe()}", err=True)
    markdown = R.check_markdown(result)
    _append(summary_file, markdown)
    if fmt == "json":
        click.echo(json.dumps(R.check_to_json(result), indent=2, default=str))
    elif fmt == "markdown":
        click.echo(markdown)
    else:
        _print_check(result)
    sys.exit(result.exit_code)


def _print_check(result) -> None:
    from rich.table import Table

    from convbench.reports import regressions as R

    out = _console()
    style = "bold red" if result.exit_code else "bold green"
    out.print(f"[{style}]{R.check_headline(result)}[/]")

    def table(title, cases, with_ratio=True):
        t = Table(title=title, title_justify="left", show_edge=False)
        for col in ("case", "layer", "baseline", "candidate", *(("ratio [95% CI]", "confidence") if with_ratio
                                                                  else ("status", "reason"))):
            t.add_column(col, overflow="fold")
        for c in cases:
            if with_ratio:
                t.add_row(c.label, c.layer, R.format_time(c.baseline.median_s), R.format_time(c.candidate.median_s),
                          R.format_ratio(c.ratio), f"{c.confidence:.1%}")
            else:
                t.add_row(c.label, c.layer, c.baseline_status or "-", c.candidate_status or "-",
                          c.candidate_status or "-", c.reason)
        out.print(t)

    if result.broken:
        table("broken (ok in the baseline, not ok now)", result.broken, with_ratio=False)
    if result.regressions:
        table("regressions, worst first", result.regressions)
    if result.improvements:
        table("improvements", result.improvements)
    missing = [c for c in result.cases if c.outcome == R.MISSING]
    if missing:
        out.print(f"{len(missing)} case(s) of the baseline are missing from the candidate"
                  + (" (--fail-on-missing)" if result.fail_on_missing else ""))


# ---- history -------------------------------------------------------------------------------
@click.command("history")
@click.argument("store", metavar="STORE")
@click.option("--threshold", default="5%", show_default=True,
              help="Smallest change of level reported as a change point: 0.05 or 5%.")
@click.option("--min-runs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Fewest runs on each side of a change point.")
@click.option("--last", type=click.IntRange(min=1), help="Only the N most recent runs.")
@click.option("--since", help="Only runs started at or after this date/time (UTC), e.g. 2026-01-01.")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown", "csv")), default="table",
              show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write the trend plot (PNG) to FILE.")
@click.option("--plot-cases", type=click.IntRange(min=1), default=24, show_default=True,
              help="Panels in the plot at most (cases with change points first).")
@click.option("--summary", "summary_file", type=click.Path(dir_okay=False),
              help="Also append the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--fail-recent", type=click.IntRange(min=1), metavar="N",
              help="Exit 1 when a case got slower (a change point) within the N most recent runs; "
                   "N = --min-runs raises each lasting step once, on the night it is confirmed.")
@_with_filters
def history_cmd(store, threshold, min_runs, last, since, fmt, plot_path, plot_cases, summary_file, fail_recent,
                filters):
    """Time series per case over a STORE of runs, with change points and environment changes.

    A change point is reported where the medians of the runs before and after it differ by at
    least the threshold and beyond their noise, with at least --min-runs runs on each side; it
    names the first run of the new level. One noisy night does not make one. Environment changes
    (driver, framework versions, clocks, CPU model, convbench commit) are listed and marked on the
    plot's time axis.

    \b
    Exit status: 0, or 1 with --fail-recent when a case slowed down recently; 2 bad input.
    Examples:
      convbench history results/ --backend torch --plot trend.png
      convbench history s3://perf/nightly --workload mb32ic64ih56oc64kh3ph1 --format json
    """
    from convbench.reports import regressions as R

    with _library_warnings():
        h = R.history(store, filters=filters or None, threshold=_threshold(threshold), last=last,
                      since=_since(since), min_size=min_runs)
    if plot_path:
        R.plot_history(h, plot_path, max_cases=plot_cases)
        click.echo(f"plot: {plot_path}", err=True)
    markdown = R.history_markdown(h)
    _append(summary_file, markdown)
    if fmt == "json":
        click.echo(json.dumps(R.history_to_json(h), indent=2, default=str))
    elif fmt == "markdown":
        click.echo(markdown)
    elif fmt == "csv":
        click.echo(R.history_csv(h), nl=False)
    else:
        _print_history(h)
    if fail_recent and h.runs:
        recent = {r.run_id for r in h.runs[-fail_recent:]}
        if any(cp.run_id in recent and cp.direction == "slower" for cp in h.change_points):
            sys.exit(1)


def _print_history(h) -> None:
    from rich.table import Table

    from convbench.reports import regressions as R

    out = _console()
    cps = h.change_points
    out.print(f"[bold]{len(h.runs)} runs, {len(h.cases)} cases, {len(cps)} change point(s)[/] "
              f"(threshold {h.threshold:.1%}, at least {h.min_size} runs each side)")
    t = Table(show_edge=False)
    for col in ("case", "layer", "ok runs", "latest", "median", "trend", "change points"):
        t.add_column(col, overflow="fold")
    for row in R.history_summary_rows(h):
        t.add_row(*row.values(), style="red" if row["change_points"] != "-" else None)
    out.print(t)
    if h.environment_changes:
        e = Table(title="environment changes", title_justify="left", show_edge=False)
        for col in ("started", "run", "key", "before", "after"):
            e.add_column(col, overflow="fold")
        for ch in h.environment_changes:
            for k, a, b in ch.changes:
                e.add_row(ch.started_at.strftime("%Y-%m-%d %H:%M"), ch.run_id, k, a or "-", b or "-")
        out.print(e)


# ---- store ---------------------------------------------------------------------------------
@click.group("store")
def store_group():
    """A history store: one directory (local path or fsspec URL such as s3://bucket/prefix) of
    run directories, written by many machines at once."""


@store_group.command("push")
@click.argument("run", metavar="RUN")
@click.argument("store", metavar="STORE")
def store_push(run, store):
    """Copy the finished RUN directory into STORE, atomically.

    Readers see all of the run or none of it: a local store gets it renamed into place from a
    temp folder; a remote one gets run.json (the commit marker) after every other file. A run
    still running or half-written is refused (exit 2); pushing a run twice copies it once."""
    from convbench.results.history import push_run

    result = push_run(run, store)
    click.echo(("pushed: " if result.copied else "already in the store: ") + result.destination)


@store_group.command("list")
@click.argument("store", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def store_list(store, fmt):
    """List the runs of STORE (oldest first) and the directories skipped, with why."""
    from convbench.results.history import list_runs

    with _library_warnings():
        listing = list_runs(store, warn=False)
    if fmt == "json":
        click.echo(json.dumps({
            "runs": [{"run_id": r.run_id, "name": r.name, "path": r.path, "started_at": r.started_at.isoformat(),
                      "state": r.state, "host": r.host} for r in listing.runs],
            "skipped": [{"path": s.path, "reason": s.reason} for s in listing.skipped],
        }, indent=2))
        return
    from rich.table import Table

    t = Table(show_edge=False)
    for col in ("started (UTC)", "run", "state", "host", "name"):
        t.add_column(col, overflow="fold")
    for r in listing.runs:
        t.add_row(r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.run_id, r.state, r.host, r.name)
    out = _console()
    out.print(t)
    for s in listing.skipped:
        click.echo(f"skipped {s.path}: {s.reason}", err=True)


COMMANDS = [check_cmd, history_cmd, store_group]
