"""Plan -> workers -> rows -> run directory, with a progress bar and clean interruption.

One worker process per backend (spawned, so a framework's global state and a crash stay in
it). Cases run one at a time: a timed kernel holds its device alone (DESIGN, Settled details:
One timed case at a time per device). A worker that dies gives a ``crashed`` row, one that
exceeds ``case_timeout_s`` is killed and gives a ``timeout`` row; either way the next case of
that backend gets a fresh worker. Ctrl-C keeps every finished case and marks the run
``interrupted``; the case in flight gets no row and is run again by ``--resume``.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from dataclasses import dataclass, field
from typing import Callable

from convbench.harness.plan import PlannedCase
from convbench.harness.worker import Settings, base_row, worker_main
from convbench.results.schema import Status

_START_TIMEOUT_S = 300.0


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class WorkerHandle:
    """A worker process for one backend, started on first use and restarted after a death."""

    def __init__(self, backend: str, settings: Settings, threads: int) -> None:
        self.backend = backend
        self.settings = settings
        self.threads = threads
        self.proc = None
        self.conn = None
        self.info: dict = {}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child, self.backend, self.settings, self.threads),
                                name=f"convbench-{self.backend}", daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        if not self.conn.poll(_START_TIMEOUT_S):
            self.kill()
            raise WorkerDied(f"worker for {self.backend} did not start within {_START_TIMEOUT_S:.0f} s")
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            self.kill()
            raise WorkerDied(f"worker for {self.backend} {_signal_name(code)} while starting") from None
        self.info = msg

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def stop(self) -> None:
        if self.alive():
            try:
                self.conn.send({"op": "exit"})
                self.proc.join(5)
            except (OSError, BrokenPipeError):
                pass
        self.kill()

    def run(self, pc: PlannedCase, timeout_s: float) -> tuple[str, dict | str]:
        """Send one case. Returns ("row", row) or ("timeout"|"crashed", message)."""
        if not self.alive():
            self.start()
        try:
            self.conn.send({"op": "case", "case": pc})
        except (OSError, BrokenPipeError):
            code = self.proc.exitcode if self.proc else None
            self.kill()
            return "crashed", f"worker {_signal_name(code)}"
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return "timeout", f"no result within {timeout_s:g} s (worker killed)"
            try:
                ready = self.conn.poll(min(remaining, 0.5))
            except (OSError, EOFError):
                ready = True
            if ready:
                try:
                    msg = self.conn.recv()
                    return "row", msg["row"]
                except (EOFError, OSError):
                    self.proc.join(5)
                    code = self.proc.exitcode
                    self.kill()
                    return "crashed", f"worker {_signal_name(code)}"
            if not self.proc.is_alive():
                code = self.proc.exitcode
                self.kill()
                return "crashed", f"worker {_signal_name(code)}"


class WorkerDied(RuntimeError):
    pass


@dataclass
class RunOutcome:
    """What a run did: rows written this time, whether it was interrupted, worker facts."""

    rows: list[dict] = field(default_factory=list)
    interrupted: bool = False
    backend_info: dict = field(default_factory=dict)


def execute(
    plan: list[PlannedCase],
    settings: Settings,
    threads: int,
    sink: Callable[[dict], None],
    case_timeout_s: float = 600.0,
    skip: set[str] | None = None,
    progress: Callable[[PlannedCase, dict | None, int], None] | None = None,
) -> RunOutcome:
    """Run every case of ``plan`` not in ``skip``; each row goes to ``sink`` (the store) the
    moment it exists. Returns the outcome; KeyboardInterrupt is absorbed into
    ``interrupted=True`` after stopping the workers."""
    skip = skip or set()
    workers: dict[str, WorkerHandle] = {}
    out = RunOutcome()
    # Ctrl-C while a row is being made durable waits until the row is written.
    guard = {"critical": False, "pending": False}

    def on_sigint(signum, frame):
        if guard["critical"]:
            guard["pending"] = True
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        todo = [pc for pc in plan if pc.case_id not in skip]
        for pc in todo:
            if progress:
                progress(pc, None, len(todo))
            handle = workers.setdefault(pc.backend, WorkerHandle(pc.backend, settings, threads))
            try:
                kind, payload = handle.run(pc, case_timeout_s)
            except WorkerDied as exc:
                kind, payload = "crashed", str(exc)
            if handle.info:
                out.backend_info[pc.backend] = {k: v for k, v in handle.info.items() if k != "op"}
            if kind == "row":
                row = payload
            else:
                row = base_row(pc, settings)
                row["status"] = (Status.TIMEOUT if kind == "timeout" else Status.CRASHED).value
                row["reason"] = payload
            guard["critical"] = True
            try:
                sink(row)
                out.rows.append(row)
            finally:
                guard["critical"] = False
            if guard["pending"]:
                raise KeyboardInterrupt
            if progress:
                progress(pc, row, len(todo))
    except KeyboardInterrupt:
        out.interrupted = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for h in workers.values():
            if out.interrupted:
                h.kill()
            else:
                h.stop()
    return out


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ---- the run as a whole --------------------------------------------------------------------
@dataclass(frozen=True)
class RunRequest:
    """Everything that defines a run's plan and timing; stored in run.json for ``--resume``.

    ``backends`` None means every backend available here. ``algorithms`` None means every
    algorithm each backend lists for a case. Times in seconds, ``target_noise`` a fraction.
    """

    workloads: tuple = ()
    backends: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] = ("fp32",)
    directions: tuple[str, ...] = ("fwd",)
    layouts: tuple[str, ...] = ("native",)
    devices: tuple[str, ...] = ("cpu",)
    algorithms: tuple[str, ...] | None = None
    caches: tuple[str, ...] = ("hot",)
    timers: tuple[str, ...] = ("default",)
    repeats: int = 1
    threads: int = 0
    shard: tuple[int, int] | None = None
    seed: int = 0
    distribution: str = "int"
    target_noise: float = 0.01
    min_time_s: float = 0.1
    max_time_s: float = 2.0
    case_timeout_s: float = 600.0
    sources: tuple[str, ...] = ()  # what the user named (suites, networks, files), for run.json

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "workloads"}
        d["workloads"] = [
            {"descriptor": str(w.spec), "count": w.count, "network": w.network, "layers": list(w.layers),
             "directions": list(w.directions), "dtypes": list(w.dtypes), "layouts": list(w.layouts)}
            for w in self.workloads
        ]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "RunRequest":
        from convbench.harness.plan import Workload
        from convbench.workloads.descriptor import parse

        kw = dict(d)
        kw["workloads"] = tuple(
            Workload(parse(w["descriptor"]), int(w["count"]), w.get("network", ""), tuple(w.get("layers", ())),
                     tuple(w.get("directions", ())), tuple(w.get("dtypes", ())), tuple(w.get("layouts", ())))
            for w in d["workloads"]
        )
        for k, v in list(kw.items()):
            if isinstance(v, list):
                kw[k] = tuple(v)
        return cls(**{k: v for k, v in kw.items() if k in cls.__dataclass_fields__})

    @property
    def rule(self):
        from convbench.harness.timing import StoppingRule

        return StoppingRule(target_noise=self.target_noise, min_time_s=self.min_time_s, max_time_s=self.max_time_s)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), the default thread count."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_backends(requested) -> tuple[list[str], dict[str, str]]:
    """(backends to run, {skipped backend: reason}). Named backends that are unavailable
    are a user error; the default (None) takes every available one."""
    from convbench.backends.registry import get_backend, list_backends
    from convbench.errors import ConvbenchError

    names = list(requested) if requested else list_backends(default_only=True)
    chosen, skipped = [], {}
    for name in names:
        reason = get_backend(name).unavailable_reason()
        if reason:
            if requested:
                raise ConvbenchError(f"backend: {name} is not available here: {reason}")
            skipped[name] = reason
        else:
            chosen.append(name)
    if not chosen:
        raise ConvbenchError("backend: no backend is available here: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return chosen, skipped


def check_devices(devices) -> list[str]:
    from convbench.errors import ConvbenchError
    from convbench.harness.devices import get_device, normalize_device

    out = []
    for d in devices:
        d = normalize_device(d)
        reason = get_device(d).available()
        if reason:
            raise ConvbenchError(f"device: {d} is not available here: {reason}")
        out.append(d)
    return out


def make_plan(request: RunRequest, backends: list[str]) -> list[PlannedCase]:
    from convbench.backends.registry import get_backend
    from convbench.harness.plan import build_plan, take_shard

    instances = {b: get_backend(b) for b in backends}

    def algorithms_of(backend, case):
        try:
            return list(instances[backend].algorithms(case)) or ["default"]
        except Exception:
            return ["default"]

    plan = build_plan(
        request.workloads, backends, request.dtypes, request.directions, request.layouts, request.devices,
        request.algorithms, algorithms_of, request.caches, request.timers, request.repeats, request.threads,
    )
    return take_shard(plan, request.shard)


def run_benchmark(request: RunRequest, out_root, command: list[str] | None = None,
                  progress=None, resume_dir=None):
    """Run ``request`` into a new run directory under ``out_root`` (or continue
    ``resume_dir``). Returns (run directory path, RunOutcome, plan, writer meta).

    ``out_root`` may be an fsspec URL (a history store such as ``s3://bucket/runs``): the run
    is written to a local temporary directory, durable case by case, and pushed into the store
    when it ends (complete or interrupted); the returned path is then the store's copy."""
    if resume_dir is None and out_root is not None and "://" in str(out_root):
        import tempfile

        from convbench.results.history import push_run

        with tempfile.TemporaryDirectory(prefix="convbench-") as tmp:
            path, outcome, plan, meta = run_benchmark(request, tmp, command, progress)
            pushed = push_run(path, str(out_root))
        return pushed.destination, outcome, plan, meta
    from convbench.errors import ConvbenchError
    from convbench.harness import environment
    from convbench.results.store import RunWriter, command_line

    if not request.workloads:
        raise ConvbenchError("run: nothing to run (no workloads)")
    from convbench.workloads.spec import check_direction, check_dtype

    if not 0 < request.case_timeout_s < float("inf"):  # NaN fails too
        raise ConvbenchError(f"case-timeout: must be a positive number of seconds, got {request.case_timeout_s}")
    for d in request.dtypes:
        check_dtype(d)
    for d in request.directions:
        check_direction(d)
    devices = check_devices(request.devices)
    threads = request.threads or usable_cpus()
    request = RunRequest(**{**request.__dict__, "devices": tuple(devices), "threads": threads})
    backends, skipped = resolve_backends(request.backends)
    plan = make_plan(request, backends)
    if resume_dir is not None:
        writer = RunWriter.reopen(resume_dir)
    else:
        env = environment.collect(devices, request.threads)
        writer = RunWriter.create(out_root, command or command_line(), request.to_json(), env,
                                  extra={"backends_skipped": skipped, "backends": {}, "peaks": _peaks(devices, request.threads)})
    done = writer.done_case_ids()
    settings = Settings(rule=request.rule, seed=request.seed, distribution=request.distribution,
                        run_id=writer.run_id)
    outcome = execute(plan, settings, request.threads, writer.append, request.case_timeout_s, done, progress)
    info = dict(writer.meta.get("backends") or {})
    info.update(outcome.backend_info)
    writer.meta["backends"] = info
    writer.finish("interrupted" if outcome.interrupted else "complete")
    return writer.path, outcome, plan, writer.meta


def resume_benchmark(run_dir, progress=None):
    """Continue a run: rebuild its plan from run.json and run only cases without a row."""
    from convbench.results.store import read_meta

    meta = read_meta(run_dir)
    request = RunRequest.from_json(meta["settings"])
    return run_benchmark(request, None, progress=progress, resume_dir=run_dir)


def _peaks(devices, threads):
    """Latest measured roofs from the user's peak cache (``convbench peak``): the design's
    ``peaks`` dict for a one-device run, a list of such dicts for several devices, {} if none."""
    try:
        from convbench.harness.peak import latest_peaks
    except ImportError:
        return {}
    found = []
    for d in devices:
        try:
            p = latest_peaks(d, threads)
        except Exception:
            p = None
        if p:
            found.append(p)
    if not found:
        return {}
    return found[0] if len(devices) == 1 else found
