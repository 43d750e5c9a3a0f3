"""How close do convbench's own kernels come to the vendors' on ResNet-50's layers?

(a) CPU, fp32, batch 1, ResNet-50's distinct 3x3 layers: the reference backend's ``im2col``
    (numpy unfold + OpenBLAS GEMM) against the torch backend (oneDNN). Target: the geometric
    mean of the throughput ratios reference / torch >= 40%.
(b) CUDA, fp16, batch 32, ResNet-50's distinct 3x3 and 1x1 layers: the reference backend's
    Triton ``implicit-gemm`` against the torch backend (cuDNN, channels-last). Target >= 70%.
    Without a CUDA device it prints "no CUDA device: skipped".

Both sides run through the backends' own ``prepare`` / ``run`` / ``synchronize`` and are timed by
convbench's timers (:mod:`convbench.harness.timing`): CPU ``wall`` (one synchronised launch per
sample; warm-up, then at least 20 samples and until the median's 95% CI half-width is under 2%,
or the time limit), CUDA ``cuda-graph`` (launches captured in a graph, events around a replay).
Every CPU result is verified against the float64 oracle before it is timed; on CUDA (batch 32,
where the oracle would cost minutes of CPU time) the two backends' results are compared with
each other instead and the largest difference, relative to the largest value, is printed.
The two sides are timed alternately per layer with the same thread count (default 1: on the
2-core machines here two threads read anywhere from 0.8 to 1.7 ms for the same conv).

Usage: python benchmarks/reference_vs_vendor.py [--part cpu|cuda|all] [--threads N]
       [--batch-cpu 1] [--batch-cuda 32] [--max-time 3]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import Case
from convbench.backends.registry import get_backend
from convbench.harness.inputs import make_inputs
from convbench.harness.timing import StoppingRule, WallTimer, measure
from convbench.harness.verify import verify
from convbench.workloads.spec import ConvSpec

#: ResNet-50's distinct 3x3 convs at 224x224 (torchvision v1.5: stride on the 3x3) with their
#: counts, used when convbench.workloads.networks cannot be imported.
FALLBACK_3X3 = [
    (dict(in_channels=64, out_channels=64, input_size=56, stride=1), 3, "layer1.0.conv2"),
    (dict(in_channels=128, out_channels=128, input_size=56, stride=2), 1, "layer2.0.conv2"),
    (dict(in_channels=128, out_channels=128, input_size=28, stride=1), 3, "layer2.1.conv2"),
    (dict(in_channels=256, out_channels=256, input_size=28, stride=2), 1, "layer3.0.conv2"),
    (dict(in_channels=256, out_channels=256, input_size=14, stride=1), 5, "layer3.1.conv2"),
    (dict(in_channels=512, out_channels=512, input_size=14, stride=2), 1, "layer4.0.conv2"),
    (dict(in_channels=512, out_channels=512, input_size=7, stride=1), 2, "layer4.1.conv2"),
]


@dataclass(frozen=True)
class Layer:
    spec: ConvSpec
    count: int
    name: str


def resnet50_layers(batch: int, kernels: tuple[int, ...]) -> tuple[list[Layer], str]:
    """ResNet-50's distinct conv layers whose square kernel is in ``kernels``, with counts."""
    try:
        from convbench.workloads.networks import get_network

        net = get_network("resnet50", batch=batch)
        source = "get_network('resnet50')"
        layers = [s for s in net.layers if s.kind == "conv" and s.kernel_size[0] in kernels
                  and len(set(s.kernel_size)) == 1]
    except ImportError:
        source = "fallback list (convbench.workloads.networks not importable)"
        if kernels != (3,):
            raise
        layers = [
            ConvSpec(kernel_size=3, padding=1, bias=False, batch=batch, name=name, **kw)
            for kw, count, name in FALLBACK_3X3 for _ in range(count)
        ]
    distinct: dict[tuple, Layer] = {}
    for spec in layers:
        key = spec.shape_key()
        if key in distinct:
            d = distinct[key]
            distinct[key] = Layer(d.spec, d.count + 1, d.name)
        else:
            distinct[key] = Layer(spec, 1, spec.name)
    return list(distinct.values()), source


def _median(samples) -> float:
    return float(np.median(np.asarray(samples, dtype=np.float64)))


