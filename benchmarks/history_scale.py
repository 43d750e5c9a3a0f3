"""How fast is a large history store read, and how often does noise alone raise an alarm?

1. Builds a store of ``--runs`` synthetic nightly runs (``--cases`` rows each, written with
   RunWriter) in a temp directory and times: listing it (every run.json), reading every row
   (one pyarrow dataset scan), building the history (series + change points of every case),
   and, for comparison, ``convbench.results.load`` (a Python loop over run directories).
2. False alarms: ``--histories`` noise-only series of ``--nights`` nights per noise level
   (lognormal night-to-night noise, each run's own 95% interval +-1%): the fraction of series in
   which ``history`` finds a change point, and the fraction of last nights that ``check`` flags
   against the nights before (all of them, and the last 7).
3. Power: the same series with a lasting step of ``--step`` from night ``--step-night``: how
   often history finds it, and names exactly that night.

    python benchmarks/history_scale.py
    python benchmarks/history_scale.py --runs 1000 --cases 100 --histories 500
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from convbench.reports import regressions as R
from convbench.results.history import list_runs, read_records
from convbench.results.schema import empty_row
from convbench.results.store import RunWriter, load

T0 = datetime(2025, 1, 1, 2, 0, tzinfo=timezone.utc)


def _row(run_id: str, case: int, time_s: float, started) -> dict:
    r = empty_row()
    r.update(run_id=run_id, case_id=f"case{case:04d}", started_at=started, workload=f"mb1ic{case + 1}ih56oc64kh3ph1",
             network="synthetic", layer=f"layer{case}", count=1, dims=2, kind="conv", backend="torch",
             algorithm="jit", algorithm_requested="default", device="cpu", dtype="fp32", direction="fwd",
             layout="nchw", cache="hot", timer="wall", threads=0, repeat=0, status="ok", reason="",
             time_median_s=time_s, time_ci_low_s=time_s * 0.99, time_ci_high_s=time_s * 1.01, noise_rel=0.01,
             samples=50, samples_s=[time_s] * 50)
    return r


def build_store(root: str, runs: int, cases: int, noise: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(math.log(1e-5), math.log(1e-2), cases))
    env = {"convbench": "0.1.0", "packages": {"torch": "2.13.0"}, "devices": {"cpu": {"model": "synthetic"}}}
    for night in range(runs):
        w = RunWriter.create(root, ["convbench", "run"], {}, env)
        start = T0 + timedelta(days=night)
        times = base * np.exp(rng.normal(0, noise, cases))
        w.rows.extend(_row(w.run_id, c, float(times[c]), start) for c in range(cases))
        w.meta["started_at"] = start.isoformat().replace("+00:00", "Z")
        w.finish("complete")


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def scale(args) -> None:
    with tempfile.TemporaryDirectory(prefix="convbench-history-") as root:
        t = time.perf_counter()
        build_store(root, args.runs, args.cases, 0.02)
        print(f"store: {args.runs} runs x {args.cases} cases built in {time.perf_counter() - t:.1f} s ({root})")
        t_list, listing = _best_of(lambda: list_runs(root), args.repeats)
        t_read, rows = _best_of(lambda: read_records(listing), args.repeats)
        t_hist, h = _best_of(lambda: R.build_history(rows, listing.runs), args.repeats)
        t_all, _ = _best_of(lambda: R.history(root), args.repeats)
        print(f"  list runs (read {len(listing.runs)} run.json):        {t_list:7.3f} s")
        print(f"  read {len(rows)} rows (one pyarrow dataset scan):  {t_read:7.3f} s")
        print(f"  series + change points of {len(h.cases)} cases:       {t_hist:7.3f} s")
        print(f"  convbench history STORE, end to end (library):  {t_all:7.3f} s  "
              f"({len(h.change_points)} change points in 2%-noise data)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_loop, df = _best_of(lambda: load(root), 1)
        print(f"  for comparison, results.load() (a Python loop over runs, samples included): {t_loop:7.3f} s "
              f"({len(df)} rows)")


def _frame(times: np.ndarray, first_night: int) -> pd.DataFrame:
    rows = []
    for i, t in enumerate(times):
        night = first_night + i
        r = _row(f"r{night}", 0, float(t), T0 + timedelta(days=night))
        r.update(run_name=f"run{night}", run_path=f"/store/run{night}",
                 run_started_at=pd.Timestamp(T0 + timedelta(days=night)))
        rows.append(r)
    return pd.DataFrame(rows)


def false_alarms(args) -> None:
    print(f"\nfalse alarms on noise alone ({args.histories} histories of {args.nights} nights, threshold "
          f"{args.threshold:.0%}, each run's own 95% CI +-1%):")
    print("  noise   history: series with a change point   check: last night flagged vs all before / vs last 7")
    for noise in args.noise:
        rng = np.random.default_rng(1234)
        hist = chk_all = chk_7 = 0
        for _ in range(args.histories):
            x = 1e-3 * np.exp(rng.normal(0, noise, args.nights))
            hist += bool(R.find_shifts(x, args.threshold, noise_rel=0.01))
            cand = _frame(x[-1:], args.nights - 1)
            [all_before] = R.compare_cases(_frame(x[:-1], 0), cand, args.threshold)
            [last7] = R.compare_cases(_frame(x[-8:-1], args.nights - 8), cand, args.threshold)
            chk_all += all_before.outcome == R.REGRESSION
            chk_7 += last7.outcome == R.REGRESSION
        n = args.histories
        print(f"  {noise:4.0%}    {hist / n:8.1%} ({hist}/{n})                       "
              f"{chk_all / n:6.1%} ({chk_all}/{n}) / {chk_7 / n:6.1%} ({chk_7}/{n})")


def power(args) -> None:
    print(f"\ndetection of a lasting x{args.step} step at night {args.step_night} of {args.nights}:")
    print("  noise   found   named the right night   median seconds per series")
    for noise in args.noise:
        rng = np.random.default_rng(99)
        found = exact = 0
        spent = []
        for _ in range(args.histories):
            x = 1e-3 * np.exp(rng.normal(0, noise, args.nights))
            x[args.step_night:] *= args.step
            t = time.perf_counter()
            shifts = R.find_shifts(x, args.threshold, noise_rel=0.01)
            spent.append(time.perf_counter() - t)
            found += bool(shifts)
            exact += any(s.index == args.step_night for s in shifts)
        n = args.histories
        print(f"  {noise:4.0%}    {found / n:6.1%}  {exact / n:6.1%}                  {statistics.median(spent):.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3, help="timings are the best of this many")
    p.add_argument("--histories", type=int, default=200)
    p.add_argument("--nights", type=int, default=30)
    p.add_argument("--noise", type=lambda s: [float(v) for v in s.split(",")], default=[0.01, 0.02, 0.03, 0.05],
                   help="night-to-night noise levels (sd of log time), comma-separated")
    p.add_argument("--threshold", type=float, default=0.05)
    p.add_argument("--step", type=float, default=1.15)
    p.add_argument("--step-night", type=int, default=20)
    p.add_argument("--skip-scale", action="store_true")
    args = p.parse_args()
    if not args.skip_scale:
        scale(args)
    false_alarms(args)
    power(args)


if __name__ == "__main__":
    main()
