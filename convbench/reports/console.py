"""Terminal rendering (rich) of listings, layer tables and run results. Consumes data only."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections import Counter
from typing import Sequence

from rich.markup import escape
from rich.table import Table


def fmt_time(seconds) -> str:
    """Seconds -> a short string in ns/us/ms/s."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = float(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{s:g} s"


def fmt_count(n) -> str:
    """12_345_678 -> '12.35M' (SI, base 10)."""
    if n is None:
        return "-"
    n = float(n)
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}"
    return f"{n:.0f}"


# ---- listings ------------------------------------------------------------------------------
def listing(what: str) -> list[dict]:
    """Data for ``convbench list WHAT`` (plain dicts, JSON-ready)."""
    if what == "networks":
        from convbench.workloads.networks import get_network, list_networks

        rows = []
        for name in list_networks():
            net = get_network(name)
            rows.append({"name": name, "layers": len(net.layers), "params": net.params, "macs": net.macs,
                         "resolution": list(net.resolution), "source": net.source})
        return rows
    if what == "suites":
        from convbench.workloads import get_suite, list_suites

        rows = []
        for name in list_suites():
            if name.startswith("net:"):
                continue
            s = get_suite(name)
            rows.append({"name": name, "shapes": len(s.entries), "description": s.description})
        return rows
    if what == "backends":
        from convbench.backends.registry import describe_backend, list_backends

        return [describe_backend(n) for n in list_backends()]
    if what == "devices":
        from convbench.harness.devices import device_kinds, get_device

        rows = []
        for kind in device_kinds():
            mod = get_device(kind)
            reason = mod.available()
            rows.append({"kind": kind, "present": reason is None, "reason": reason or "",
                         "devices": mod.list_devices() if reason is None else []})
        return rows
    if what == "dtypes":
        from convbench.workloads.spec import DTYPE_BITS, DTYPES

        return [{"name": d, "bits": DTYPE_BITS[d]} for d in DTYPES]
    raise ValueError(what)


def listing_table(what: str, rows: list[dict]) -> Table:
    t = Table(title=what, title_justify="left")
    if what == "networks":
        for c in ("name", "layers", "params", "GMACs", "input", "source"):
            t.add_column(c, justify="right" if c in ("layers", "params", "GMACs") else "left")
        for r in rows:
            t.add_row(r["name"], str(r["layers"]), fmt_count(r["params"]), f"{r['macs'] / 1e9:.3f}",
                      "x".join(map(str, r["resolution"])), r["source"])
    elif what == "suites":
        t.add_column("name")
        t.add_column("shapes", justify="right")
        t.add_column("description")
        for r in rows:
            t.add_row(r["name"], str(r["shapes"]), r["description"])
        t.caption = "also: any network name, or net:<network> (its de-duplicated layers)"
    elif what == "backends":
        for c in ("name", "available", "versions", "devices: dtypes (directions)"):
            t.add_column(c)
        for r in rows:
            versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
            if not r["available"]:
                t.add_row(r["name"], "[red]no[/]", "", escape(r["reason"]))
                continue
            sup = []
            for dev, table in r["supports"].items():
                parts = [f"{dt}({'/'.join(d[0] if d == 'fwd' else d[0:2] for d in dirs)})" for dt, dirs in table.items()]
                sup.append(f"{dev}: " + " ".join(parts))
            t.add_row(r["name"], "[green]yes[/]", escape(versions), "\n".join(sup))
        t.caption = "directions: f=fwd, dg=dgrad, wg=wgrad"
    elif what == "devices":
        t.add_column("kind")
        t.add_column("present")
        t.add_column("devices / reason")
        for r in rows:
            if r["present"]:
                devs = "\n".join(f"{d['id']}: {d['name']} ({fmt_count(d['memory_bytes'])}B)" for d in r["devices"])
                t.add_row(r["kind"], "[green]yes[/]", devs)
            else:
                t.add_row(r["kind"], "[red]no[/]", escape(r["reason"]))
    else:
        cols = list(rows[0]) if rows else []
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*(str(r[c]) for c in cols))
    return t


# ---- show ----------------------------------------------------------------------------------
def print_layers(console, title: str, specs, counts, dtypes: Sequence[str], direction: str, fmt: str) -> None:
    from convbench.workloads.summary import layer_rows, totals

    rows = layer_rows(specs, dtypes, direction, counts)
    tot = totals(specs, counts, direction)
    if fmt == "json":
        console.file.write(json.dumps({"title": title, "layers": rows, "totals": tot}, indent=2) + "\n")
        return
    if fmt == "csv":
        _write_csv(console.file, rows)
        return
    t = Table(title=escape(title), title_justify="left")
    cols = ["#", "layer", "kind", "input", "output", "kernel", "stride", "groups"]
    if counts is not None:
        cols.append("count")
    cols += ["params", "MACs", "FLOPs"]
    for dt in dtypes:
        cols += [f"bytes {dt}", f"FLOP/B {dt}"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("layer", "kind") else "right")
    for i, r in enumerate(rows):
        cells = [str(i), escape(r["layer"] or r["descriptor"]), r["kind"], r["input"], r["output"], r["kernel"],
                 r["stride"], str(r["groups"])]
        if counts is not None:
            cells.append(str(r["count"]))
        cells += [fmt_count(r["params"]), fmt_count(r["macs"]), fmt_count(r["flops"])]
        for dt in dtypes:
            cells += [fmt_count(r[f"bytes_{dt}"]), f"{r[f'intensity_{dt}_flop_per_byte']:.1f}"]
        t.add_row(*cells)
    console.print(t)
    console.print(f"totals: {tot['layers']} layers, {tot['params']:,} params ({tot['params'] / 1e6:.2f}M), "
                  f"{tot['macs']:,} MACs ({tot['macs'] / 1e9:.3f} GMACs), {tot['flops'] / 1e9:.3f} GFLOP ({direction})"
                  + (" [counts weighted]" if counts is not None else ""))