def time_cpu(kernel, rule: StoppingRule) -> float:
    """Median seconds per launch, ``wall`` timer."""
    return _median(measure(WallTimer(kernel), rule).samples_s)


def time_cuda(kernel, rule: StoppingRule, device: str) -> float:
    """Median seconds per launch, ``cuda-graph`` timer."""
    from convbench.harness.devices import cuda

    timer = cuda.make_timer("cuda-graph", kernel, device)
    try:
        return _median(measure(timer, rule).samples_s)
    finally:
        timer.close()


def geomean(values, weights=None) -> float:
    v = np.log(np.asarray(values, dtype=np.float64))
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(np.exp(np.sum(v * w) / np.sum(w)))


def _print_table(rows, ref_label: str, vendor_label: str) -> None:
    print(f"{'layer':<22} {'descriptor':<44} {'n':>2} {ref_label + ' ms':>14} {vendor_label + ' ms':>14}"
          f" {'ref TFLOP/s':>11} {'ratio':>6}  check")
    for r in rows:
        print(f"{r['name']:<22} {r['desc']:<44} {r['count']:>2} {r['ref_s'] * 1e3:>14.4f} "
              f"{r['vendor_s'] * 1e3:>14.4f} {r['ref_tflops']:>11.3f} {r['ratio']:>6.1%}  {r['check']}")


def run_part(layers, backends, dtype: str, device: str, threads: int, rule: StoppingRule,
             verify_with_oracle: bool, layout_vendor: str = "native") -> list[dict]:
    ref_backend, vendor_backend = backends
    rows = []
    for layer in layers:
        spec = layer.spec
        inputs = make_inputs(spec)
        ref_case = Case(spec, dtype, "fwd", "native", device, "default", threads)
        ven_case = Case(spec, dtype, "fwd", layout_vendor, device, "default", threads)
        ref_k = ref_backend.prepare(ref_case, inputs)
        try:
            ven_k = vendor_backend.prepare(ven_case, inputs)
        except Exception as exc:  # the torch backend is young: fall back to F.conv2d, say so
            if device == "cpu":
                raise
            print(f"  torch backend failed ({type(exc).__name__}: {exc}); timing F.conv2d directly")
            ven_k = DirectTorchKernel(spec, dtype, device, inputs)
        ref_k.run(); ref_k.synchronize()  # noqa: E702
        ven_k.run(); ven_k.synchronize()  # noqa: E702
        if verify_with_oracle:
            checks = []
            for k, case in ((ref_k, ref_case), (ven_k, ven_case)):
                v = verify(k.result(), case, inputs, algorithm=k.algorithm, spread=getattr(k, "error_spread", None))
                checks.append("ok" if v.ok else f"WRONG ({v.message})")
            check = "verified: " + ", ".join(checks)
        else:
            a = np.asarray(ref_k.result(), dtype=np.float64)
            b = np.asarray(ven_k.result(), dtype=np.float64)
            check = f"max |ref - vendor| / max|vendor| = {np.abs(a - b).max() / max(np.abs(b).max(), 1e-30):.2e}"
        if device == "cpu":
            ref_s, ven_s = time_cpu(ref_k, rule), time_cpu(ven_k, rule)
        else:
            ref_s, ven_s = time_cuda(ref_k, rule, device), time_cuda(ven_k, rule, device)
        flops = spec.flops("fwd")
        rows.append(dict(
            name=layer.name, desc=str(spec.with_(name="")), count=layer.count, ref_s=ref_s, vendor_s=ven_s,
            ref_tflops=flops / ref_s / 1e12, ratio=ven_s / ref_s, check=check,
            ref_alg=ref_k.algorithm, vendor_alg=getattr(ven_k, "algorithm", "?"),
            extra=getattr(ref_k, "extra", {}),
        ))
        print(f"  timed {layer.name}: {ref_k.algorithm} {ref_s * 1e3:.4f} ms, "
              f"{getattr(ven_k, 'algorithm', '?')} {ven_s * 1e3:.4f} ms", flush=True)
    return rows


