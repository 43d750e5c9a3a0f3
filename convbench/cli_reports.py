"""Report commands: ``peak``, ``compare``, ``roofline``, ``report``.

Thin: options -> one library call -> render. :mod:`convbench.cli` registers the click
commands listed in :data:`COMMANDS`; its group prints a :class:`ConvbenchError` as one line
and exits 2.
"""

from __future__ import annotations

import json
import sys

import click

from convbench.cli_common import console, parse_fraction, split_values


def _split(values) -> tuple[str, ...]:
    return split_values(values)


def _fraction(text: str, name: str) -> float:
    return parse_fraction(text, name)


def _console(stderr: bool = False):
    return console(stderr)


def _warn(lines) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


# ---- peak ----------------------------------------------------------------------------------
@click.command()
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--dtype", "dtypes", multiple=True,
              help="Dtypes to measure (comma-separated or repeated) [cpu: fp32,bf16,fp16,int8; "
                   "cuda: fp32,tf32,fp16,bf16,int8].")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="CPU threads, as for `convbench run` (0: every CPU this process may use).")
@click.option("--max-time", type=float, default=15.0, show_default=True,
              help="Seconds of timing in all (set-up and process start come on top).")
@click.option("--save/--no-save", default=True, show_default=True,
              help="Store the figures in the user cache, where `convbench run` finds them.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def peak(device, dtypes, threads, max_time, save, fmt):
    """Measure the roofs of DEVICE: the best GEMM throughput per dtype and the memory bandwidth.

    Each figure is the fastest sample over repeated trials of the GEMMs at hand (torch.mm at
    several sizes, torch._int_mm for int8, and a 1x1 convolution through each available
    backend), timed with the harness's timers at the runs' thread count. The entry goes to
    $XDG_CACHE_HOME/convbench/peaks.json (default ~/.cache/...); every later `convbench run`
    on the device copies the newest one into its run.json, so reports draw the measured roofs."""
    from convbench.harness.peak import measure_peaks, save_peaks

    entry = measure_peaks(device, _split(dtypes) or None, threads, max_time)
    path = save_peaks(entry) if save else None
    if fmt == "json":
        click.echo(json.dumps(entry, indent=2, default=str))
    else:
        _console().print(_peak_table(entry))
    if path is not None:
        click.echo(f"saved to {path}", err=True)


def _peak_table(entry: dict):
    from rich.markup import escape
    from rich.table import Table

    from convbench.reports.peaks import datasheet_for_current
    from convbench.reports.roofline import _fmt_rate

    cpu_env = None
    if entry["device"] == "cpu":
        from convbench.harness.devices import cpu

        cpu_env = cpu.environment()
    sheet = datasheet_for_current(entry["device"], entry.get("device_name") or "", cpu_env, int(entry["threads"]))
    t = Table(title=escape(f"peak: {entry.get('device_name')} ({entry['device']}), {entry['threads']} threads, "
                           f"{entry.get('measured_at')}"), title_justify="left")
    for c, j in (("roof", "left"), ("measured", "right"), (sheet.kind if sheet else "datasheet", "right"),
                 ("% of it", "right"), ("how", "left")):
        t.add_column(c, justify=j, overflow="fold")
    method = entry.get("method") or {}
    for dtype, m in method.items():
        if dtype in ("memory", "versions"):
            continue
        value = (entry.get("compute_flop_per_s") or {}).get(dtype)
        ref = sheet.flop_per_s(dtype) if sheet else None
        how = f"{m.get('gemm')} {m.get('shape')}, {m.get('timer')}" if value else (m.get("error") or "")
        t.add_row(dtype, _fmt_rate(value) if value else "-", _fmt_rate(ref) if ref else "-",
                  f"{100 * value / ref:.0f}%" if value and ref else "-", escape(how))
    mem = entry.get("memory_bytes_per_s")
    ref = sheet.memory_bytes_per_s if sheet else None
    mm = method.get("memory") or {}
    t.add_row("memory", _fmt_rate(mem, "B/s") if mem else "-", _fmt_rate(ref, "B/s") if ref else "-",
              f"{100 * mem / ref:.0f}%" if mem and ref else "-",
              escape(f"{mm.get('op', '')} {mm.get('shape', '')} (read + write)"))
    if sheet is not None and sheet.kind == "formula":
        t.caption = "\n".join(f"formula {d}: {n}" for d, n in sheet.notes)
        t.caption_justify = "left"
    return t


# ---- compare -------------------------------------------------------------------------------
@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--by", "axis", type=click.Choice(["run", "backend", "dtype", "device", "algorithm", "timer"]),
              help="What to compare: run (default with several runs), backend (default with one), "
                   "dtype, device, algorithm (the requested one) or timer.")
