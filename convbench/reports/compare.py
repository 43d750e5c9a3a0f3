"""Noise-aware comparisons between runs, backends, dtypes, devices, algorithms or timers.

``compare(runs, by=AXIS)`` pairs the ok rows whose case fields agree on everything but AXIS
and ``algorithm`` (which records what ran; DESIGN, Settled details: compare --by AXIS). Like
the algorithm, the layout is matched as requested (``native``), not as it ran (oneDNN's
``blocked:nChw16c`` beside torch's ``nchw``), and across devices so is the timer (each device
resolves ``default`` to its own: ``wall`` on the CPU, ``cuda-graph`` on CUDA); ``threads`` 0
counts as the CPUs the run could use. For
each pair gives the time ratio candidate / baseline with its 95% confidence interval
(:func:`convbench.results.stats.ratio_ci`, from each side's median and interval) and a verdict
(:func:`convbench.results.stats.verdict`): ``faster``/``slower`` when the interval lies wholly
below/above 1, ``same`` when it lies within 1 +/- threshold, ``unclear`` otherwise. Over the
suite, the geometric mean of the ratios weighted by each shape's ``count``.

Times are seconds, throughput TFLOPS (10^12 FLOP/s; int8: operations), percentages of the
roof a fraction (0.5 = 50%). Pure functions of the loaded rows; rendering at the bottom.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from convbench.errors import ConvbenchError
from convbench.results.schema import CASE_KEY
from convbench.results.stats import geomean, ratio_ci, verdict

#: axis name -> the row column it compares. ``algorithm`` compares the plan's choice
#: (``algorithm_requested``): what ran is recorded, not matched.
AXES: dict[str, str] = {
    "run": "run_id", "backend": "backend", "dtype": "dtype", "device": "device",
    "algorithm": "algorithm_requested", "timer": "timer",
}
VERDICTS: tuple[str, ...] = ("faster", "slower", "same", "unclear")
_NAME_SUFFIX = re.compile(r'n"(?:[^"\\]|\\.)*"$')


# ---- loading -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSet:
    """Rows of one or more runs (every status) and their run.json dicts (with ``path``),
    in the order the runs were named."""

    rows: pd.DataFrame
    metas: tuple[dict, ...]

    def meta(self, run_id: str) -> dict:
        for m in self.metas:
            if m.get("run_id") == run_id:
                return m
        return {}

    @property
    def run_ids(self) -> tuple[str, ...]:
        return tuple(m["run_id"] for m in self.metas)

    def ok(self) -> pd.DataFrame:
        """The ok rows (verified and timed), with a positive median time."""
        df = self.rows
        if df.empty:
            return df
        mask = (df["status"] == "ok") & df["time_median_s"].notna() & (df["time_median_s"] > 0)
        return df[mask]

    def run_label(self, run_id: str) -> str:
        m = self.meta(run_id)
        return f"{run_id} ({m.get('started_at', '')})" if m.get("started_at") else run_id


def load_runs(locations: Sequence[str]) -> RunSet:
    """Every run at ``locations`` (run directories, roots of runs, globs or URLs), each run
    once. A missing or corrupt run directory, or one of another schema version, raises
    ConvbenchError."""
    from convbench.results.store import load

    if not locations:
        raise ConvbenchError("runs: name at least one run directory")
    frames, metas, seen = [], [], set()
    for loc in locations:
        df, ms = load(str(loc), with_meta=True)
        for m in ms:
            rid = m.get("run_id")
            if rid in seen:
                continue
            seen.add(rid)
            metas.append(m)
            part = df[df["run_id"] == rid] if not df.empty else df
            frames.append(part)
    rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return RunSet(rows=rows, metas=tuple(metas))


def require_ok(runs: RunSet) -> None:
    """ConvbenchError ``no ok rows in RUN`` for the first run without an ok row."""
    ok = runs.ok()
    have = set(ok["run_id"]) if not ok.empty else set()
    for m in runs.metas:
        if m["run_id"] not in have:
            raise ConvbenchError(f"no ok rows in {m.get('path', m['run_id'])}")


# ---- matching --------------------------------------------------------------------------------
def workload_key(descriptor: str) -> str:
    """A descriptor without its layer name (``...n"layer1.0.conv1"`` -> ``...``)."""
    return _NAME_SUFFIX.sub("", str(descriptor or ""))


def requested_layout(row) -> str:
    """The layout the case asked for (``native``, ``nchw``, ``nhwc``). The ``layout`` column
    records what ran (``blocked:nChw16c`` for oneDNN), which differs between backends for the
    same case; the request is read from a ``layout_requested`` column where the schema has one,
    else from the row's ``repro`` command line, else the ``layout`` that ran."""
    value = row.get("layout_requested") if hasattr(row, "get") else None
    if isinstance(value, str) and value:
        return value
    repro = row.get("repro") if hasattr(row, "get") else None
    if isinstance(repro, str) and "--layout" in repro:
        try:
            parts = shlex.split(repro)
        except ValueError:
            parts = repro.split()
        for i, p in enumerate(parts[:-1]):
            if p == "--layout":
                return parts[i + 1]
    return str(row.get("layout") or "")


