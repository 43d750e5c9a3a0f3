"""Does the harness time what the kernel costs? Prints agreement figures (issue 4, section 3).

CPU: the harness's median (``wall`` timer under the stopping rule) against
``torch.utils.benchmark.Timer.blocked_autorange`` on the same prepared torch kernel, per layer;
the target is agreement within 5%. Each figure is the median over ``--rounds`` alternating
rounds, since this 2-core machine's speed moves by up to 2x between runs (FACTS.md).

CUDA (when present): every harness timer against the profiler's kernel time (``kernel``) for
ResNet-50's distinct layers at ``--batch`` and ``--dtype``; the target is within 3% above
50 us, and the aim within 2% above 10 us.

    python benchmarks/timer_agreement.py --device cpu
    python benchmarks/timer_agreement.py --device cuda --dtype fp16 --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import sys

from convbench.backends.base import Case
from convbench.backends.registry import get_backend
from convbench.harness.devices import get_device
from convbench.harness.inputs import make_inputs
from convbench.harness.timing import StoppingRule, measure
from convbench.results.stats import geomean
from convbench.workloads import get_suite


def _layers(network: str, batch: int, limit: int | None):
    suite = get_suite(network, batch=batch)
    specs = [e.spec for e in suite.entries if e.spec.kind == "conv"]
    return specs[:limit] if limit else specs


def cpu(args) -> int:
    from torch.utils.benchmark import Timer

    backend = get_backend("torch")
    dev = get_device("cpu")
    rule = StoppingRule(target_noise=0.01, min_time_s=0.2, max_time_s=1.0)
    print(f"{'layer':<28}{'harness':>12}{'autorange':>12}{'ratio':>8}")
    ratios = []
    for spec in _layers(args.network, 1, args.limit):
        case = Case(spec, "fp32", "fwd", "native", "cpu", "default", args.threads)
        kernel = backend.prepare(case, make_inputs(spec))
        ours, theirs = [], []
        for _ in range(args.rounds):
            m = measure(dev.make_timer("wall", kernel), rule)
            ours.append(m.summary.median_s)
            t = Timer("run(); sync()", globals={"run": kernel.run, "sync": kernel.synchronize})
            theirs.append(t.blocked_autorange(min_run_time=0.5).median)
        a, b = statistics.median(ours), statistics.median(theirs)
        ratios.append(a / b)
        print(f"{spec.name[:27]:<28}{a * 1e6:>10.1f}us{b * 1e6:>10.1f}us{a / b:>8.3f}")
    g = geomean(ratios)
    worst = max(ratios, key=lambda r: abs(r - 1))
    print(f"geomean harness/autorange = {g:.3f}; worst layer {worst:.3f}; "
          f"{sum(abs(r - 1) <= 0.05 for r in ratios)}/{len(ratios)} layers within 5%")
    return 0


def cuda(args) -> int:
    dev = get_device("cuda")
    if dev.available():
        print(f"no CUDA device: skipped ({dev.available()})")
        return 0
    backend = get_backend("torch")
    rule = StoppingRule(target_noise=0.005, min_time_s=0.2, max_time_s=1.0)
    timers = ["cuda-graph", "cuda-event-batch", "cuda-event", "wall-batch"]
    print(f"{args.network} {args.dtype} batch {args.batch} on {dev.device_name('cuda:0')}")
    print(f"{'layer':<24}{'kernel us':>10}" + "".join(f"{t:>18}" for t in timers))
    agree: dict[str, list[tuple[float, float]]] = {t: [] for t in timers}
    for spec in _layers(args.network, args.batch, args.limit):
        case = Case(spec, args.dtype, "fwd", "nhwc", "cuda:0", "default")
        kernel = backend.prepare(case, make_inputs(spec))
        ref = measure(dev.make_timer("kernel", kernel, "cuda:0"), rule).summary.median_s
        cells = []
        for name in timers:
            t = dev.make_timer(name, kernel, "cuda:0")
            v = measure(t, rule).summary.median_s
            t.close()
            agree[name].append((ref, v / ref))
            cells.append(f"{v * 1e6:>9.1f} ({v / ref:5.3f})")
        print(f"{spec.name[:23]:<24}{ref * 1e6:>10.1f}" + "".join(f"{c:>18}" for c in cells))
    for name in timers:
        for floor in (50e-6, 10e-6):
            sel = [r for k, r in agree[name] if k >= floor]
            if sel:
                worst = max(sel, key=lambda r: abs(r - 1))
                print(f"{name:>17}: kernels >= {floor * 1e6:.0f} us: {len(sel)} layers, geomean ratio "
                      f"{geomean(sel):.3f}, worst {worst:.3f}, within 3%: {sum(abs(r - 1) <= 0.03 for r in sel)}, "
                      f"within 2%: {sum(abs(r - 1) <= 0.02 for r in sel)}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--network", default="resnet50")
    p.add_argument("--dtype", default="fp16")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (1: the steadiest figures here)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="only the first N distinct layers")
    args = p.parse_args(argv)
    return cpu(args) if args.device == "cpu" else cuda(args)


if __name__ == "__main__":
    sys.exit(main())