@click.option("--baseline", help="The value compared against (default: the first run or value).")
@click.option("--threshold", default="0.05", show_default=True,
              help="Ratios whose interval lies within 1 +/- this fraction are `same` (0.05 or 5%).")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True)
def compare(runs, axis, baseline, threshold, fmt):
    """Compare RUNS (run directories, roots of runs or globs) case by case.

    Rows are matched on every case field but the compared axis and the algorithm that ran.
    Per case: both times, the ratio candidate/baseline with its 95% confidence interval from
    both sides' noise, a verdict (faster, slower, same, unclear), TFLOPS and % of the roof
    (measured peak of the run, else datasheet or CPU formula); then the count-weighted
    geometric mean over the suite."""
    from convbench.reports import compare as cmp

    data = cmp.compare(cmp.load_runs(runs), by=axis, baseline=baseline,
                       threshold=_fraction(threshold, "threshold"))
    if fmt == "json":
        click.echo(cmp.to_json(data), nl=False)
    elif fmt == "csv":
        click.echo(cmp.to_csv(data), nl=False)
    elif fmt == "markdown":
        click.echo(cmp.to_markdown(data), nl=False)
    else:
        out = _console()
        out.print(cmp.render_table(data))
        if data.gaps:
            out.print(cmp.render_gaps_table(data))
        from rich.markup import escape

        for line in cmp.summary_lines(data):
            out.print(escape(line))


# ---- roofline ------------------------------------------------------------------------------
@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--device", help="Device whose rows to plot (default: the only one in the runs).")
@click.option("--dtype", help="Dtype to plot (default: the only one in the runs).")
@click.option("--direction", type=click.Choice(["fwd", "dgrad", "wgrad"]), help="Only this direction.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="FILE.png or FILE.svg.")
def roofline(runs, device, dtype, direction, output):
    """Plot a roofline of RUNS: arithmetic intensity vs achieved FLOP/s, one point per ok row,
    under the measured (solid) and datasheet or CPU-formula (dashed) ceilings.

    Warns about a device without a known peak (the plot goes without that ceiling) and about
    points above a measured ceiling (a bug in either figure)."""
    from convbench.reports import compare as cmp
    from convbench.reports import roofline as rl

    data = rl.roofline(cmp.load_runs(runs), device=device, dtype=dtype, direction=direction)
    path = rl.save(data, output)
    _warn(data.warnings)
    for note in data.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {path} ({len(data.points)} points, {len(data.ceilings)} ceilings)")


# ---- report --------------------------------------------------------------------------------
@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="Output file; `-` prints Markdown to stdout.")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]),
              help="html (one self-contained file) or md (for a pull request); default: by the suffix.")
@click.option("--threshold", default="0.05", show_default=True,
              help="Band for `same` verdicts in the comparisons (0.05 or 5%).")
def report(runs, output, fmt, threshold):
    """Write a report of RUNS: environment, verdicts, comparisons, rooflines, per-network
    breakdown and every unsupported, wrong or failed row with its reason.

    HTML is one file with its images and styles inside (no network access); Markdown writes
    its roofline PNGs beside the file and links them."""
    from convbench.reports import compare as cmp
    from convbench.reports import report as rep

    data = cmp.load_runs(runs)
    th = _fraction(threshold, "threshold")
    if output == "-":
        if fmt == "html":
            sys.stdout.write(rep.render_html(rep.build_report(data, th)))
        else:
            sys.stdout.write(rep.render_markdown(rep.build_report(data, th), images=False))
        return
    written = rep.write_report(data, output, fmt, th)
    for p in written:
        click.echo(f"wrote {p}")


COMMANDS = [peak, compare, roofline, report]
