"""Roofline: arithmetic intensity against achieved FLOP/s, under the device's roofs.

One point per ok row of the chosen device and dtype: x is ``intensity_flop_per_byte``
(FLOP per byte of minimal traffic: input + weights + output), y the achieved FLOP/s
(``flops / time_median_s``; int8: operations/s). Ceilings: the measured roofs of the run
(``convbench peak``, solid) and the datasheet's or, for CPUs, the ISA formula's (dashed),
each a memory slope (bandwidth x intensity) meeting a flat compute roof at the ridge point.

A point above a measured compute ceiling is a bug in either figure (the FLOP count, the time
or the peak measurement): :func:`roofline` detects it and says so in ``warnings``. Points of
hot-cache runs may sit above the DRAM slope (their data came from caches): that is noted,
not warned.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from convbench.errors import ConvbenchError
from convbench.reports.compare import RunSet, layer_label, require_ok
from convbench.reports.peaks import Roofs, roofs_for_run

_MARKERS = {"fwd": "o", "dgrad": "s", "wgrad": "^"}


@dataclass(frozen=True)
class Point:
    """One ok row: intensity in FLOP/byte, achieved FLOP/s."""

    run_id: str
    layer: str
    workload: str
    network: str
    backend: str
    direction: str
    cache: str
    intensity: float
    flop_per_s: float
    count: int

    @property
    def label(self) -> str:
        return f"{layer_label(self.layer, self.workload, 32)} ({self.backend})"


@dataclass(frozen=True)
class Ceiling:
    """One roof: a compute ceiling (FLOP/s) and/or a memory slope (bytes/s), of one kind
    (``measured``, ``datasheet`` or ``formula``) and where it comes from."""

    kind: str
    compute_flop_per_s: float | None
    memory_bytes_per_s: float | None
    source: str
    compute_note: str = ""
    memory_note: str = ""

    @property
    def ridge(self) -> float | None:
        """Intensity (FLOP/byte) where the memory slope meets the compute roof."""
        if self.compute_flop_per_s and self.memory_bytes_per_s:
            return self.compute_flop_per_s / self.memory_bytes_per_s
        return None

    def attainable(self, intensity: float) -> float | None:
        """The roof over ``intensity``: min(compute, intensity x bandwidth) (FLOP/s)."""
        vals = [v for v in (self.compute_flop_per_s,
                            intensity * self.memory_bytes_per_s if self.memory_bytes_per_s else None) if v]
        return min(vals) if vals else None


@dataclass(frozen=True)
class Roofline:
    device: str
    device_name: str
    dtype: str
    direction: str | None
    points: tuple[Point, ...]
    ceilings: tuple[Ceiling, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]

    def reference(self) -> Ceiling | None:
        """The ceiling efficiencies are taken against: measured first, else the other."""
        for kind in ("measured", "datasheet", "formula"):
            for c in self.ceilings:
                if c.kind == kind and (c.compute_flop_per_s or c.memory_bytes_per_s):
                    return c
        return None

    def efficiency(self, p: Point) -> float | None:
        """Achieved / the reference roof over the point's intensity. A hot-cache point is held
        to the compute roof alone: caches, not memory, fed it, so the DRAM slope does not
        bound it."""
        ref = self.reference()
        if ref is None:
            return None
        if p.cache == "cold" or not ref.compute_flop_per_s:
            roof = ref.attainable(p.intensity)
        else:
            roof = ref.compute_flop_per_s
        return p.flop_per_s / roof if roof else None

    def extremes(self) -> tuple[Point | None, Point | None]:
        """(worst, best) point: by fraction of the attainable roof, else by FLOP/s."""
        if not self.points:
            return None, None
        if self.reference() is not None:
            key = lambda p: self.efficiency(p) or 0.0  # noqa: E731
        else:
            key = lambda p: p.flop_per_s  # noqa: E731
        return min(self.points, key=key), max(self.points, key=key)

    def above(self, kind: str = "measured") -> tuple[Point, ...]:
        """Points above a compute ceiling of ``kind`` (a bug in either figure for measured)."""
        out = []
        for c in self.ceilings:
            if c.kind == kind and c.compute_flop_per_s:
                out += [p for p in self.points if p.flop_per_s > c.compute_flop_per_s]
        return tuple(dict.fromkeys(out))


def _choose(values: Sequence[str], wanted: str | None, what: str, option: str) -> str:
    values = list(dict.fromkeys(values))
    if wanted is None:
        if len(values) == 1:
            return values[0]
        raise ConvbenchError(f"roofline: the runs have several {what}s ({', '.join(values)}); choose one with {option}")
    if wanted not in values:
        raise ConvbenchError(f"{option.lstrip('-')}: {wanted} has no ok rows in these runs ({what}s: {', '.join(values)})")
    return wanted


def _ceilings(roofs: Roofs, dtype: str) -> list[Ceiling]:
    out = []
    for ps in (roofs.measured, roofs.datasheet):
        if ps is None:
            continue
        c = ps.flop_per_s(dtype)
        if c or ps.memory_bytes_per_s:
            out.append(Ceiling(kind=ps.kind, compute_flop_per_s=c, memory_bytes_per_s=ps.memory_bytes_per_s,
                               source=ps.source, compute_note=ps.note(dtype), memory_note=ps.memory_note))
    return out


def roofline(runs: RunSet, device: str | None = None, dtype: str | None = None,
             direction: str | None = None) -> Roofline:
    """The roofline data of ``device`` and ``dtype`` (each may be left out when the runs have
    one), optionally one ``direction``. ConvbenchError for runs without ok rows or a choice
    the runs do not have."""
    require_ok(runs)
    ok = runs.ok()
    if device == "cuda":
        device = "cuda:0"
    device = _choose([str(d) for d in ok["device"]], device, "device", "--device")
    ok = ok[ok["device"] == device]
    dtype = _choose([str(d) for d in ok["dtype"]], dtype, "dtype", "--dtype")
    ok = ok[ok["dtype"] == dtype]
    if direction is not None:
        _choose([str(d) for d in ok["direction"]], direction, "direction", "--direction")
        ok = ok[ok["direction"] == direction]
    rows = ok.to_dict("records")
    points = []
    for r in rows:
        t = float(r["time_median_s"])
        flops = float(r.get("flops") or 0)
        intensity = r.get("intensity_flop_per_byte")
        if not flops or intensity is None or not (intensity > 0) or not math.isfinite(intensity):
            continue
        points.append(Point(
            run_id=str(r["run_id"]), layer=str(r.get("layer") or ""), workload=str(r.get("workload") or ""),
            network=str(r.get("network") or ""), backend=str(r["backend"]), direction=str(r["direction"]),
            cache=str(r.get("cache") or "hot"), intensity=float(intensity), flop_per_s=flops / t,
            count=int(r.get("count") or 1),
        ))
    first = rows[0]
    device_name = str(first.get("device_name") or "")
    warnings, notes = [], []
    roofs = roofs_for_run(runs.meta(first["run_id"]), device, device_name, int(first.get("threads") or 0))
    for run_id in dict.fromkeys(r["run_id"] for r in rows):
        other = roofs_for_run(runs.meta(run_id), device, device_name, int(first.get("threads") or 0))
        if (other.measured and roofs.measured and other.measured.compute != roofs.measured.compute):
            warnings.append(f"run {run_id} carries other measured peaks than run {first['run_id']}; "
                            f"the ceilings drawn are run {first['run_id']}'s")
            break
    if len({str(r.get("device_name") or "") for r in rows}) > 1:
        warnings.append(f"the rows of {device} come from different devices "
                        f"({', '.join(sorted({str(r.get('device_name')) for r in rows}))}); "
                        f"the ceilings drawn are {device_name}'s")
    ceilings = _ceilings(roofs, dtype)
    warnings += list(roofs.missing)
    for c in ceilings:
        if not c.compute_flop_per_s:
            warnings.append(f"no {c.kind} {dtype} compute peak for {device_name or device}: "
                            "that ceiling is drawn without its compute roof")
    warnings += _ceiling_warnings(ceilings, dtype)
    data = Roofline(device=device, device_name=device_name, dtype=dtype, direction=direction,
                    points=tuple(points), ceilings=tuple(ceilings), warnings=(), notes=())
    warnings += _above_warnings(data)
    notes += _memory_notes(data)
    return Roofline(device=device, device_name=device_name, dtype=dtype, direction=direction,
                    points=tuple(points), ceilings=tuple(ceilings), warnings=tuple(warnings), notes=tuple(notes))


def _fmt_rate(v: float, unit: str = "FLOP/s") -> str:
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def _pct(frac: float) -> str:
    return f"{100 * frac:.0f}%" if frac >= 0.1 else f"{100 * frac:.2g}%"


def _list(points: Sequence[Point], limit: int = 3) -> str:
    text = ", ".join(f"{p.label} at {_fmt_rate(p.flop_per_s)}" for p in points[:limit])
    return text + (f" and {len(points) - limit} more" if len(points) > limit else "")


def _ceiling_warnings(ceilings: Sequence[Ceiling], dtype: str) -> list[str]:
    """A measured roof above the datasheet/formula one: the clock ran above the one the
    formula uses (turbo), or the datasheet row or the measurement is wrong."""
    measured = [c for c in ceilings if c.kind == "measured" and c.compute_flop_per_s]
    out = []
    for m in measured:
        for c in ceilings:
            if c.kind != "measured" and c.compute_flop_per_s and m.compute_flop_per_s > c.compute_flop_per_s:
                why = ("the cores ran above the clock the formula uses (turbo), or the ISA rule is low"
                       if c.kind == "formula" else "check the datasheet row and the dtype the GEMM ran in")
                out.append(f"the measured {dtype} roof ({_fmt_rate(m.compute_flop_per_s)}) is "
                           f"{m.compute_flop_per_s / c.compute_flop_per_s:.0%} of the {c.kind} peak "
                           f"({_fmt_rate(c.compute_flop_per_s)}): {why}")
    return out


def _above_warnings(data: Roofline) -> list[str]:
    out = []
    for c in data.ceilings:
        if not c.compute_flop_per_s:
            continue
        above = [p for p in data.points if p.flop_per_s > c.compute_flop_per_s]
        if not above:
            continue
        roof = _fmt_rate(c.compute_flop_per_s)
        if c.kind == "measured":
            out.append(f"{len(above)} point(s) above the measured {data.dtype} compute ceiling ({roof}): "
                       f"{_list(above)}; a bug in either figure (the FLOP count, the time, or the peak "
                       "measurement: a machine busy during `convbench peak` lowers it; rerun it)")
        elif c.kind == "formula":
            out.append(f"{len(above)} point(s) above the {data.dtype} formula peak ({roof}): {_list(above)}; "
                       "the cores ran faster than the clock the formula uses (turbo) or the ISA rule is wrong")
        else:
            out.append(f"{len(above)} point(s) above the {data.dtype} datasheet peak ({roof}): {_list(above)}; "
                       "check the FLOP count and the dtype that really ran (e.g. TF32 for fp32)")
    for c in data.ceilings:
        if c.kind != "measured" or not c.memory_bytes_per_s:
            continue
        cold = [p for p in data.points if p.cache == "cold" and p.flop_per_s > p.intensity * c.memory_bytes_per_s]
        if cold:
            out.append(f"{len(cold)} cold-cache point(s) above the measured memory slope "
                       f"({_fmt_rate(c.memory_bytes_per_s, 'B/s')}): {_list(cold)}; they moved fewer "
                       "bytes than the minimal traffic, or the bandwidth measurement is low")
    return out


def _memory_notes(data: Roofline) -> list[str]:
    out = []
    for c in data.ceilings:
        if c.kind != "measured" or not c.memory_bytes_per_s:
            continue
        hot = [p for p in data.points if p.cache != "cold" and p.flop_per_s > p.intensity * c.memory_bytes_per_s]
        if hot:
            out.append(f"{len(hot)} hot-cache point(s) sit above the measured memory slope: their data came "
                       "from caches, not memory (run with --cache cold to bound them by DRAM)")
    return out


# ---- plotting ------------------------------------------------------------------------------
def _safe(text: str) -> str:
    """Text for matplotlib: no mathtext, and never a legend-hiding leading underscore."""
    text = str(text).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def figure(data: Roofline):
    """A matplotlib Figure of the roofline (object API: no pyplot, no global backend)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(10, 5.6), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = [p.intensity for p in data.points]
    ys = [p.flop_per_s for p in data.points]
    ridges = [c.ridge for c in data.ceilings if c.ridge]
    computes = [c.compute_flop_per_s for c in data.ceilings if c.compute_flop_per_s]
    xmin = min(xs + ridges) / 4 if xs or ridges else 0.1
    xmax = max(xs + ridges) * 4 if xs or ridges else 1000
    ymin = min(ys) / 4 if ys else (min(computes) / 1000 if computes else 1e9)
    ymax = max(ys + computes) * 2.5 if ys or computes else 1e12
    styles = {"measured": ("-", "black", 2.0), "datasheet": ("--", "dimgray", 1.5), "formula": ("--", "dimgray", 1.5)}
    for c in data.ceilings:
        ls, color, lw = styles.get(c.kind, ("--", "gray", 1.0))
        parts = []
        if c.compute_flop_per_s:
            parts.append(f"{_fmt_rate(c.compute_flop_per_s)}")
        if c.memory_bytes_per_s:
            parts.append(f"{_fmt_rate(c.memory_bytes_per_s, 'B/s')}")
        label = _safe(f"{c.kind} roof: " + ", ".join(parts))
        grid = [xmin * (xmax / xmin) ** (i / 400) for i in range(401)]
        roof = [c.attainable(x) for x in grid]
        ax.plot(grid, roof, linestyle=ls, color=color, linewidth=lw, label=label, zorder=2)
        if c.ridge and xmin < c.ridge < xmax:
            ax.plot([c.ridge], [c.compute_flop_per_s], marker="D", color=color, markersize=6, zorder=3)
            ax.annotate(_safe(f"ridge {c.ridge:.3g} FLOP/B"), (c.ridge, c.compute_flop_per_s),
                        textcoords="offset points", xytext=(-8, 8 if c.kind == "measured" else -16),
                        ha="right", fontsize=8, color=color)
    backends = list(dict.fromkeys(p.backend for p in data.points))
    colors = {b: f"C{i % 10}" for i, b in enumerate(backends)}
    for b in backends:
        for d in dict.fromkeys(p.direction for p in data.points if p.backend == b):
            pts = [p for p in data.points if p.backend == b and p.direction == d]
            ax.scatter([p.intensity for p in pts], [p.flop_per_s for p in pts], c=colors[b],
                       marker=_MARKERS.get(d, "o"), s=36, edgecolors="black", linewidths=0.4,
                       label=_safe(f"{b} {d}"), zorder=4)
    worst, best = data.extremes()
    for p, tag, offset, ha in ((best, "best", (12, -26), "left"), (worst, "worst", (12, -18), "left")):
        if p is None or (tag == "worst" and p is best):
            continue
        eff = data.efficiency(p)
        text = f"{tag}: {p.label}" + (f", {_pct(eff)} of roof" if eff is not None else "")
        ax.annotate(_safe(text), (p.intensity, p.flop_per_s), textcoords="offset points", xytext=offset,
                    ha=ha, fontsize=8, arrowprops={"arrowstyle": "-", "color": "gray", "linewidth": 0.6},
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.yaxis.set_major_formatter(EngFormatter(unit="FLOP/s" if data.dtype != "int8" else "op/s"))
    ax.set_xlabel("arithmetic intensity (FLOP per byte of minimal traffic)")
    ax.set_ylabel(f"achieved {'op' if data.dtype == 'int8' else 'FLOP'}/s ({data.dtype})")
    title = f"{data.device_name or data.device} ({data.device}), {data.dtype}"
    if data.direction:
        title += f", {data.direction}"
    ax.set_title(_safe(f"{title}: {len(data.points)} cases"), fontsize=10)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title="solid: measured, dashed: datasheet/formula", title_fontsize=7)
    return fig


def render(data: Roofline, fmt: str = "png") -> bytes:
    """The plot as PNG or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise ConvbenchError(f"roofline: format must be png or svg, got {fmt!r}")
    buf = io.BytesIO()
    figure(data).savefig(buf, format=fmt, bbox_inches="tight")
    return buf.getvalue()


def save(data: Roofline, path: str | Path) -> Path:
    """Write the plot to ``path`` (.png or .svg, by its suffix)."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ConvbenchError(f"output: {path} must end in .png or .svg")
    if p.parent and not p.parent.exists():
        raise ConvbenchError(f"output: directory {p.parent} does not exist")
    p.write_bytes(render(data, fmt))
    return p
