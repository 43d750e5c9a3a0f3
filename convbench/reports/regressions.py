"""``check`` (did a run regress against a baseline?) and change points over a history of runs.

Times are seconds; ratios are candidate time / baseline time (above 1: slower).

**Levels.** A case's time in a set of runs (or in one run with ``--repeat``) is the median of
the runs' medians. Its noise is the larger of the typical run's own confidence interval and
the spread of the runs: 1.96 x 1.4826 x the median absolute deviation of the log medians, the
half-width of a 95% interval for *one* run drawn from that spread. A candidate is one night,
so a folder of nights as baseline makes the night-to-night spread the noise it is judged by,
while one outlier night among them moves neither the median nor the MAD (DESIGN, Settled
details: check).

**check.** Rows are matched on :data:`~convbench.results.schema.CASE_KEY`. The ratio and its
interval come from :func:`~convbench.results.stats.ratio_ci`; a case regressed when
:func:`~convbench.results.stats.is_regression` says so (ratio at least 1 + threshold, interval
wholly above 1), or when it was ok in the baseline (in at least half of the baseline runs that
have it) and is not ok in the candidate. Exit status: 0 nothing regressed, 1 something did
(2, bad input, is raised as ConvbenchError).

**Change points.** Median-based binary segmentation on log times, chosen over ``ruptures``
because its acceptance rule is the statement users are promised rather than a penalty to
tune. Each segment is split where the sum of absolute deviations from the two sides' medians
is least (the L1 cost: one outlier cannot pull the split towards itself as it pulls a squared
cost); the split is moved until the runs beside it sit nearer their own side's median, so it
names the first run of the new level. It is kept only when both sides hold at least
``min_size`` runs, their medians differ by at least the threshold, and the interval of the
ratio of medians excludes 1. The noise of a side's median is 1.2533 x sigma / sqrt(n) (the
median's standard error), sigma the series' robust spread from successive differences (a step
moves one of them, an outlier two) and never below the runs' own measurement noise; the
interval is widened from 95% to a Bonferroni level over the splits that were searched, so that
picking the best of many splits does not turn noise into a step (the reported interval and
confidence are the plain 95% ones). A single outlier night cannot form a segment of three runs
with a shifted median; a lasting step can. Kept splits are re-tested against their neighbours
until all pass.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from convbench.errors import ConvbenchError
from convbench.results.history import (
    EnvironmentChange, EnvironmentDifference, RunInfo, SkippedRun, StoreListing, environment_changes,
    environment_differences, list_runs, read_records, select_runs,
)
from convbench.results.schema import CASE_KEY
from convbench.results.stats import Ratio, is_regression, ratio_ci, verdict

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054
#: MAD of a normal sample -> its standard deviation.
MAD_TO_SD = 1.482602218505602
#: Standard error of a sample median, in units of sigma / sqrt(n) (sqrt(pi / 2)).
MEDIAN_SE = 1.2533141373155003
#: Default threshold of check and history: a 5% change.
DEFAULT_THRESHOLD = 0.05
#: Fewest runs on each side of a change point.
MIN_SEGMENT = 3

# outcomes of a case in check
REGRESSION, BROKEN, IMPROVEMENT, FIXED = "regression", "broken", "improvement", "fixed"
MISSING, NEW, FAILING = "missing", "new", "failing"
#: Every outcome, worst first (``same``, ``unclear``, ``slower``, ``faster`` are stats.verdict's).
OUTCOMES = (BROKEN, REGRESSION, MISSING, FAILING, "slower", "unclear", "same", "faster", IMPROVEMENT,
            FIXED, NEW)


# ---- levels ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    """A case's time over ``runs`` measurements: median and 95% interval (s)."""

    median_s: float
    low_s: float
    high_s: float
    runs: int

    @property
    def noise_rel(self) -> float:
        """Relative half-width of the interval on the log scale (fraction)."""
        return math.log(self.high_s / self.median_s) if self.median_s > 0 else math.inf