def print_algorithms(console, spec, costs, errors, fmt: str) -> None:
    rows = []
    for c in costs:
        err = errors.get(c.algorithm) if errors else None
        rows.append({
            "algorithm": c.algorithm, "supported": c.supported, "reason": c.reason,
            "multiplications": c.multiplications,
            "multiplications_per_tile_per_channel_pair": c.multiplications_per_tile_per_channel_pair,
            "extra_bytes": c.extra_bytes,
            "max_abs_error": err[0] if err else None, "max_rel_error": err[1] if err else None,
            "notes": c.notes,
        })
    if fmt == "json":
        console.file.write(json.dumps({"descriptor": str(spec), "algorithms": rows}, indent=2, default=str) + "\n")
        return
    if fmt == "csv":
        _write_csv(console.file, rows)
        return
    t = Table(title=escape(f"algorithms for {spec}"), title_justify="left")
    for col in ("algorithm", "mults (total)", "mults per tile per channel pair", "extra memory", "max abs err",
                "max rel err", "notes"):
        t.add_column(col, justify="left" if col in ("algorithm", "notes") else "right")
    for r in rows:
        if not r["supported"]:
            t.add_row(r["algorithm"], "-", "-", "-", "-", "-", escape(f"unsupported: {r['reason']}"))
            continue
        per_tile = r["multiplications_per_tile_per_channel_pair"]
        t.add_row(r["algorithm"], fmt_count(r["multiplications"]), "-" if per_tile is None else f"{per_tile:g}",
                  fmt_count(r["extra_bytes"]) + "B",
                  "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.2e}",
                  "-" if r["max_rel_error"] is None else f"{r['max_rel_error']:.2e}", escape(r["notes"] or ""))
    console.print(t)


# ---- run -----------------------------------------------------------------------------------
class Progress:
    """A rich progress bar on stderr (cases done, current case, elapsed and remaining time);
    silent when stderr is not a terminal unless forced."""

    def __init__(self, console, enabled: bool | None = None) -> None:
        self.console = console
        self.enabled = console.is_terminal if enabled is None else enabled
        self._bar = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as _P, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = _P(TextColumn("[bold]convbench[/]"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                           console=self.console, transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def update(self, pc, row, total: int | None = None) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("", total=total)
        label = f"{pc.backend} {pc.case.dtype} {pc.case.direction} {pc.workload.layers[0] if pc.workload.layers else pc.descriptor}"
        if row is None:
            self._bar.update(self._task, description=escape(label[:60]))
        else:
            self._bar.advance(self._task)


_RUN_COLUMNS = ("layer", "backend", "algorithm", "dtype", "direction", "layout_requested", "device", "cache",
                "repeat", "status", "time_median_s", "noise_rel", "tflops", "timer", "reason")
#: Case fields the table shows only when the rows differ in them (else rows would look alike).
_VARYING = (("layout_requested", "layout"), ("device", "device"), ("cache", "cache"), ("repeat", "rep"))


def _layer_label(r: dict) -> str:
    layer = (r.get("layer") or "").split(",")[0]
    return layer or r.get("workload", "")


def print_run(console, rows: list[dict], fmt: str) -> None:
    """The results table of a run (ok rows with time, others with their reason)."""
    if fmt == "none":
        return
    if fmt == "json":
        console.file.write(json.dumps([{k: r.get(k) for k in r if k != "samples_s"} for r in rows],
                                      indent=2, default=str) + "\n")
        return
    if fmt == "csv":
        _write_csv(console.file, [{k: r.get(k) for k in ("workload",) + _RUN_COLUMNS} for r in rows])
        return
    t = Table(title="convbench run", title_justify="left")
    varying = [(k, label) for k, label in _VARYING if len({str(r.get(k)) for r in rows}) > 1]
    for c, j in (("layer", "left"), ("backend", "left"), ("algorithm", "left"), ("dtype", "left"),
                 ("dir", "left"), *[(label, "left") for _, label in varying], ("status", "left"),
                 ("median", "right"), ("±noise", "right"), ("TFLOP/s", "right"), ("timer", "left")):
        t.add_column(c, justify=j, overflow="fold")
    style = {"ok": "green", "wrong": "red", "unsupported": "dim", "error": "red", "crashed": "red",
             "timeout": "red", "oom": "red"}
    for r in rows:
        st = r["status"]
        if st == "ok":
            noise = r.get("noise_rel")
            flag = "" if r.get("target_reached") else "*"
            cells = [fmt_time(r["time_median_s"]), f"{100 * noise:.1f}%{flag}" if noise is not None else "-",
                     f"{r['tflops']:.3g}" if r.get("tflops") else "-", r.get("timer") or ""]
        else:
            cells = ["", "", "", (r.get("reason") or "")[:70]]
        algo = r.get("algorithm") or ""
        t.add_row(escape(_layer_label(r)[:40]), escape(r["backend"]), escape(algo[:40]), r["dtype"], r["direction"],
                  *[escape(str(r.get(k))) for k, _ in varying],
                  f"[{style.get(st, 'white')}]{st}[/]", *[escape(c) for c in cells])
    t.caption = "median of the samples; ±noise: half-width of its 95% confidence interval (* target not reached)"
    console.print(t)


def summarize_statuses(rows: list[dict]) -> str:
    c = Counter(r["status"] for r in rows)
    if not rows:
        return "no cases run (all done already)"
    return f"{len(rows)} cases: " + ", ".join(f"{n} {s}" for s, n in c.most_common())


def _write_csv(stream, rows: list[dict]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    (stream or sys.stdout).write(buf.getvalue())
