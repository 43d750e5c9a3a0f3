"""The ``convbench`` command: a thin click layer over the library.

Each command turns options into one library call and renders what comes back with rich.
User errors (:class:`ConvbenchError`) print ``convbench: error: <line>`` on stderr and exit 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

import click

from convbench import __version__
from convbench.cli_common import console, parse_fraction, split_values
from convbench.errors import ConvbenchError

_DEBUG_ENV = "CONVBENCH_DEBUG"
# Before any framework loads (listings import them in this process): no framework may grab
# the whole GPU or flood stderr with its start-up banner.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _split(values) -> tuple[str, ...]:
    return split_values(values)


def _fraction(text: str, name: str) -> float:
    return parse_fraction(text, name, "0.01 or 1%")


def _stderr():
    return console(stderr=True)


def _stdout():
    return console()


class _Group(click.Group):
    """Turns ConvbenchError into one line and exit 2 (traceback with --debug)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConvbenchError as exc:
            if os.environ.get(_DEBUG_ENV):
                raise
            click.echo(f"convbench: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (start-up, loading)
            if os.environ.get(_DEBUG_ENV):
                raise
            click.echo("convbench: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="convbench")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """convbench: verified, well-timed benchmarks of convolution layers.

    \b
    Examples:
      convbench run                                   # quick suite, CPU, every installed backend
      convbench run --network resnet50 --dtype fp32,bf16 --backend torch,onednn
      convbench run --device cuda --network resnet50 --dtype fp16 --direction fwd,dgrad,wgrad
      convbench show resnet50                         # every layer with params, MACs, bytes
      convbench list backends
    """
    if debug:
        os.environ[_DEBUG_ENV] = "1"


# ---- list ----------------------------------------------------------------------------------
@main.command("list")
@click.argument("what", required=False,
                type=click.Choice(["networks", "suites", "backends", "devices", "dtypes"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_cmd(what, fmt):
    """List networks, suites, backends (with versions and support), devices or dtypes.

    Without an argument: networks, suites and backends."""
    from convbench.reports import console

    whats = [what] if what else ["networks", "suites", "backends"]
    data = {w: console.listing(w) for w in whats}
    if fmt == "json":
        click.echo(json.dumps(data[what] if what else data, indent=2, default=str))
        return
    out = _stdout()
    for w in whats:
        out.print(console.listing_table(w, data[w]))


# ---- show ----------------------------------------------------------------------------------
@main.command()
@click.argument("target")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size (networks default to 1).")
@click.option("--resolution", help="Input resolution for networks: 224, or 256x320.")
@click.option("--dtype", "dtypes", multiple=True, default=("fp32",), show_default=True,
              help="Dtypes for bytes and intensity (comma-separated or repeated).")
@click.option("--direction", default="fwd", show_default=True, type=click.Choice(["fwd", "dgrad", "wgrad"]))
@click.option("--algorithms", is_flag=True,
              help="For one shape: each algorithm's multiplications, extra memory and measured error.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Stop at the first bad line of a workload file.")
def show(target, batch, resolution, dtypes, direction, algorithms, fmt, strict):
    """Show the layers of a NETWORK, SUITE, workload FILE or one DESCRIPTOR.

    Per layer: output shape, params, MACs, FLOPs, bytes moved and arithmetic intensity per dtype;
    then the totals."""
    from convbench.reports import console
    from convbench.workloads.show import resolve_target

    dtypes = _split(dtypes)
    title, specs, counts = resolve_target(target, batch=batch, resolution=_resolution(resolution),
                                          strict=strict, on_error=_bad_line)
    if algorithms:
        if len(specs) != 1:
            raise ConvbenchError(f"show: --algorithms takes one shape; {target!r} has {len(specs)}")
        from convbench.backends.reference.algorithms import algorithm_costs, measure_errors

        costs = algorithm_costs(specs[0], dtypes[0])
        errors = measure_errors(specs[0], dtypes[0])
        console.print_algorithms(_stdout(), specs[0], costs, errors, fmt)
        return
    console.print_layers(_stdout(), title, specs, counts, dtypes, direction, fmt)


def _bad_line(message: str) -> None:
    click.echo(message, err=True)


def _resolution(text):
    if text is None:
        return None
    try:
        parts = tuple(int(p) for p in str(text).lower().split("x"))
    except ValueError:
        raise ConvbenchError(f"resolution: expected 224 or 256x320, got {text!r}") from None
    if any(p < 1 for p in parts):
        raise ConvbenchError(f"resolution: sizes must be positive, got {text!r}")
    return parts[0] if len(parts) == 1 else parts


# ---- run -----------------------------------------------------------------------------------
@main.command()
@click.option("--suite", "suites", multiple=True, help="Suite(s) to run (default: quick).")
@click.option("--network", "networks", multiple=True, help="Network(s): every layer, e.g. resnet50.")
@click.option("--workload", "descriptors", multiple=True, help="A descriptor, e.g. mb1ic64ih56oc64kh3ph1 (repeatable).")
@click.option("--file", "files", multiple=True, type=click.Path(), help="Workload or benchdnn batch file (repeatable).")
@click.option("--backend", "backends", multiple=True, help="Backends (default: every available one).")
@click.option("--algorithm", "algorithms", multiple=True, help="Algorithms (default: each backend's own list).")
@click.option("--dtype", "dtypes", multiple=True, help="fp32, tf32, fp16, bf16, int8, int4 [fp32].")
@click.option("--direction", "directions", multiple=True, help="fwd, dgrad, wgrad [fwd].")
@click.option("--layout", "layouts", multiple=True, help="native, nchw, nhwc [native].")
@click.option("--device", "devices", multiple=True, help="cpu, cuda, cuda:1 [cpu].")
@click.option("--batch", type=click.IntRange(min=1), help="Override every shape's batch size.")
@click.option("--resolution", help="Input resolution for networks (224 or HxW).")
@click.option("--out", "out_root", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Results root; the run directory is created inside it.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue RUN_DIR: rebuild its plan and run only cases without a row.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Independent repetitions (one row each).")
@click.option("--cache", "caches", multiple=True, help="hot (back to back) or cold (flush the LLC/L2) [hot].")
@click.option("--timer", "timers", multiple=True,
              help="default, all, or wall, wall-batch, cuda-event, cuda-event-batch, cuda-graph, kernel.")
@click.option("--min-time", type=float, default=0.1, show_default=True, help="Seconds of sampling at least.")
@click.option("--max-time", type=float, default=2.0, show_default=True, help="Seconds of sampling at most.")
@click.option("--target-noise", default="0.01", show_default=True,
              help="Stop when the median's 95% CI half-width is below this fraction (0.01 or 1%).")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="CPU threads for every backend (0: all cores this process may use).")
@click.option("--shard", help="Run the I-th of N disjoint slices of the plan: I/N.")
@click.option("--case-timeout", type=float, default=600.0, show_default=True,
              help="Seconds one case may take (compile and autotune included).")
@click.option("--seed", type=int, default=0, show_default=True, help="Input seed.")
@click.option("--inputs", "distribution", type=click.Choice(["int", "normal"]), default="int", show_default=True,
              help="Small integers (exact in every dtype) or normal values (error studies).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "none"]), default="table",
              show_default=True, help="How to print the results (they are always stored).")
@click.option("--strict", is_flag=True, help="Stop at the first bad line of a workload file.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def run(suites, networks, descriptors, files, backends, algorithms, dtypes, directions, layouts, devices,
        batch, resolution, out_root, resume_dir, repeat, caches, timers, min_time, max_time, target_noise,
        threads, shard, case_timeout, seed, distribution, fmt, strict, progress):
    """Verify and time conv layers; store the rows in a run directory.

    Without options: the quick suite on the CPU with every available backend at fp32, forward.
    Every case is checked against a float64 reference before it is timed; a wrong result is
    never reported as a time. Exit status: 0 all rows ok or unsupported, 1 some case failed
    (wrong, error, crashed, timeout, oom), 2 bad input, 130 interrupted."""
    from convbench.harness import runner
    from convbench.harness.plan import expand_timers, parse_shard, workloads_from
    from convbench.reports import console

    err = _stderr()
    if resume_dir:
        given = [suites, networks, descriptors, files, backends, algorithms, dtypes, directions, layouts,
                 devices, batch, resolution, caches, timers, shard]
        ctx = click.get_current_context()
        # timing, thread, seed and output options are read from run.json too: never silently ignored
        ignored = [p.opts[0] for p in ctx.command.params
                   if p.name in ("min_time", "max_time", "target_noise", "threads", "case_timeout", "seed",
                                 "out_root", "distribution")
                   and ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
        if any(given) or repeat != 1 or ignored:
            raise ConvbenchError("resume: --resume takes no plan options (the plan is read from run.json)"
                                 + (f"; got {', '.join(ignored)}" if ignored else ""))
        bar = console.Progress(err, progress)
        with bar:
            path, outcome, plan, meta = runner.resume_benchmark(resume_dir, progress=bar.update)
    else:
        if resolution is not None and not networks:
            raise ConvbenchError(f"resolution: applies to --network only, got {resolution!r} without one")
        if not (suites or networks or descriptors or files):
            suites = ("quick",)
        workloads = workloads_from(
            suites=_split(suites), networks=_split(networks), descriptors=descriptors, files=files,
            batch=batch, resolution=_resolution(resolution), strict=strict, on_error=_bad_line,
        )
        timer_list = expand_timers(_split(timers), _split(devices))
        request = runner.RunRequest(
            workloads=tuple(workloads), backends=_split(backends) or None, dtypes=_split(dtypes) or ("fp32",),
            directions=_split(directions) or ("fwd",), layouts=_split(layouts) or ("native",),
            devices=_split(devices) or ("cpu",), algorithms=_split(algorithms) or None,
            caches=_split(caches) or ("hot",), timers=timer_list, repeats=repeat, threads=threads,
            shard=parse_shard(shard), seed=seed, distribution=distribution,
            target_noise=_fraction(target_noise, "target-noise"), min_time_s=min_time, max_time_s=max_time,
            case_timeout_s=case_timeout,
            sources=tuple(f"suite:{s}" for s in _split(suites)) + tuple(f"network:{n}" for n in _split(networks))
            + tuple(f"file:{f}" for f in files),
        )
        request.rule  # validate timing options before anything starts
        bar = console.Progress(err, progress)
        with bar:
            path, outcome, plan, meta = runner.run_benchmark(request, out_root, progress=bar.update)
    from rich.markup import escape

    for w in meta.get("environment", {}).get("warnings", []):
        err.print(f"[yellow]warning:[/] {escape(w)}")
    for name, reason in (meta.get("backends_skipped") or {}).items():
        err.print(f"[dim]skipped backend {escape(name)}: {escape(reason)}[/]")
    console.print_run(_stdout(), outcome.rows, fmt)
    status = console.summarize_statuses(outcome.rows)
    if outcome.interrupted and not outcome.rows:
        status = "no case finished"
    err.print(f"{status}\nresults: {escape(str(path))}")
    if outcome.interrupted:
        err.print("[yellow]interrupted:[/] finished cases are kept; continue with "
                  f"convbench run --resume {escape(shlex.quote(str(path)))}")
        sys.exit(130)
    if any(r["status"] in ("wrong", "error", "crashed", "timeout", "oom") for r in outcome.rows):
        sys.exit(1)


def _register_optional_commands() -> None:
    """Commands that live beside their library (reports, tracking)."""
    import importlib

    for module in ("convbench.cli_reports", "convbench.cli_tracking"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for cmd in mod.COMMANDS:
            main.add_command(cmd)


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