def requested_timer(row) -> str:
    """The timer the case asked for: ``--timer X`` in the row's ``repro``, else ``default``."""
    repro = row.get("repro") if hasattr(row, "get") else None
    if isinstance(repro, str) and "--timer" in repro:
        try:
            parts = shlex.split(repro)
        except ValueError:
            parts = repro.split()
        for i, p in enumerate(parts[:-1]):
            if p == "--timer":
                return parts[i + 1]
    return "default"


def key_fields(axis: str) -> tuple[str, ...]:
    """The case fields rows are matched on when comparing along ``axis``."""
    col = AXES[axis]
    return tuple(c for c in CASE_KEY if c != col)


def run_threads(meta: dict, threads: int) -> int:
    """A row's thread count with 0 (every CPU the process may use) resolved to that number
    for its run (the CPU affinity run.json records), so runs that stored 0 and runs that
    stored the resolved count match."""
    if threads:
        return int(threads)
    cpu = ((meta.get("environment") or {}).get("devices") or {}).get("cpu") or {}
    affinity = cpu.get("affinity")
    return len(affinity) if affinity else int(cpu.get("logical_cores") or 0)


def _keyed(df: pd.DataFrame, axis: str, runs: RunSet) -> pd.DataFrame:
    out = df.copy()
    metas = {m["run_id"]: m for m in runs.metas}
    out["_threads"] = [run_threads(metas.get(r, {}), int(t or 0)) for r, t in zip(out["run_id"], out["threads"])] \
        if len(out) else []
    out["_workload"] = out["workload"].map(workload_key)
    out["_layout"] = [requested_layout(r) for r in out.to_dict("records")] if len(out) else []
    out["_axis"] = out[AXES[axis]].astype(str)
    if axis == "device":
        out["_timer"] = [requested_timer(r) for r in out.to_dict("records")] if len(out) else []
    return out


def _match_cols(axis: str) -> list[str]:
    """Columns holding the key fields: the descriptor without its name, the requested layout,
    and, across devices, the requested timer (each device resolves ``default`` to its own)."""
    cols = []
    for c in key_fields(axis):
        if c == "timer" and axis == "device":
            cols.append("_timer")
        else:
            cols.append({"workload": "_workload", "layout": "_layout", "threads": "_threads"}.get(c, c))
    return cols


