"""A self-contained report of one or more runs: HTML (one file) or Markdown (for a pull request).

The page holds each run's environment (versions, CPU/GPU, threads, warnings, roofs), the
summary verdicts, comparison tables (between runs; between backends and dtypes within a run),
roofline plots, a per-network breakdown (time per layer x count, which layers dominate) and
every row that was unsupported, wrong or failed, with its reason.

HTML embeds its images as base64 PNG and its CSS and a few lines of sorting JavaScript inline:
no network access. Every user-provided string is escaped (jinja2 autoescape for HTML, a
Markdown escaper for Markdown). Runs without an ok row still get a page: their failed rows
and environment, without comparisons or rooflines.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from convbench.errors import ConvbenchError
from convbench.reports import compare as cmp
from convbench.reports import roofline as rl
from convbench.reports.compare import RunSet

FORMATS = ("html", "md")


# ---- the report's content ------------------------------------------------------------------
@dataclass(frozen=True)
class RunInfo:
    """What the page says about one run."""

    run_id: str
    path: str
    state: str
    started_at: str
    finished_at: str
    host: str
    command: str
    threads: str
    facts: tuple[tuple[str, str], ...]  # (name, value): CPU, GPUs, packages, backends
    warnings: tuple[str, ...]
    statuses: tuple[tuple[str, int], ...]
    roofs: tuple[tuple[str, str, str, str], ...]  # (what, measured, datasheet/formula, method)


@dataclass(frozen=True)
class Table:
    """A table of display strings; ``sort`` holds a numeric sort key per cell (or None)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    sort: tuple[tuple[float | None, ...], ...] = ()
    lines: tuple[str, ...] = ()  # text shown above the table
    note: str = ""  # caption under it
    classes: tuple[tuple[str, ...], ...] = ()  # per-cell CSS class (verdict colours)


@dataclass(frozen=True)
class Plot:
    title: str
    png: bytes
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    ceilings: Table
    filename: str  # for Markdown, where the PNG is written beside the report


@dataclass(frozen=True)
class Report:
    title: str
    generated_at: str
    version: str
    runs: tuple[RunInfo, ...]
    summary: tuple[str, ...]
    comparisons: tuple[Table, ...]
    plots: tuple[Plot, ...]
    networks: tuple[Table, ...]
    failures: Table
    notes: tuple[str, ...]


def _fmt_time(s) -> str:
    from convbench.reports.console import fmt_time

    return fmt_time(s)


def _rate(v, unit="FLOP/s") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return rl._fmt_rate(float(v), unit)