class DirectTorchKernel:
    """Fallback vendor kernel: ``F.conv2d`` on channels-last CUDA tensors, cuDNN autotuned
    (``cudnn.benchmark``), TF32 off; only used when the torch backend cannot prepare a case."""

    algorithm = "F.conv2d (cudnn, direct)"

    def __init__(self, spec: ConvSpec, dtype: str, device: str, inputs) -> None:
        import torch

        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        dt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
        cl = torch.channels_last
        self._x = torch.from_numpy(inputs.x).to(device, dt).contiguous(memory_format=cl)
        self._w = torch.from_numpy(inputs.w).to(device, dt).contiguous(memory_format=cl)
        self._b = None if inputs.b is None else torch.from_numpy(inputs.b).to(device, dt)
        self._args = dict(stride=spec.stride, padding=tuple(b for b, _ in spec.padding), dilation=spec.dilation,
                          groups=spec.groups)
        self._device = torch.device(device)
        self._conv = torch.nn.functional.conv2d
        self.run()
        self.synchronize()

    def run(self) -> None:
        self._y = self._conv(self._x, self._w, self._b, **self._args)

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize(self._device)

    def result(self) -> np.ndarray:
        return self._y.float().cpu().numpy()

    def timers(self) -> list[str]:
        return ["cuda-graph"]


def _backends():
    ref = get_backend("reference")
    vendor = get_backend("torch")
    reason = vendor.unavailable_reason()
    if reason:
        raise SystemExit(f"torch backend unavailable: {reason}")
    return ref, vendor


def part_cpu(args) -> float:
    layers, source = resnet50_layers(args.batch_cpu, (3,))
    print(f"(a) CPU fp32, ResNet-50 distinct 3x3 layers at batch {args.batch_cpu} ({source}), "
          f"{args.threads} thread(s): reference im2col vs torch (oneDNN)")
    rule = StoppingRule(target_noise=0.02, min_time_s=0.2, max_time_s=args.max_time, min_samples=20)
    rows = run_part(layers, _backends(), "fp32", "cpu", args.threads, rule, verify_with_oracle=True)
    _print_table(rows, "im2col", "torch")
    g = geomean([r["ratio"] for r in rows])
    gw = geomean([r["ratio"] for r in rows], [r["count"] for r in rows])
    print(f"torch kernels: {sorted({r['vendor_alg'] for r in rows})}")
    print(f"geometric mean throughput ratio im2col/torch: {g:.1%} (weighted by layer count: {gw:.1%}); "
          f"target >= 40%: {'met' if g >= 0.4 else 'NOT met'}")
    return g


def part_cuda(args) -> float | None:
    try:
        import torch
    except ImportError:
        print("(b) no CUDA device: skipped (torch is not installed)")
        return None
    if not torch.cuda.is_available():
        print("(b) no CUDA device: skipped")
        return None
    device = "cuda:0"
    layers, source = resnet50_layers(args.batch_cuda, (3, 1))
    print(f"(b) CUDA fp16 on {torch.cuda.get_device_name(0)}, ResNet-50 distinct 3x3 and 1x1 layers at batch "
          f"{args.batch_cuda} ({source}): Triton implicit-gemm vs torch (cuDNN, nhwc), cuda-graph timer")
    rule = StoppingRule(target_noise=0.01, min_time_s=0.1, max_time_s=args.max_time, min_samples=20)
    rows = run_part(layers, _backends(), "fp16", device, 0, rule, verify_with_oracle=False, layout_vendor="nhwc")
    _print_table(rows, "triton", "cudnn")
    for r in rows:
        print(f"  {r['name']:<22} tile {r['extra'].get('tile', '')}")
    g = geomean([r["ratio"] for r in rows])
    gw = geomean([r["ratio"] for r in rows], [r["count"] for r in rows])
    for k in (3, 1):
        sub = [r["ratio"] for r in rows if f"kh{k}" in r["desc"]]
        if sub:
            print(f"  {k}x{k} layers: geomean {geomean(sub):.1%} over {len(sub)}")
    print(f"geometric mean throughput ratio triton/cudnn: {g:.1%} (weighted by layer count: {gw:.1%}); "
          f"target >= 70%: {'met' if g >= 0.7 else 'NOT met'}")
    return g


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("cpu", "cuda", "all"), default="all")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for both sides (default 1)")
    p.add_argument("--batch-cpu", type=int, default=1)
    p.add_argument("--batch-cuda", type=int, default=32)
    p.add_argument("--max-time", type=float, default=3.0, help="seconds of sampling per kernel at most")
    args = p.parse_args(argv)
    if args.part in ("cpu", "all"):
        part_cpu(args)
    if args.part in ("cuda", "all"):
        part_cuda(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