# ---- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One side of a comparison: the aggregated ok rows of a case for one axis value.

    Several rows (``--repeat``) combine into the median of their medians, with the envelope of
    their intervals as the noise. ``peak_fraction`` is achieved / roof (None without a roof);
    ``peak_kind`` says which roof (measured, datasheet, formula)."""

    value: str
    time_s: float
    ci_low_s: float
    ci_high_s: float
    tflops: float
    rows: int
    algorithm: str
    peak_fraction: float | None = None
    peak_kind: str = ""


@dataclass(frozen=True)
class ComparedCase:
    """A case present and ok on both sides. ``ratio`` is candidate time / baseline time
    (above 1: the candidate is slower), with its 95% interval ``ratio_low``..``ratio_high``."""

    key: tuple[tuple[str, object], ...]
    workload: str
    layer: str
    network: str
    count: int
    baseline: Side
    candidate: Side
    ratio: float
    ratio_low: float
    ratio_high: float
    verdict: str

    def field(self, name: str):
        return dict(self.key).get(name)


@dataclass(frozen=True)
class Gap:
    """A case ok on one side only: the other side's status (``missing`` when it has no row)."""

    key: tuple[tuple[str, object], ...]
    workload: str
    layer: str
    baseline: str
    candidate: str
    baseline_status: str
    candidate_status: str
    reason: str


@dataclass(frozen=True)
class Summary:
    """Suite-level figures of one candidate: the count-weighted geometric mean of the time
    ratios (``geomean_ratio``; its inverse is the speed-up) and the verdicts' tally."""

    candidate: str
    cases: int
    weight: int
    geomean_ratio: float
    verdicts: tuple[tuple[str, int], ...]

    @property
    def speedup(self) -> float:
        return 1 / self.geomean_ratio if self.geomean_ratio and self.geomean_ratio > 0 else math.nan


@dataclass(frozen=True)
class Comparison:
    axis: str
    baseline: str
    candidates: tuple[str, ...]
    threshold: float
    key_fields: tuple[str, ...]
    cases: tuple[ComparedCase, ...]
    gaps: tuple[Gap, ...]
    summaries: tuple[Summary, ...]
    labels: tuple[tuple[str, str], ...] = field(default=())  # value -> display label (runs)
    notes: tuple[str, ...] = ()

    def label(self, value: str) -> str:
        return dict(self.labels).get(value, value)

    def varying_fields(self) -> tuple[str, ...]:
        """Key fields (other than the workload) whose values differ between compared cases."""
        out = []
        for f in self.key_fields:
            if f == "workload":
                continue
            vals = {c.field(f) for c in self.cases}
            if len(vals) > 1:
                out.append(f)
        return tuple(out)


# ---- comparing -----------------------------------------------------------------------------
class _RoofCache:
    """Roofs per (run, device, name, threads) for one comparison (not shared)."""

    def __init__(self, runs: RunSet) -> None:
        self._runs = runs
        self._cache: dict[tuple, object] = {}

    def fraction(self, row: dict, time_s: float) -> tuple[float | None, str]:
        from convbench.reports.peaks import roofs_for_run

        key = (row["run_id"], row["device"], row.get("device_name") or "", int(row.get("threads") or 0))
        if key not in self._cache:
            self._cache[key] = roofs_for_run(self._runs.meta(row["run_id"]), row["device"],
                                             row.get("device_name") or "", int(row.get("threads") or 0))
        found = self._cache[key].compute(row["dtype"])
        if not found or not row.get("flops"):
            return None, ""
        value, ps = found
        return float(row["flops"]) / time_s / value, ps.kind


def _side(value: str, group: pd.DataFrame, roofs: _RoofCache) -> Side:
    med = group["time_median_s"].astype(float)
    time_s = float(med.median())
    low = group["time_ci_low_s"].astype(float).where(lambda s: s > 0, med)
    high = group["time_ci_high_s"].astype(float).where(lambda s: s > 0, med)
    first = group.iloc[0].to_dict()
    algos = list(dict.fromkeys(str(a) for a in group["algorithm"] if isinstance(a, str) and a))
    frac, kind = roofs.fraction(first, time_s)
    flops = float(first.get("flops") or 0)
    return Side(
        value=value, time_s=time_s, ci_low_s=float(min(low.min(), time_s)),
        ci_high_s=float(max(high.max(), time_s)), tflops=flops / time_s / 1e12 if flops else math.nan,
        rows=len(group), algorithm="; ".join(algos), peak_fraction=frac, peak_kind=kind,
    )


def _values_in_order(df: pd.DataFrame, axis: str, runs: RunSet) -> list[str]:
    if axis == "run":
        present = set(df["run_id"])
        return [r for r in runs.run_ids if r in present]
    return list(dict.fromkeys(str(v) for v in df[AXES[axis]]))