def _run_info(runs: RunSet, meta: dict) -> RunInfo:
    from convbench.reports.peaks import roofs_for_run

    env = meta.get("environment") or {}
    devs = env.get("devices") or {}
    facts = []
    cpu = devs.get("cpu") or {}
    if cpu and "unavailable" not in cpu:
        freq = cpu.get("freq_mhz") or {}
        clock = freq.get("max") or freq.get("current")
        facts.append(("CPU", f"{cpu.get('model', '?')}, {cpu.get('physical_cores', '?')} cores "
                             f"({cpu.get('logical_cores', '?')} threads)"
                             + (f", {clock:.0f} MHz" if clock else "")
                             + (f", governor {cpu['governor']}" if cpu.get("governor") else "")))
        if cpu.get("isa_flags"):
            facts.append(("ISA", " ".join(cpu["isa_flags"])))
    for name, d in devs.items():
        if name == "cpu" or not isinstance(d, dict):
            continue
        if "unavailable" in d or "error" in d:
            facts.append((name, str(d.get("unavailable") or d.get("error"))))
            continue
        facts.append((name, f"{d.get('name', '?')}, CC {d.get('compute_capability', '?')}, "
                            f"driver {d.get('driver', '?')}, CUDA {d.get('cuda_runtime', '?')}, "
                            f"cuDNN {d.get('cudnn', '?')}"))
    facts.append(("platform", f"{env.get('platform', '?')}, Python {env.get('python', '?')}"))
    facts.append(("convbench", f"{env.get('convbench', '?')}"
                                + (f" ({env['convbench_commit']})" if env.get("convbench_commit") else "")))
    pk = env.get("packages") or {}
    if pk:
        facts.append(("packages", ", ".join(f"{k} {v}" for k, v in pk.items())))
    for b, info in (meta.get("backends") or {}).items():
        versions = (info or {}).get("versions") or {}
        facts.append((f"backend {b}", ", ".join(f"{k} {v}" for k, v in versions.items()) or "-"))
    for b, why in (meta.get("backends_skipped") or {}).items():
        facts.append((f"skipped {b}", str(why)))
    if env.get("env"):
        facts.append(("environment", " ".join(f"{k}={v}" for k, v in env["env"].items())))
    rows = runs.rows[runs.rows["run_id"] == meta["run_id"]] if not runs.rows.empty else runs.rows
    statuses = tuple(sorted(((str(s), int(n)) for s, n in rows["status"].value_counts().items()),
                            key=lambda t: (t[0] != "ok", -t[1]))) if len(rows) else ()
    roofs = []
    seen = set()
    for r in rows[rows["status"] == "ok"].to_dict("records") if len(rows) else []:
        k = (r["device"], r["dtype"])
        if k in seen:
            continue
        seen.add(k)
        ro = roofs_for_run(meta, r["device"], r.get("device_name") or "", int(r.get("threads") or 0))
        m = ro.measured.flop_per_s(r["dtype"]) if ro.measured else None
        d = ro.datasheet.flop_per_s(r["dtype"]) if ro.datasheet else None
        method = (ro.measured.note(r["dtype"]) if ro.measured else "") or (ro.datasheet.note(r["dtype"]) if ro.datasheet else "")
        roofs.append((f"{r['device']} {r['dtype']}", _rate(m), _rate(d) + (f" ({ro.datasheet.kind})" if d else ""),
                      method))
        if ("mem", r["device"]) not in seen:
            seen.add(("mem", r["device"]))
            mm = ro.measured.memory_bytes_per_s if ro.measured else None
            dm = ro.datasheet.memory_bytes_per_s if ro.datasheet else None
            roofs.append((f"{r['device']} memory", _rate(mm, "B/s"), _rate(dm, "B/s"),
                          (ro.measured.memory_note if ro.measured else "") or ""))
    settings = meta.get("settings") or {}
    threads = settings.get("threads", env.get("threads", ""))
    return RunInfo(
        run_id=str(meta.get("run_id")), path=str(meta.get("path", "")), state=str(meta.get("state", "")),
        started_at=str(meta.get("started_at") or ""), finished_at=str(meta.get("finished_at") or ""),
        host=str(meta.get("host") or env.get("host") or ""), command=" ".join(map(str, meta.get("command") or [])),
        threads=f"{threads} (every CPU the process may use)" if str(threads) == "0" else str(threads),
        facts=tuple(facts), warnings=tuple(str(w) for w in env.get("warnings") or []),
        statuses=statuses, roofs=tuple(roofs),
    )


def _comparison_table(title: str, comp: cmp.Comparison) -> Table:
    header, rows = cmp.table_rows(comp)
    sort, classes = [], []
    vi = header.index("verdict")
    for c, r in zip(comp.cases, rows):
        keys = [None] * len(r)
        keys[header.index("count")] = float(c.count)
        keys[vi + 1] = c.baseline.tflops
        keys[vi + 2] = c.candidate.tflops
        keys[vi + 3] = c.baseline.peak_fraction
        keys[vi + 4] = c.candidate.peak_fraction
        keys[vi - 1] = c.ratio
        keys[vi - 2] = c.candidate.time_s
        keys[vi - 3] = c.baseline.time_s
        sort.append(tuple(keys))
        cls = [""] * len(r)
        cls[vi] = f"v-{c.verdict}"
        classes.append(tuple(cls))
    gaps = tuple(f"{cmp.gap_label(comp, g)}: {comp.label(g.baseline)} {g.baseline_status}, "
                 f"{comp.label(g.candidate)} {g.candidate_status}" + (f" ({g.reason[:160]})" if g.reason else "")
                 for g in comp.gaps)
    lines = tuple(cmp.summary_lines(comp)) + tuple(f"one side only: {g}" for g in gaps)
    return Table(title=title, header=tuple(header), rows=tuple(tuple(r) for r in rows), sort=tuple(sort),
                 lines=lines, note=cmp.caption(comp), classes=tuple(classes))


def _subset(runs: RunSet, run_ids: Sequence[str]) -> RunSet:
    rows = runs.rows[runs.rows["run_id"].isin(list(run_ids))].reset_index(drop=True)
    return RunSet(rows=rows, metas=tuple(m for m in runs.metas if m["run_id"] in run_ids))