def _half_log(median: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per measurement, the larger log distance from its median to its interval's ends (0 when
    the interval is missing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.log(high / median)
        down = np.log(median / low)
    h = np.fmax(np.where(np.isfinite(up), up, 0.0), np.where(np.isfinite(down), down, 0.0))
    return np.maximum(h, 0.0)


def level(medians_s: Sequence[float], lows_s: Sequence[float] | None = None,
          highs_s: Sequence[float] | None = None) -> Level:
    """The level of several measurements of one case (module docstring): the median of the
    medians (s), and an interval whose log half-width is the larger of the measurements'
    median own half-width and 1.96 x 1.4826 x the MAD of their log medians."""
    m = np.asarray(medians_s, dtype=float)
    if m.size == 0 or not np.all(m > 0):
        raise ValueError("level: needs at least one positive median")
    lo = np.asarray(lows_s if lows_s is not None else m, dtype=float)
    hi = np.asarray(highs_s if highs_s is not None else m, dtype=float)
    med = float(np.median(m))
    own = float(np.median(_half_log(m, lo, hi)))
    spread = Z95 * MAD_TO_SD * float(np.median(np.abs(np.log(m) - math.log(med)))) if m.size >= 2 else 0.0
    h = max(own, spread)
    return Level(median_s=med, low_s=med * math.exp(-h), high_s=med * math.exp(h), runs=int(m.size))


def _levels(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """:func:`level` of ``time_median_s`` (with ``time_ci_low_s``/``time_ci_high_s``) per group
    of ``keys``, vectorised: columns median_s, low_s, high_s, runs."""
    m = df["time_median_s"].to_numpy(float)
    h = _half_log(m, df["time_ci_low_s"].to_numpy(float), df["time_ci_high_s"].to_numpy(float))
    work = df[keys].copy()
    work["_m"], work["_h"], work["_logm"] = m, h, np.log(m)
    g = work.groupby(keys, dropna=False, sort=False)
    med = g["_m"].transform("median").to_numpy(float)
    work["_dev"] = np.abs(work["_logm"].to_numpy() - np.log(med))
    g = work.groupby(keys, dropna=False, sort=False)
    out = pd.DataFrame({
        "median_s": g["_m"].median(), "own": g["_h"].median(), "mad": g["_dev"].median(), "runs": g.size(),
    })
    spread = np.where(out["runs"] >= 2, Z95 * MAD_TO_SD * out["mad"], 0.0)
    half = np.maximum(out["own"].to_numpy(float), spread)
    out["low_s"] = out["median_s"] * np.exp(-half)
    out["high_s"] = out["median_s"] * np.exp(half)
    return out[["median_s", "low_s", "high_s", "runs"]]


def confidence(ratio: Ratio) -> float:
    """Probability that the true ratio lies on the same side of 1 as the measured one, under a
    normal model on the log scale whose 95% interval is ``ratio``'s (1.0 when the interval has
    no width and the ratio is not 1; 0.5 at a ratio of exactly 1)."""
    d = abs(math.log(ratio.ratio))
    h = max(math.log(ratio.high / ratio.ratio), math.log(ratio.ratio / ratio.low))
    if h <= 0:
        return 1.0 if d > 0 else 0.5
    return float(ndtr(d / (h / Z95)))


def _inverse(r: Ratio) -> Ratio:
    return Ratio(ratio=1 / r.ratio, low=1 / r.high, high=1 / r.low)


def is_improvement(ratio: Ratio, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """The mirror of :func:`~convbench.results.stats.is_regression`: the candidate is at least
    1 + threshold times faster (ratio at most 1 / (1 + threshold)) and the interval lies wholly
    below 1."""
    return is_regression(_inverse(ratio), threshold)


# ---- cases -----------------------------------------------------------------------------------
def _key_values(row) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(row[k])) for k in CASE_KEY)


_LABEL_ALWAYS = ("workload", "backend", "dtype", "direction")


def _labels(keys: pd.DataFrame) -> list[str]:
    """Short names of cases: workload, backend, dtype, direction, plus whatever other key
    field varies among them (``device=cuda:1``, ``layout=nhwc``, ...)."""
    varying = [k for k in CASE_KEY if k not in _LABEL_ALWAYS and keys[k].astype(str).nunique(dropna=False) > 1]
    out = []
    for _, row in keys.iterrows():
        parts = [str(row[k]) for k in _LABEL_ALWAYS if str(row[k])]
        parts += [f"{k}={row[k]}" for k in varying]
        out.append(" ".join(parts))
    return out


def _normalise_keys(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose CASE_KEY columns are text, ``""`` where unset, so that rows group and
    match on them whatever their stored types (and an unset field matches an unset one)."""
    out = df.copy()
    for k in CASE_KEY:
        if k not in out.columns:
            out[k] = ""
            continue
        col = out[k]
        if pd.api.types.is_float_dtype(col) and col.dropna().eq(col.dropna().round()).all():
            col = col.astype("Int64")  # integers that gained NaN print as 4, not 4.0
        out[k] = col.astype(object).where(col.notna(), "").astype(str)
    return out


def _case_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case (CASE_KEY): case_id (the id its rows carry at the lowest repeat,
    disambiguated when two cases share it), label, network, layer."""
    keys = list(CASE_KEY)
    ordered = df.sort_values(["repeat", "run_started_at"], kind="stable", na_position="last")
    g = ordered.groupby(keys, dropna=False, sort=True)
    cases = g.agg(case_id=("case_id", "first"), network=("network", "first"), layer=("layer", "first"))
    cases = cases.reset_index()
    dup = cases["case_id"].duplicated(keep=False)
    if dup.any():
        for i in cases.index[dup]:
            digest = hashlib.sha256("|".join(v for _, v in _key_values(cases.loc[i])).encode()).hexdigest()[:6]
            cases.loc[i, "case_id"] = f"{cases.loc[i, 'case_id']}~{digest}"
    cases["label"] = _labels(cases[keys])
    return cases


def _per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (case, run): status (``ok`` when all its repetitions are, else the first
    failing one's), reason, and the level of its ok repetitions."""
    keys = [*CASE_KEY, "run_path"]
    base = df.sort_values("repeat", kind="stable").groupby(keys, dropna=False, sort=False)
    out = base.agg(run_id=("run_id", "first"), run_name=("run_name", "first"),
                   run_started_at=("run_started_at", "first"))
    bad = df[df["status"] != "ok"].sort_values("repeat", kind="stable")
    first_bad = bad.groupby(keys, dropna=False, sort=False).agg(status=("status", "first"), reason=("reason", "first"))
    out = out.join(first_bad, how="left")
    out["status"] = out["status"].fillna("ok")
    out["reason"] = out["reason"].fillna("")
    timed = df[(df["status"] == "ok") & (df["time_median_s"] > 0)]
    if len(timed):
        out = out.join(_levels(timed, keys)[["median_s", "low_s", "high_s"]], how="left")
    else:
        out[["median_s", "low_s", "high_s"]] = np.nan
    out.loc[out["status"] != "ok", ["median_s", "low_s", "high_s"]] = np.nan
    return out.reset_index()


# ---- check -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseCheck:
    """One case of a check. ``ratio`` (candidate / baseline, with its 95% interval) and
    ``confidence`` are set when both sides have an ok time; ``outcome`` is one of
    :data:`OUTCOMES`; ``reason`` is the candidate's failure message for a broken case."""

    case_id: str
    label: str
    key: tuple[tuple[str, str], ...]
    network: str
    layer: str
    outcome: str
    baseline_status: str | None
    candidate_status: str | None
    reason: str
    baseline: Level | None
    candidate: Level | None
    ratio: Ratio | None
    confidence: float | None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``check``: every case, the runs on each side, and how their environments
    differ. :attr:`exit_code` is 1 when a case regressed or broke (or, with
    ``fail_on_missing``, went missing), else 0."""

    threshold: float
    baseline_location: str
    candidate_location: str
    cases: tuple[CaseCheck, ...]
    baseline_runs: tuple[RunInfo, ...]
    candidate_runs: tuple[RunInfo, ...]
    environment_differences: tuple[EnvironmentDifference, ...]
    skipped: tuple[SkippedRun, ...] = ()
    fail_on_missing: bool = False

    def _of(self, outcome: str) -> list[CaseCheck]:
        return [c for c in self.cases if c.outcome == outcome]

    @property
    def regressions(self) -> tuple[CaseCheck, ...]:
        """Slower beyond threshold and noise, worst (largest ratio) first."""
        return tuple(sorted(self._of(REGRESSION), key=lambda c: (-c.ratio.ratio, c.label)))

    @property
    def broken(self) -> tuple[CaseCheck, ...]:
        """Ok in the baseline, not ok in the candidate."""
        return tuple(sorted(self._of(BROKEN), key=lambda c: c.label))

    @property
    def improvements(self) -> tuple[CaseCheck, ...]:
        """Faster beyond threshold and noise, best (smallest ratio) first."""
        return tuple(sorted(self._of(IMPROVEMENT), key=lambda c: (c.ratio.ratio, c.label)))

    @property
    def failures(self) -> tuple[CaseCheck, ...]:
        """What makes the exit status 1, worst first: broken cases, then regressions by ratio
        (then missing cases, with ``fail_on_missing``)."""
        missing = tuple(self._of(MISSING)) if self.fail_on_missing else ()
        return self.broken + self.regressions + missing

    def counts(self) -> dict[str, int]:
        """Cases per outcome, in :data:`OUTCOMES` order (outcomes with none left out)."""
        out = {o: 0 for o in OUTCOMES}
        for c in self.cases:
            out[c.outcome] += 1
        return {k: v for k, v in out.items() if v}

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def _status_of_runs(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per case: ``status`` ok when ok in at least half of its runs, else the most recent
    failing status; ``reason`` likewise; the level of its ok runs."""
    keys = list(CASE_KEY)
    per_run = per_run.sort_values("run_started_at", kind="stable")
    g = per_run.groupby(keys, dropna=False, sort=False)
    out = g.agg(runs=("run_path", "size"))
    out["ok_runs"] = (per_run["status"] == "ok").groupby([per_run[k] for k in keys], sort=False).sum()
    bad = per_run[per_run["status"] != "ok"].groupby(keys, dropna=False, sort=False).agg(
        bad_status=("status", "last"), bad_reason=("reason", "last"))
    out = out.join(bad, how="left")
    ok = out["ok_runs"] * 2 >= out["runs"]
    out["status"] = np.where(ok, "ok", out["bad_status"].fillna("ok"))
    out["reason"] = np.where(ok, "", out["bad_reason"].fillna(""))
    timed = per_run[(per_run["status"] == "ok")].rename(
        columns={"median_s": "time_median_s", "low_s": "time_ci_low_s", "high_s": "time_ci_high_s"})
    if len(timed):
        out = out.join(_levels(timed, keys).rename(columns={"runs": "timed_runs"}), how="left")
    else:
        out[["median_s", "low_s", "high_s", "timed_runs"]] = np.nan
    return out


def _level_of(row) -> Level | None:
    if row is None or pd.isna(row["median_s"]):
        return None
    return Level(float(row["median_s"]), float(row["low_s"]), float(row["high_s"]), int(row["timed_runs"]))


def compare_cases(baseline: pd.DataFrame, candidate: pd.DataFrame,
                  threshold: float = DEFAULT_THRESHOLD) -> tuple[CaseCheck, ...]:
    """Every case of ``baseline`` and ``candidate`` (rows as :func:`read_records` returns
    them, one or many runs each), matched on CASE_KEY, with its outcome."""
    if not threshold >= 0:
        raise ConvbenchError(f"threshold: must be at least 0, got {threshold}")
    baseline, candidate = _normalise_keys(baseline), _normalise_keys(candidate)
    both = pd.concat([baseline, candidate], ignore_index=True)
    if both.empty:
        return ()
    cases = _case_table(both)
    keys = list(CASE_KEY)
    sides = {}
    for side, frame in (("b", baseline), ("c", candidate)):
        sides[side] = _status_of_runs(_per_run(frame)) if len(frame) else None
    out = []
    for _, case in cases.iterrows():
        idx = tuple(case[k] for k in keys)
        rows = {}
        for side, table in sides.items():
            rows[side] = _lookup(table, idx)
        b, c = rows["b"], rows["c"]
        bs = None if b is None else str(b["status"])
        cs = None if c is None else str(c["status"])
        bl, cl = _level_of(b), _level_of(c)
        ratio = conf = None
        reason = ""
        if b is None:
            outcome = NEW
        elif c is None:
            outcome = MISSING
        elif bs == "ok" and cs != "ok":
            outcome, reason = BROKEN, str(c["reason"] or "")
        elif bs != "ok" and cs == "ok":
            outcome = FIXED
        elif bs != "ok":
            outcome, reason = FAILING, str(c["reason"] or "")
        else:
            ratio = ratio_ci(bl.median_s, bl.low_s, bl.high_s, cl.median_s, cl.low_s, cl.high_s)
            conf = confidence(ratio)
            if is_regression(ratio, threshold):
                outcome = REGRESSION
            elif is_improvement(ratio, threshold):
                outcome = IMPROVEMENT
            else:
                outcome = verdict(ratio, threshold)
        out.append(CaseCheck(
            case_id=str(case["case_id"]), label=str(case["label"]), key=_key_values(case),
            network=_str(case["network"]), layer=_str(case["layer"]), outcome=outcome,
            baseline_status=bs, candidate_status=cs, reason=reason, baseline=bl, candidate=cl,
            ratio=ratio, confidence=conf,
        ))
    return tuple(out)


def _str(v) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _lookup(table: pd.DataFrame | None, idx: tuple):
    if table is None:
        return None
    try:
        row = table.loc[idx]
    except KeyError:
        return None
    if isinstance(row, pd.DataFrame):
        row = row.iloc[0]
    return row


def check(baseline: str, candidate: str, threshold: float = DEFAULT_THRESHOLD, last: int | None = None,
          filters: Mapping[str, Sequence[str]] | None = None, fail_on_missing: bool = False) -> CheckResult:
    """Compare the candidate run(s) at ``candidate`` with the baseline at ``baseline`` (a run,
    or a folder/store of runs: per case the median over them, their spread as the noise).

    The candidate's own runs are left out of a baseline that has others (a run checked against
    itself compares it with itself); ``last`` keeps the ``last`` most
    recent baseline runs started before the candidate. ``filters`` as in
    :func:`~convbench.results.history.read_records`. ConvbenchError (exit 2) when either side
    has no finished run or no rows, or when they share no case.
    """
    if not threshold >= 0:
        raise ConvbenchError(f"threshold: must be at least 0, got {threshold}")
    cand_list = list_runs(candidate)
    if not cand_list.runs:
        raise ConvbenchError(f"check: no finished run at candidate {candidate}")
    base_all = list_runs(baseline)
    first = min(r.started_at for r in cand_list.runs)
    cand_ids = {r.run_id for r in cand_list.runs}
    if all(r.run_id in cand_ids for r in base_all.runs):
        cand_ids = set()  # a run checked against itself
    base_list = select_runs(base_all, exclude_run_ids=cand_ids, until=first if last is not None else None,
                            last=last)
    if not base_list.runs:
        raise ConvbenchError(f"check: no finished baseline run at {baseline}"
                             + (" started before the candidate" if last is not None else ""))
    cand_rows = read_records(cand_list, filters=filters)
    base_rows = read_records(base_list, filters=filters)
    matching = " matching the filters" if filters else ""
    if cand_rows.empty:
        raise ConvbenchError(f"check: the candidate {candidate} has no rows{matching}")
    if base_rows.empty:
        raise ConvbenchError(f"check: the baseline {baseline} has no rows{matching}")
    cases = compare_cases(base_rows, cand_rows, threshold)
    if not any(c.outcome not in (NEW, MISSING) for c in cases):
        raise ConvbenchError(f"check: baseline {baseline} and candidate {candidate} have no case in common")
    used_base = set(base_rows["run_path"])
    base_runs = tuple(r for r in base_list.runs if r.path in used_base)
    cand_runs = tuple(cand_list.runs)
    return CheckResult(
        threshold=threshold, baseline_location=str(baseline), candidate_location=str(candidate),
        cases=tuple(sorted(cases, key=lambda c: (OUTCOMES.index(c.outcome), c.label))),
        baseline_runs=base_runs, candidate_runs=cand_runs,
        environment_differences=environment_differences(base_runs, cand_runs),
        skipped=tuple(dict.fromkeys(cand_list.skipped + base_all.skipped)), fail_on_missing=fail_on_missing,
    )


# ---- change points ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Shift:
    """A change of level in a series: ``index`` is the position of the first value of the new
    level; ``ratio`` is (median after) / (median before) with its 95% interval."""

    index: int
    ratio: Ratio
    confidence: float
    before_median: float
    after_median: float
    n_before: int
    n_after: int


def _prefix_l1(x: np.ndarray) -> np.ndarray:
    """c[t] = sum |x[:t] - median(x[:t])| for t = 0..n, in O(n log n): two heaps hold the
    lower and upper halves with their sums, and the summed deviation from the median is the
    upper sum minus the lower sum (plus the median itself when the count is odd)."""
    lower: list[float] = []  # max-heap by negation; holds the median when the count is odd
    upper: list[float] = []
    s_lower = s_upper = 0.0
    out = np.zeros(x.size + 1)
    for i, v in enumerate(x.tolist()):
        if lower and v > -lower[0]:
            heapq.heappush(upper, v)
            s_upper += v
        else:
            heapq.heappush(lower, -v)
            s_lower += v
        if len(lower) > len(upper) + 1:
            m = -heapq.heappop(lower)
            s_lower -= m
            heapq.heappush(upper, m)
            s_upper += m
        elif len(upper) > len(lower):
            m = heapq.heappop(upper)
            s_upper -= m
            heapq.heappush(lower, -m)
            s_lower += m
        out[i + 1] = s_upper - s_lower + (-lower[0] if len(lower) > len(upper) else 0.0)
    return out


def _l1_split(x: np.ndarray, min_size: int) -> int | None:
    """The split t (min_size <= t <= n - min_size) minimising the summed absolute deviations
    of x[:t] and x[t:] from their medians (the first of equal ones); None when the series is
    too short."""
    n = x.size
    if n < 2 * min_size:
        return None
    left = _prefix_l1(x)
    right = _prefix_l1(x[::-1])[::-1]
    ts = np.arange(min_size, n - min_size + 1)
    cost = left[ts] + right[ts]
    best = float(cost.min())
    tol = 1e-12 * max(float(np.abs(x).sum()), 1.0)
    return int(ts[np.flatnonzero(cost <= best + tol)[0]])


def _settle(x: np.ndarray, t: int) -> int:
    """Move a split so that the values beside it belong to their own side: while the first
    value after it is nearer the left median than the right one, move it right; while the last
    value before it is nearer the right median, move it left. A median segment may hold a
    minority of the other level's values, and the first run of a new level must be named."""
    n = x.size
    seen = set()
    while 0 < t < n and t not in seen:
        seen.add(t)
        ma, mb = float(np.median(x[:t])), float(np.median(x[t:]))
        if abs(x[t] - ma) < abs(x[t] - mb) and t + 1 < n:
            t += 1
        elif abs(x[t - 1] - mb) < abs(x[t - 1] - ma) and t - 1 > 0:
            t -= 1
        else:
            break
    return t


def _test_split(a: np.ndarray, b: np.ndarray, sigma: float, threshold: float,
                z_decide: float = Z95) -> tuple[bool, Shift]:
    """Whether the log values ``b`` sit at another level than ``a``: their medians differ by
    at least ``threshold`` and the interval of the ratio at ``z_decide`` standard errors
    excludes 1. The returned Shift carries the 95% interval and its confidence."""
    ma, mb = float(np.median(a)), float(np.median(b))
    se_a = MEDIAN_SE * sigma / math.sqrt(a.size)
    se_b = MEDIAN_SE * sigma / math.sqrt(b.size)
    before, after = math.exp(ma), math.exp(mb)

    def ratio(z: float) -> Ratio:
        return ratio_ci(before, before * math.exp(-z * se_a), before * math.exp(z * se_a),
                        after, after * math.exp(-z * se_b), after * math.exp(z * se_b))

    wide = ratio(z_decide)
    ok = is_regression(wide, threshold) or is_improvement(wide, threshold)
    r = ratio(Z95)
    return ok, Shift(index=a.size, ratio=r, confidence=confidence(r), before_median=before, after_median=after,
                     n_before=int(a.size), n_after=int(b.size))


def series_noise(log_values: np.ndarray) -> float:
    """Robust standard deviation of one value about its level (log scale) from successive
    differences: 1.4826 x median |x[i+1] - x[i]| / sqrt(2). A step moves one difference and an
    outlier two, so neither inflates it."""
    if log_values.size < 3:
        return 0.0
    return MAD_TO_SD * float(np.median(np.abs(np.diff(log_values)))) / math.sqrt(2)


def _z_family(splits: int) -> float:
    """Normal quantile for a two-sided 95% level shared by ``splits`` candidate splits
    (Bonferroni): searching for the best split must not make noise look like a step."""
    return float(ndtri(1 - 0.025 / max(splits, 1)))


def find_shifts(values: Sequence[float], threshold: float = DEFAULT_THRESHOLD, min_size: int = MIN_SEGMENT,
                noise_rel: float = 0.0) -> tuple[Shift, ...]:
    """Lasting changes of level in a series of positive values (times, s), in order.

    ``noise_rel``: the measurements' own noise as a 95% relative half-width (log scale); the
    spread used to judge a split is never taken below it. See the module docstring for the
    method. A value that is not positive and finite is an error (ValueError)."""
    v = np.asarray(values, dtype=float)
    if v.size and not (np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("find_shifts: values must be positive and finite")
    if min_size < 1:
        raise ValueError("find_shifts: min_size must be at least 1")
    x = np.log(v)
    sigma = max(series_noise(x), max(noise_rel, 0.0) / Z95)
    cuts: list[int] = []
    todo = [(0, x.size)]
    while todo:
        lo, hi = todo.pop()
        t = _l1_split(x[lo:hi], min_size)
        if t is None:
            continue
        t = _settle(x[lo:hi], t)
        if t < min_size or hi - lo - t < min_size:
            continue
        z = _z_family(hi - lo - 2 * min_size + 1)
        ok, _ = _test_split(x[lo:lo + t], x[lo + t:hi], sigma, threshold, z)
        if ok:
            cuts.append(lo + t)
            todo += [(lo, lo + t), (lo + t, hi)]
    cuts.sort()
    # re-test every cut against its neighbours; drop the weakest failing one until all pass
    while True:
        bounds = [0, *cuts, x.size]
        results = [_test_split(x[bounds[i]:bounds[i + 1]], x[bounds[i + 1]:bounds[i + 2]], sigma, threshold,
                               _z_family(bounds[i + 2] - bounds[i] - 2 * min_size + 1))
                   for i in range(len(cuts))]
        failing = [(res[1].confidence, i) for i, res in enumerate(results) if not res[0]]
        if not failing:
            return tuple(replace(shift, index=cut) for cut, (_, shift) in zip(cuts, results))
        del cuts[min(failing)[1]]


# ---- history ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryPoint:
    """One run of a case's series: status, and when ok its median and 95% interval (s)."""

    run_id: str
    run_name: str
    started_at: datetime
    status: str
    reason: str
    median_s: float | None
    low_s: float | None
    high_s: float | None


@dataclass(frozen=True)
class ChangePoint:
    """A lasting change of a case's level, named by the first run of the new level.

    ``ratio`` is new level / old level with its 95% interval; ``environment_changes`` lists
    the environment keys that changed between the last run of the old level and this run."""

    case_id: str
    label: str
    run_id: str
    run_name: str
    started_at: datetime
    ratio: Ratio
    confidence: float
    before_median_s: float
    after_median_s: float
    runs_before: int
    runs_after: int
    environment_changes: tuple[str, ...]

    @property
    def direction(self) -> str:
        """``slower`` or ``faster``."""
        return "slower" if self.ratio.ratio > 1 else "faster"


@dataclass(frozen=True)
class CaseHistory:
    """A case's series over the runs that have it, oldest first, and its change points."""

    case_id: str
    label: str
    key: tuple[tuple[str, str], ...]
    network: str
    layer: str
    points: tuple[HistoryPoint, ...]
    change_points: tuple[ChangePoint, ...]

    @property
    def ok_points(self) -> tuple[HistoryPoint, ...]:
        return tuple(p for p in self.points if p.median_s is not None)


@dataclass(frozen=True)
class History:
    """Series, change points and environment changes of a store (see :func:`history`)."""

    location: str
    threshold: float
    min_size: int
    cases: tuple[CaseHistory, ...]
    runs: tuple[RunInfo, ...]
    environment_changes: tuple[EnvironmentChange, ...]
    skipped: tuple[SkippedRun, ...] = ()

    @property
    def change_points(self) -> tuple[ChangePoint, ...]:
        """Every case's change points, most recent first, then largest change first."""
        cps = [cp for c in self.cases for cp in c.change_points]
        return tuple(sorted(cps, key=lambda cp: (-cp.started_at.timestamp(), -abs(math.log(cp.ratio.ratio)),
                                                 cp.label)))


def build_history(rows: pd.DataFrame, runs: Sequence[RunInfo], threshold: float = DEFAULT_THRESHOLD,
                  min_size: int = MIN_SEGMENT, location: str = "",
                  skipped: Sequence[SkippedRun] = ()) -> History:
    """The history of ``rows`` (as :func:`read_records` returns them) from ``runs``."""
    if not threshold >= 0:
        raise ConvbenchError(f"threshold: must be at least 0, got {threshold}")
    if min_size < 1:
        raise ConvbenchError(f"min-runs: must be at least 1, got {min_size}")
    used = set(rows["run_path"]) if len(rows) else set()
    runs = tuple(r for r in runs if r.path in used)
    env_changes = environment_changes(runs)
    if rows.empty:
        return History(location, threshold, min_size, (), runs, env_changes, tuple(skipped))
    rows = _normalise_keys(rows)
    cases = _case_table(rows)
    per_run = _per_run(rows).sort_values(["run_started_at", "run_name"], kind="stable").reset_index(drop=True)
    keys = list(CASE_KEY)
    positions = {k if isinstance(k, tuple) else (k,): v
                 for k, v in per_run.groupby(keys, dropna=False, sort=False).indices.items()}
    # plain Python columns: building points from them is many times faster than itertuples
    run_ids = per_run["run_id"].astype(str).tolist()
    run_names = per_run["run_name"].astype(str).tolist()
    started = [t.to_pydatetime() for t in pd.DatetimeIndex(per_run["run_started_at"])]
    statuses = per_run["status"].astype(str).tolist()
    reasons = per_run["reason"].fillna("").astype(str).tolist()
    medians, lows, highs = ([None if v != v else float(v) for v in per_run[c].to_numpy(float)]
                            for c in ("median_s", "low_s", "high_s"))
    env_at = sorted(env_changes, key=lambda e: e.started_at)
    out = []
    for _, case in cases.iterrows():
        points = tuple(
            HistoryPoint(run_id=run_ids[i], run_name=run_names[i], started_at=started[i], status=statuses[i],
                         reason=reasons[i], median_s=medians[i], low_s=lows[i], high_s=highs[i])
            for i in positions[tuple(case[k] for k in keys)]
        )
        ok = [p for p in points if p.median_s is not None]
        cps = []
        if len(ok) >= 2 * min_size:
            med = np.array([p.median_s for p in ok])
            own = _half_log(med, np.array([p.low_s for p in ok]), np.array([p.high_s for p in ok]))
            for s in find_shifts(med, threshold, min_size, noise_rel=float(np.median(own))):
                first, prev = ok[s.index], ok[s.index - 1]
                env_keys = tuple(dict.fromkeys(
                    k for e in env_at if prev.started_at < e.started_at <= first.started_at for k in e.keys))
                cps.append(ChangePoint(
                    case_id=str(case["case_id"]), label=str(case["label"]), run_id=first.run_id,
                    run_name=first.run_name, started_at=first.started_at, ratio=s.ratio, confidence=s.confidence,
                    before_median_s=s.before_median, after_median_s=s.after_median, runs_before=s.n_before,
                    runs_after=s.n_after, environment_changes=env_keys,
                ))
        out.append(CaseHistory(
            case_id=str(case["case_id"]), label=str(case["label"]), key=_key_values(case),
            network=_str(case["network"]), layer=_str(case["layer"]), points=points, change_points=tuple(cps),
        ))
    out.sort(key=lambda c: (not c.change_points, c.label))
    return History(location, threshold, min_size, tuple(out), runs, env_changes, tuple(skipped))


def history(location: str, filters: Mapping[str, Sequence[str]] | None = None,
            threshold: float = DEFAULT_THRESHOLD, last: int | None = None, since: datetime | None = None,
            min_size: int = MIN_SEGMENT) -> History:
    """Time series per case over the store at ``location``, their change points, and the
    environment changes between consecutive runs. ConvbenchError when no run matches."""
    listing: StoreListing = select_runs(list_runs(location), last=last, since=since)
    if not listing.runs:
        raise ConvbenchError(f"history: no finished run at {location}" + (" in that time range" if since else ""))
    rows = read_records(listing, filters=filters)
    if rows.empty:
        raise ConvbenchError(f"history: no rows at {location}" + (" match the filters" if filters else ""))
    return build_history(rows, listing.runs, threshold, min_size, location=str(location), skipped=listing.skipped)


# ---- rendering -------------------------------------------------------------------------------
def format_time(seconds: float | None) -> str:
    """3 significant digits with a unit: ``812 ns``, ``31.3 us``, ``1.88 ms``, ``2.41 s``."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def format_ratio(r: Ratio | None) -> str:
    """``x1.153 [1.121, 1.186]``."""
    if r is None:
        return "-"
    return f"x{r.ratio:.3f} [{r.low:.3f}, {r.high:.3f}]"


def _iso(dt: datetime) -> str:
    return pd.Timestamp(dt).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _level_json(lv: Level | None) -> dict:
    if lv is None:
        return {"median_s": None, "low_s": None, "high_s": None, "runs": 0}
    return {"median_s": lv.median_s, "low_s": lv.low_s, "high_s": lv.high_s, "runs": lv.runs}


def _case_check_json(c: CaseCheck) -> dict:
    return {
        "case_id": c.case_id, "label": c.label, **dict(c.key), "network": c.network, "layer": c.layer,
        "outcome": c.outcome, "ratio": c.ratio.ratio if c.ratio else None,
        "ratio_low": c.ratio.low if c.ratio else None, "ratio_high": c.ratio.high if c.ratio else None,
        "confidence": c.confidence, "baseline": _level_json(c.baseline), "candidate": _level_json(c.candidate),
        "baseline_status": c.baseline_status, "candidate_status": c.candidate_status, "reason": c.reason,
    }


def _run_json(r: RunInfo) -> dict:
    return {"run_id": r.run_id, "name": r.name, "started_at": _iso(r.started_at), "state": r.state, "host": r.host}


def _env_diff_json(d: EnvironmentDifference) -> dict:
    return {"key": d.key, "baseline": [{"value": v, "runs": n} for v, n in d.baseline],
            "candidate": [{"value": v, "runs": n} for v, n in d.candidate], "message": d.describe()}


def check_to_json(result: CheckResult) -> dict:
    """The check as plain JSON data (``--format json``)."""
    return {
        "exit_code": result.exit_code, "threshold": result.threshold,
        "baseline": {"location": result.baseline_location, "runs": [_run_json(r) for r in result.baseline_runs]},
        "candidate": {"location": result.candidate_location, "runs": [_run_json(r) for r in result.candidate_runs]},
        "counts": result.counts(),
        "regressions": [_case_check_json(c) for c in result.regressions],
        "broken": [_case_check_json(c) for c in result.broken],
        "improvements": [_case_check_json(c) for c in result.improvements],
        "missing": [_case_check_json(c) for c in result.cases if c.outcome == MISSING],
        "environment_differences": [_env_diff_json(d) for d in result.environment_differences],
        "skipped_runs": [{"path": s.path, "reason": s.reason} for s in result.skipped],
        "cases": [_case_check_json(c) for c in result.cases],
    }


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def check_headline(result: CheckResult) -> str:
    """One line: verdict and counts."""
    plural = {REGRESSION: "regressions", IMPROVEMENT: "improvements"}
    parts = [f"{n} {plural.get(k, k) if n != 1 else k}" for k, n in result.counts().items()]
    verdict_text = "FAIL" if result.exit_code else "PASS"
    nb, nc = len(result.baseline_runs), len(result.candidate_runs)
    return (f"{verdict_text}: {', '.join(parts) or 'no cases'} (threshold {result.threshold:.1%}; "
            f"baseline {nb} run{'s' if nb != 1 else ''}, candidate {nc} run{'s' if nc != 1 else ''})")


def check_markdown(result: CheckResult) -> str:
    """The check as Markdown, e.g. for a CI job summary."""
    out = [f"## convbench check: {'regression' if result.exit_code else 'no regression'}", "",
           check_headline(result), ""]
    if result.broken:
        out += ["### Broken (ok in the baseline, not ok now)", "",
                _md_table(["case", "layer", "status", "reason"],
                          [[c.label, c.layer, c.candidate_status or "", c.reason] for c in result.broken]), ""]
    if result.regressions:
        out += ["### Regressions (worst first)", "", _md_table(
            ["case", "layer", "baseline", "candidate", "ratio [95% CI]", "confidence"],
            [[c.label, c.layer, format_time(c.baseline.median_s), format_time(c.candidate.median_s),
              format_ratio(c.ratio), f"{c.confidence:.1%}"] for c in result.regressions]), ""]
    if result.improvements:
        out += ["### Improvements", "", _md_table(
            ["case", "layer", "baseline", "candidate", "ratio [95% CI]", "confidence"],
            [[c.label, c.layer, format_time(c.baseline.median_s), format_time(c.candidate.median_s),
              format_ratio(c.ratio), f"{c.confidence:.1%}"] for c in result.improvements]), ""]
    missing = [c for c in result.cases if c.outcome == MISSING]
    if missing:
        out += [f"### Missing from the candidate ({len(missing)})", "",
                _md_table(["case", "layer"], [[c.label, c.layer] for c in missing]), ""]
    if result.environment_differences:
        out += ["### Environment differs from the baseline", "",
                "Ratios across different environments measure the environment too.", ""]
        out += [f"- `{d.key}`: {_md_escape(d.describe().split(': ', 1)[1])}" for d in result.environment_differences]
        out += [""]
    if result.skipped:
        out += ["### Skipped runs", ""] + [f"- `{s.path}`: {s.reason}" for s in result.skipped] + [""]
    return "\n".join(out)


def history_to_json(h: History) -> dict:
    """The history as plain JSON data (``--format json``; DESIGN: Reports and tracking)."""
    series = []
    for c in h.cases:
        for p in c.points:
            series.append({
                "case_id": c.case_id, "run_id": p.run_id, "started_at": _iso(p.started_at),
                "time_median_s": p.median_s, "time_ci_low_s": p.low_s, "time_ci_high_s": p.high_s,
                "status": p.status, "reason": p.reason, "run_name": p.run_name,
            })
    return {
        "location": h.location, "threshold": h.threshold, "min_runs": h.min_size,
        "cases": [{"case_id": c.case_id, "label": c.label, **dict(c.key), "network": c.network, "layer": c.layer,
                   "runs": len(c.points), "ok_runs": len(c.ok_points)} for c in h.cases],
        "series": series,
        "change_points": [{
            "case_id": cp.case_id, "run_id": cp.run_id, "started_at": _iso(cp.started_at),
            "ratio": cp.ratio.ratio, "ratio_low": cp.ratio.low, "ratio_high": cp.ratio.high,
            "confidence": cp.confidence, "direction": cp.direction, "label": cp.label, "run_name": cp.run_name,
            "before_median_s": cp.before_median_s, "after_median_s": cp.after_median_s,
            "runs_before": cp.runs_before, "runs_after": cp.runs_after,
            "environment_changes": list(cp.environment_changes),
        } for cp in h.change_points],
        "environment_changes": [{
            "run_id": e.run_id, "started_at": _iso(e.started_at), "previous_run_id": e.previous_run_id,
            "changes": [{"key": k, "before": a, "after": b} for k, a, b in e.changes],
        } for e in h.environment_changes],
        "runs": [_run_json(r) for r in h.runs],
        "skipped_runs": [{"path": s.path, "reason": s.reason} for s in h.skipped],
    }


_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 30) -> str:
    """The last ``width`` values as block characters (log scale; ``·`` for a missing value)."""
    vals = list(values)[-width:]
    ok = [math.log(v) for v in vals if v is not None and v > 0]
    if not ok:
        return "·" * len(vals)
    lo, hi = min(ok), max(ok)
    out = []
    for v in vals:
        if v is None or v <= 0:
            out.append("·")
        elif hi - lo < 1e-12:
            out.append(_SPARK[3])
        else:
            out.append(_SPARK[int(round((math.log(v) - lo) / (hi - lo) * (len(_SPARK) - 1)))])
    return "".join(out)


def history_summary_rows(h: History) -> list[dict]:
    """Per case: label, layer, runs, latest and median time, sparkline, change points (text)."""
    rows = []
    for c in h.cases:
        ok = c.ok_points
        latest = ok[-1].median_s if ok else None
        med = float(np.median([p.median_s for p in ok])) if ok else None
        rows.append({
            "case": c.label, "layer": c.layer, "runs": f"{len(ok)}/{len(c.points)}",
            "latest": format_time(latest), "median": format_time(med),
            "trend": sparkline([p.median_s for p in c.points]),
            "change_points": "; ".join(
                f"{_iso(cp.started_at)[:10]} {cp.run_id}: x{cp.ratio.ratio:.3f} {cp.direction} ({cp.confidence:.1%})"
                + (f" [env: {', '.join(cp.environment_changes)}]" if cp.environment_changes else "")
                for cp in c.change_points) or "-",
        })
    return rows


def history_markdown(h: History, plot_name: str | None = None) -> str:
    """The history as Markdown (change points first), with the plot when ``plot_name`` is
    given (a path relative to where the Markdown is shown)."""
    cps = h.change_points
    out = [f"## convbench history: {len(cps)} change point{'s' if len(cps) != 1 else ''}", "",
           f"{len(h.runs)} runs, {len(h.cases)} cases, threshold {h.threshold:.1%}, "
           f"at least {h.min_size} runs on each side.", ""]
    if cps:
        out += ["### Change points (most recent first)", "", _md_table(
            ["case", "first run of the new level", "before", "after", "ratio [95% CI]", "confidence",
             "environment changes"],
            [[cp.label, f"{_iso(cp.started_at)} {cp.run_id}", format_time(cp.before_median_s),
              format_time(cp.after_median_s), format_ratio(cp.ratio), f"{cp.confidence:.1%}",
              ", ".join(cp.environment_changes) or "-"] for cp in cps]), ""]
    if plot_name:
        out += [f"![trend]({plot_name})", ""]
    out += ["### Cases", "", _md_table(["case", "layer", "ok runs", "latest", "median", "trend", "change points"],
                                       [list(r.values()) for r in history_summary_rows(h)]), ""]
    if h.environment_changes:
        out += ["### Environment changes", "", _md_table(
            ["run", "started", "key", "before", "after"],
            [[e.run_id, _iso(e.started_at), k, a or "-", b or "-"] for e in h.environment_changes
             for k, a, b in e.changes]), ""]
    if h.skipped:
        out += ["### Skipped runs", ""] + [f"- `{s.path}`: {s.reason}" for s in h.skipped] + [""]
    return "\n".join(out)


def history_csv(h: History) -> str:
    """The series in long form as CSV: one line per (case, run)."""
    data = history_to_json(h)
    labels = {c["case_id"]: c["label"] for c in data["cases"]}
    frame = pd.DataFrame(data["series"])
    if frame.empty:
        frame = pd.DataFrame(columns=["case_id", "run_id", "started_at", "time_median_s"])
    frame.insert(1, "label", frame["case_id"].map(labels))
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def plot_history(h: History, path: str, max_cases: int = 24) -> int:
    """A PNG of the trend: one panel per case (cases with change points first, at most
    ``max_cases``), each run's median with its 95% interval, the levels between change points,
    change points as red dashed lines, environment changes as grey dotted lines labelled with
    what changed, failed runs as red crosses. Returns the number of panels drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    cases = list(h.cases)[:max_cases]
    n = max(len(cases), 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.0 + 2.1 * n), sharex=True, squeeze=False)
    for ax, c in zip(axes[:, 0], cases):
        ok = c.ok_points
        if ok:
            t = [p.started_at for p in ok]
            med = np.array([p.median_s for p in ok])
            scale, unit = _time_unit(float(np.median(med)))
            lo = np.array([p.low_s for p in ok]) / scale
            hi = np.array([p.high_s for p in ok]) / scale
            y = med / scale
            ax.errorbar(t, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], fmt="o-", ms=3, lw=1,
                        color="#1f77b4", ecolor="#9ecae1", capsize=0)
            idx = {p.run_id: i for i, p in enumerate(ok)}
            cuts = [0, *[idx[cp.run_id] for cp in c.change_points if cp.run_id in idx], len(ok)]
            for a, b in zip(cuts, cuts[1:]):
                seg = float(np.median(med[a:b])) / scale
                ax.hlines(seg, t[a], t[b - 1], colors="#ff7f0e", lw=2, alpha=0.8)
            for cp in c.change_points:
                ax.axvline(cp.started_at, color="#d62728", ls="--", lw=1.2)
                ax.annotate(f"x{cp.ratio.ratio:.2f}", (cp.started_at, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(3, -10), textcoords="offset points", color="#d62728", fontsize=8)
            ax.set_ylabel(unit)
            failed = [p for p in c.points if p.median_s is None]
            if failed:
                ax.plot([p.started_at for p in failed], [float(np.min(lo))] * len(failed), "x", color="#d62728")
        for e in h.environment_changes:
            ax.axvline(e.started_at, color="0.5", ls=":", lw=1)
        ax.set_title(f"{c.label}  {c.layer}".strip(), fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
    top = axes[0, 0]
    for e in h.environment_changes:
        text = ", ".join(e.keys[:3]) + (f" +{len(e.keys) - 3}" if len(e.keys) > 3 else "")
        top.annotate(text, (e.started_at, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                     textcoords="offset points", fontsize=7, color="0.35", rotation=15)
    if not cases:
        top.text(0.5, 0.5, "no cases", ha="center", va="center", transform=top.transAxes)
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    omitted = len(h.cases) - len(cases)
    ncp = len(h.change_points)
    fig.suptitle(f"convbench history: {len(h.runs)} runs, {ncp} change point{'s' if ncp != 1 else ''}"
                 + (f" ({omitted} more cases not drawn)" if omitted > 0 else ""), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return len(cases)


def _time_unit(seconds: float) -> tuple[float, str]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return scale, unit
    return 1e-9, "ns"