def resolve_baseline(axis: str, values: Sequence[str], baseline: str | None, runs: RunSet) -> str:
    """The axis value named by ``--baseline`` (default: the first value). Runs may be named
    by run id, an unambiguous prefix of it, the run directory's name or its path."""
    if baseline is None:
        return values[0]
    text = str(baseline)
    if axis == "device" and text == "cuda":
        text = "cuda:0"
    if text in values:
        return text
    if axis == "run":
        from pathlib import PurePath

        for m in runs.metas:
            path = str(m.get("path", ""))
            if m["run_id"] in values and text.rstrip("/") in (path.rstrip("/"), PurePath(path).name):
                return m["run_id"]
        prefixed = [v for v in values if len(text) >= 4 and v.startswith(text)]
        if len(prefixed) == 1:
            return prefixed[0]
    raise ConvbenchError(
        f"baseline: {baseline!r} is not a {axis} of these runs (values: {', '.join(values)})"
    )


def default_axis(runs: RunSet) -> str:
    """``run`` with several runs, else ``backend`` (DESIGN, Settled details)."""
    return "run" if len(runs.metas) > 1 else "backend"


def compare(runs: RunSet, by: str | None = None, baseline: str | None = None,
            threshold: float = 0.05) -> Comparison:
    """Compare the values of axis ``by`` against ``baseline``; see the module docstring.

    ``threshold`` (a fraction) is the band within which a ratio counts as ``same``. Raises
    ConvbenchError for a run without ok rows, an unknown axis or baseline, an axis with fewer
    than two values, or when no case of a candidate matches one of the baseline."""
    axis = by or default_axis(runs)
    if axis not in AXES:
        raise ConvbenchError(f"by: unknown axis {axis!r} (axes: {', '.join(AXES)})")
    if not (0 <= threshold < 1):
        raise ConvbenchError(f"threshold: must be a fraction in [0, 1), got {threshold}")
    require_ok(runs)
    allrows = _keyed(runs.rows, axis, runs)
    ok = _keyed(runs.ok(), axis, runs)
    values = _values_in_order(ok, axis, runs)
    if len(values) < 2:
        raise ConvbenchError(
            f"compare: --by {axis} needs at least two values; these runs have only "
            f"{values[0] if values else 'none'} (try --by {'run' if axis != 'run' else 'backend'})"
        )
    base = resolve_baseline(axis, values, baseline, runs)
    candidates = tuple(v for v in values if v != base)
    kcols = _match_cols(axis)
    kfields = key_fields(axis)
    roofs = _RoofCache(runs)

    def groups(df: pd.DataFrame, value: str) -> dict[tuple, pd.DataFrame]:
        part = df[df["_axis"] == value]
        if part.empty:
            return {}
        return {k if isinstance(k, tuple) else (k,): g for k, g in part.groupby(kcols, sort=False, dropna=False)}

    def status_of(df: pd.DataFrame, value: str) -> dict[tuple, tuple[str, str]]:
        out: dict[tuple, tuple[str, str]] = {}
        part = df[df["_axis"] == value]
        for r in part.to_dict("records"):
            k = tuple(r[c] for c in kcols)
            if k not in out or r["status"] == "ok":
                out[k] = (str(r["status"]), str(r.get("reason") or ""))
        return out

    base_groups = groups(ok, base)
    base_status = status_of(allrows, base)
    cases, gaps, summaries, notes = [], [], [], []
    for cand in candidates:
        cand_groups = groups(ok, cand)
        cand_status = status_of(allrows, cand)
        matched = []
        for k, bg in base_groups.items():
            cg = cand_groups.get(k)
            if cg is None:
                continue
            b, c = _side(base, bg, roofs), _side(cand, cg, roofs)
            r = ratio_ci(b.time_s, b.ci_low_s, b.ci_high_s, c.time_s, c.ci_low_s, c.ci_high_s)
            first = bg.iloc[0]
            matched.append(ComparedCase(
                key=tuple(zip(kfields, _plain(k))), workload=str(first["_workload"]),
                layer=str(first.get("layer") or ""), network=str(first.get("network") or ""),
                count=int(first.get("count") or 1), baseline=b, candidate=c,
                ratio=r.ratio, ratio_low=r.low, ratio_high=r.high, verdict=verdict(r, threshold),
            ))
        for k in list(base_groups) + [k for k in cand_groups if k not in base_groups]:
            b_ok, c_ok = k in base_groups, k in cand_groups
            if b_ok == c_ok:
                continue
            bs, br = base_status.get(k, ("missing", ""))
            cs, cr = cand_status.get(k, ("missing", ""))
            src = base_groups.get(k) if b_ok else cand_groups.get(k)
            first = src.iloc[0]
            gaps.append(Gap(key=tuple(zip(kfields, _plain(k))), workload=str(first["_workload"]),
                            layer=str(first.get("layer") or ""), baseline=base, candidate=cand,
                            baseline_status=bs, candidate_status=cs, reason=cr if b_ok else br))
        if not matched:
            raise ConvbenchError(
                f"compare: no ok case of {axis} {cand!r} matches one of the baseline {base!r}"
                + _differences(ok, kcols, kfields, base, cand)
            )
        cases += matched
        if any(m.baseline.rows > 1 or m.candidate.rows > 1 for m in matched) and not notes:
            notes.append("cases with several rows (--repeat, or several runs on one side) combine as the "
                         "median of their medians, with the envelope of their intervals as the noise")
        ratios = [m.ratio for m in matched]
        weights = [m.count for m in matched]
        tally = tuple((v, sum(1 for m in matched if m.verdict == v)) for v in VERDICTS)
        summaries.append(Summary(candidate=cand, cases=len(matched), weight=int(sum(weights)),
                                 geomean_ratio=geomean(ratios, weights), verdicts=tally))
    labels = tuple((v, runs.run_label(v)) for v in values) if axis == "run" else ()
    return Comparison(axis=axis, baseline=base, candidates=candidates, threshold=threshold,
                      key_fields=kfields, cases=tuple(cases), gaps=tuple(gaps), summaries=tuple(summaries),
                      labels=labels, notes=tuple(notes))