def _comparisons(runs: RunSet, with_ok: list[str], threshold: float) -> tuple[list[Table], list[str], list[str]]:
    tables, summary, notes = [], [], []
    todo: list[tuple[str, RunSet, str]] = []
    if len(with_ok) > 1:
        todo.append(("runs", _subset(runs, with_ok), "run"))
    for rid in with_ok:
        sub = _subset(runs, [rid])
        ok = sub.ok()
        for axis in ("backend", "dtype"):
            if ok[cmp.AXES[axis]].nunique() > 1:
                todo.append((f"{axis}s in run {rid}", sub, axis))
    for what, sub, axis in todo:
        try:
            comp = cmp.compare(sub, by=axis, threshold=threshold)
        except ConvbenchError as exc:
            notes.append(f"no comparison of {what}: {exc}")
            continue
        tables.append(_comparison_table(f"Comparison of {what} (baseline {comp.label(comp.baseline)})", comp))
        summary += [f"{what}: {line}" for line in cmp.summary_lines(comp)[: len(comp.summaries)]]
    return tables, summary, notes


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "plot"


def _plots(runs: RunSet, with_ok: list[str], stem: str) -> tuple[list[Plot], list[str]]:
    if not with_ok:
        return [], []
    sub = _subset(runs, with_ok)
    ok = sub.ok()
    plots, notes = [], []
    for device, dtype in dict.fromkeys(zip(ok["device"], ok["dtype"])):
        try:
            data = rl.roofline(sub, device=str(device), dtype=str(dtype))
        except ConvbenchError as exc:
            notes.append(f"no roofline for {device} {dtype}: {exc}")
            continue
        ceil_rows = tuple(
            (c.kind, _rate(c.compute_flop_per_s), _rate(c.memory_bytes_per_s, "B/s"),
             f"{c.ridge:.3g}" if c.ridge else "-", c.compute_note or c.source)
            for c in data.ceilings)
        ceilings = Table(title="ceilings", header=("roof", "compute", "memory", "ridge (FLOP/B)", "source"),
                         rows=ceil_rows)
        title = f"Roofline: {data.device_name or device} ({device}), {dtype}"
        plots.append(Plot(title=title, png=rl.render(data, "png"), warnings=data.warnings, notes=data.notes,
                          ceilings=ceilings, filename=f"{_slug(stem)}-roofline-{_slug(str(device))}-{_slug(str(dtype))}.png"))
    return plots, notes


def _networks(runs: RunSet) -> list[Table]:
    """Per run, network, backend, dtype and direction: layers by time x count, with shares."""
    ok = runs.ok().fillna({"network": "", "algorithm_requested": ""})
    if ok.empty:
        return []
    allrows = runs.rows.fillna({"network": "", "algorithm_requested": ""})
    out = []
    keys = ["run_id", "network", "backend", "algorithm_requested", "dtype", "direction", "device"]
    for k, g in ok.groupby(keys, sort=False, dropna=False):
        rid, network, backend, algo, dtype, direction, device = k
        g = g.assign(_total=g["time_median_s"].astype(float) * g["count"].astype(float))
        g = g.sort_values("_total", ascending=False)
        total = float(g["_total"].sum())
        if total <= 0:
            continue
        same = allrows[(allrows["run_id"] == rid) & (allrows["network"] == network) & (allrows["backend"] == backend)
                       & (allrows["algorithm_requested"] == algo) & (allrows["dtype"] == dtype)
                       & (allrows["direction"] == direction) & (allrows["device"] == device)]
        missing = int((same["status"] != "ok").sum())
        rows, sort, cum = [], [], 0.0
        dominant = 0
        for r in g.to_dict("records"):
            share = r["_total"] / total
            cum += share
            if cum - share < 0.5:
                dominant += 1
            rows.append((cmp.layer_label(r.get("layer"), r.get("workload"), 48), str(r.get("workload")),
                         str(int(r["count"])), _fmt_time(r["time_median_s"]), _fmt_time(r["_total"]),
                         f"{100 * share:.1f}%", f"{100 * cum:.1f}%", str(r.get("algorithm") or "")))
            sort.append((None, None, float(r["count"]), float(r["time_median_s"]), float(r["_total"]),
                         share, cum, None))
        lines = [f"total {_fmt_time(total)} over {len(g)} distinct shapes ({int(g['count'].sum())} layers); "
                 f"{dominant} shape(s) take half of the time"]
        if missing:
            lines.append(f"{missing} shape(s) of this network have no ok row here (see failed rows): "
                         "the total leaves them out")
        algo_text = "" if algo == "default" else f", algorithm {algo}"
        out.append(Table(
            title=f"{network or '(no network)'}: {backend}{algo_text}, {dtype} {direction} on {device} (run {rid})",
            header=("layer", "workload", "count", "time", "time x count", "share", "cumulative", "algorithm"),
            rows=tuple(rows), sort=tuple(sort), lines=tuple(lines)))
    return out