def _plain(values: tuple) -> tuple:
    out = []
    for v in values:
        if hasattr(v, "item"):
            v = v.item()
        out.append(v)
    return tuple(out)


def _differences(ok: pd.DataFrame, kcols: list[str], kfields: tuple[str, ...], base: str, cand: str) -> str:
    """`` (the cases differ in: threads)``: the key fields whose value sets differ."""
    a, b = ok[ok["_axis"] == base], ok[ok["_axis"] == cand]
    differ = [f for f, c in zip(kfields, kcols) if set(map(str, a[c])) != set(map(str, b[c]))]
    return f" (the cases differ in: {', '.join(differ)})" if differ else ""


# ---- rendering -----------------------------------------------------------------------------
def _fmt_time(s) -> str:
    from convbench.reports.console import fmt_time

    return fmt_time(s)


def fmt_ratio(c: ComparedCase) -> str:
    return f"{c.ratio:.3f} [{c.ratio_low:.3f}, {c.ratio_high:.3f}]"


def fmt_pct(frac: float | None, kind: str = "", mark: bool = False) -> str:
    """0.123 -> ``12.3%``; with ``mark`` the roof's kind follows in brackets."""
    if frac is None or (isinstance(frac, float) and math.isnan(frac)):
        return "-"
    text = f"{100 * frac:.1f}%" if frac >= 0.001 else f"{100 * frac:.2g}%"
    return f"{text} ({kind})" if mark and kind else text


def roof_kinds(comp: Comparison) -> tuple[str, ...]:
    """The kinds of roof (measured, datasheet, formula) the percentages use."""
    kinds = []
    for c in comp.cases:
        for s in (c.baseline, c.candidate):
            if s.peak_kind and s.peak_kind not in kinds:
                kinds.append(s.peak_kind)
    return tuple(kinds)


def fmt_tflops(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.3g}"


def layer_label(layer: str, workload: str, limit: int = 40) -> str:
    names = [n for n in str(layer or "").split(",") if n]
    if not names:
        return workload
    text = names[0] + (f" (+{len(names) - 1})" if len(names) > 1 else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def records(comp: Comparison) -> list[dict]:
    """One flat dict per compared case (CSV/JSON/HTML rows); units in the keys."""
    out = []
    for c in comp.cases:
        rec = {"workload": c.workload, "layer": c.layer, "network": c.network, "count": c.count}
        rec.update({k: v for k, v in c.key if k != "workload"})
        rec.update({
            "axis": comp.axis, "baseline": c.baseline.value, "candidate": c.candidate.value,
            "baseline_time_s": c.baseline.time_s, "candidate_time_s": c.candidate.time_s,
            "ratio": c.ratio, "ratio_low": c.ratio_low, "ratio_high": c.ratio_high, "verdict": c.verdict,
            "baseline_tflops": c.baseline.tflops, "candidate_tflops": c.candidate.tflops,
            "baseline_peak_fraction": c.baseline.peak_fraction, "baseline_peak_kind": c.baseline.peak_kind,
            "candidate_peak_fraction": c.candidate.peak_fraction, "candidate_peak_kind": c.candidate.peak_kind,
            "baseline_algorithm": c.baseline.algorithm, "candidate_algorithm": c.candidate.algorithm,
            "baseline_rows": c.baseline.rows, "candidate_rows": c.candidate.rows,
        })
        out.append(rec)
    return out


def to_dict(comp: Comparison) -> dict:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return {
        "axis": comp.axis, "baseline": comp.baseline, "candidates": list(comp.candidates),
        "threshold": comp.threshold, "key_fields": list(comp.key_fields),
        "cases": [{k: clean(v) for k, v in r.items()} for r in records(comp)],
        "summary": [{"candidate": s.candidate, "cases": s.cases, "weight": s.weight,
                     "geomean_ratio": clean(s.geomean_ratio), "speedup": clean(s.speedup),
                     "verdicts": dict(s.verdicts)} for s in comp.summaries],
        "gaps": [{"workload": g.workload, "layer": g.layer, **{k: v for k, v in g.key if k != "workload"},
                  "baseline": g.baseline, "candidate": g.candidate, "baseline_status": g.baseline_status,
                  "candidate_status": g.candidate_status, "reason": g.reason} for g in comp.gaps],
        "labels": dict(comp.labels),
    }


def to_json(comp: Comparison) -> str:
    return json.dumps(to_dict(comp), indent=2, default=str) + "\n"


def to_csv(comp: Comparison) -> str:
    rows = records(comp)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return buf.getvalue()


def caption(comp: Comparison) -> str:
    return (f"ratio = {comp.axis} candidate time / baseline time (>1: slower), with its 95% interval; "
            f"verdict: faster/slower when the interval excludes 1, same within ±{100 * comp.threshold:g}%, "
            "else unclear; geomean weighted by count; % roof: achieved / "
            + (" or ".join(roof_kinds(comp)) or "no known") + " peak of the dtype")


def table_rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the comparison table (plain strings, shared by every format)."""
    vary = comp.varying_fields()
    multi = len(comp.candidates) > 1
    kinds = roof_kinds(comp)
    mark = len(kinds) > 1
    roof = f"% {kinds[0]} roof" if len(kinds) == 1 else "% roof"
    header = ["layer", *vary, *(["candidate"] if multi else []), "count",
              f"{_short(comp.label(comp.baseline))} time", "candidate time" if multi else
              f"{_short(comp.label(comp.candidates[0]))} time", "ratio [95% CI]", "verdict",
              "TFLOPS base", "TFLOPS cand.", f"{roof} base", f"{roof} cand."]
    rows = []
    for c in comp.cases:
        rows.append([
            layer_label(c.layer, c.workload), *(str(c.field(f)) for f in vary),
            *([_short(comp.label(c.candidate.value))] if multi else []), str(c.count),
            _fmt_time(c.baseline.time_s), _fmt_time(c.candidate.time_s), fmt_ratio(c), c.verdict,
            fmt_tflops(c.baseline.tflops), fmt_tflops(c.candidate.tflops),
            fmt_pct(c.baseline.peak_fraction, c.baseline.peak_kind, mark),
            fmt_pct(c.candidate.peak_fraction, c.candidate.peak_kind, mark),
        ])
    return header, rows


def _short(label: str) -> str:
    return label if len(label) <= 32 else label[:31] + "…"


def summary_lines(comp: Comparison) -> list[str]:
    out = []
    for s in comp.summaries:
        tally = ", ".join(f"{n} {v}" for v, n in s.verdicts if n)
        out.append(
            f"{comp.label(s.candidate)} vs {comp.label(comp.baseline)}: geomean time ratio "
            f"{s.geomean_ratio:.3f} ({s.speedup:.3f}x speed) over {s.cases} cases (weight {s.weight}); {tally}"
        )
    if comp.gaps:
        out.append(f"{len(comp.gaps)} case(s) ok on one side only (see gaps)")
    return out + list(comp.notes)


def render_table(comp: Comparison):
    """A rich Table (user strings escaped against rich markup)."""
    from rich.markup import escape
    from rich.table import Table

    header, rows = table_rows(comp)
    t = Table(title=f"compare --by {comp.axis}: baseline {escape(comp.label(comp.baseline))}",
              title_justify="left")
    for h in header:
        t.add_column(escape(h), justify="left" if h in ("layer", "candidate", "verdict") else "right",
                     overflow="fold")
    style = {"faster": "green", "slower": "red", "same": "dim", "unclear": "yellow"}
    vi = header.index("verdict")
    for r in rows:
        cells = [escape(x) for x in r]
        cells[vi] = f"[{style.get(r[vi], 'white')}]{cells[vi]}[/]"
        t.add_row(*cells)
    t.caption = caption(comp)
    return t


def gap_label(comp: Comparison, g: Gap) -> str:
    """The gap's layer plus the key fields that set it apart (a non-default algorithm, a
    field that varies among the compared cases)."""
    vary = set(comp.varying_fields())
    extra = [f"{k} {v}" for k, v in g.key
             if k != "workload" and (k in vary or (k == "algorithm_requested" and v != "default"))]
    base = layer_label(g.layer, g.workload)
    return f"{base} ({', '.join(map(str, extra))})" if extra else base


def render_gaps_table(comp: Comparison):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="ok on one side only", title_justify="left")
    for h in ("layer", "baseline", "candidate", "reason"):
        t.add_column(h, overflow="fold")
    for g in comp.gaps:
        t.add_row(escape(gap_label(comp, g)),
                  escape(f"{_short(comp.label(g.baseline))}: {g.baseline_status}"),
                  escape(f"{_short(comp.label(g.candidate))}: {g.candidate_status}"), escape(g.reason[:100]))
    return t


def md_escape(text) -> str:
    """Markdown-table-safe text: HTML and table metacharacters escaped."""
    s = str(text if text is not None else "")
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")
    s = s.replace("[", "\\[").replace("]", "\\]")
    return " ".join(s.split())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(md_escape(c) for c in r) + " |")
    return "\n".join(lines)


def to_markdown(comp: Comparison) -> str:
    header, rows = table_rows(comp)
    parts = [f"**compare --by {md_escape(comp.axis)}**, baseline {md_escape(comp.label(comp.baseline))}", ""]
    parts += [f"- {md_escape(line)}" for line in summary_lines(comp)]
    parts += ["", markdown_table(header, rows), "", f"_{md_escape(caption(comp))}_"]
    if comp.gaps:
        parts += ["", "**ok on one side only**", "", markdown_table(
            ["layer", "baseline", "candidate", "reason"],
            [[gap_label(comp, g), f"{comp.label(g.baseline)}: {g.baseline_status}",
              f"{comp.label(g.candidate)}: {g.candidate_status}", g.reason[:200]] for g in comp.gaps])]
    return "\n".join(parts) + "\n"