def _failures(runs: RunSet) -> Table:
    df = runs.rows
    bad = df[df["status"] != "ok"] if not df.empty else df
    order = {"wrong": 0, "crashed": 1, "error": 2, "timeout": 3, "oom": 4, "unsupported": 5}
    rows = sorted(bad.to_dict("records"), key=lambda r: (order.get(r["status"], 9), str(r.get("backend")),
                                                           str(r.get("layer"))))
    return Table(
        title="Rows that were unsupported, wrong or failed",
        header=("run", "layer", "workload", "backend", "algorithm", "dtype", "direction", "status", "reason"),
        rows=tuple((str(r["run_id"]), cmp.layer_label(r.get("layer"), r.get("workload"), 48), str(r.get("workload")),
                    str(r.get("backend")), str(r.get("algorithm_requested") or ""), str(r.get("dtype")),
                    str(r.get("direction")), str(r["status"]), str(r.get("reason") or ""))
                   for r in rows),
        classes=tuple(tuple("" if i != 7 else f"s-{r['status']}" for i in range(9)) for r in rows),
    )


def build_report(runs: RunSet, threshold: float = 0.05, stem: str = "report") -> Report:
    """Everything the page shows, as display strings and PNG bytes (``stem`` names the
    image files a Markdown report writes beside itself)."""
    import convbench

    if not (0 <= threshold < 1):
        raise ConvbenchError(f"threshold: must be a fraction in [0, 1), got {threshold}")
    ok = runs.ok()
    with_ok = [rid for rid in runs.run_ids if not ok.empty and (ok["run_id"] == rid).any()]
    notes = [f"no ok rows in {m.get('path', m['run_id'])}: no comparison or roofline for it"
             for m in runs.metas if m["run_id"] not in with_ok]
    infos = tuple(_run_info(runs, m) for m in runs.metas)
    comps, summary, cnotes = _comparisons(runs, with_ok, threshold)
    plots, pnotes = _plots(runs, with_ok, stem)
    status_line = []
    for info in infos:
        status_line.append(f"run {info.run_id}: " + (", ".join(f"{n} {s}" for s, n in info.statuses) or "no rows"))
    return Report(
        title="convbench report: " + ", ".join(m["run_id"] for m in runs.metas),
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        version=convbench.__version__, runs=infos, summary=tuple(status_line + summary),
        comparisons=tuple(comps), plots=tuple(plots), networks=tuple(_networks(runs)),
        failures=_failures(runs), notes=tuple(notes + cnotes + pnotes),
    )


# ---- rendering -----------------------------------------------------------------------------
def _environment(autoescape: bool):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("convbench.reports", "templates"),
        autoescape=autoescape, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = cmp.md_escape
    env.filters["b64"] = lambda b: base64.b64encode(b).decode("ascii")
    env.filters["sortkey"] = lambda v: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else repr(float(v))
    return env


def render_html(report: Report) -> str:
    """One self-contained HTML page (autoescaped)."""
    return _environment(True).get_template("report.html.j2").render(r=report)


def render_markdown(report: Report, images: bool = True) -> str:
    """Markdown; with ``images`` it links each roofline PNG by ``Plot.filename`` (relative)."""
    return _environment(False).get_template("report.md.j2").render(r=report, images=images)


def write_report(runs: RunSet, path: str | Path, fmt: str | None = None, threshold: float = 0.05) -> list[Path]:
    """Write the report to ``path`` (``-`` is not a file: use :func:`render_*`). The format
    is ``fmt`` or the suffix (.md -> Markdown, else HTML). Markdown writes its roofline PNGs
    beside the file. Returns the files written."""
    p = Path(path)
    fmt = fmt or ("md" if p.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in FORMATS:
        raise ConvbenchError(f"format: must be html or md, got {fmt!r}")
    if not p.parent.exists():
        raise ConvbenchError(f"output: directory {p.parent} does not exist")
    report = build_report(runs, threshold, stem=p.stem)
    if fmt == "html":
        p.write_text(render_html(report), encoding="utf-8")
        return [p]
    written = []
    for plot in report.plots:
        img = p.parent / plot.filename
        img.write_bytes(plot.png)
        written.append(img)
    p.write_text(render_markdown(report, images=True), encoding="utf-8")
    return [p, *written]
