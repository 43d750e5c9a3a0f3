"""The Triton implicit-GEMM kernel: correctness in Triton's CPU interpreter (a subprocess with
TRITON_INTERPRET=1, tiny shapes), and on a CUDA device (marked gpu)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("triton")
pytest.importorskip("torch")

from convbench.backends.base import Case  # noqa: E402
from convbench.backends.reference import ReferenceBackend  # noqa: E402
from convbench.backends.reference.triton_igemm import Problem, problem  # noqa: E402
from convbench.harness.inputs import make_inputs  # noqa: E402
from convbench.harness.verify import verify  # noqa: E402
from convbench.workloads.spec import ConvSpec  # noqa: E402

# (descriptor kwargs, dtype, direction): every feature the kernel claims, on tiny shapes.
INTERPRETER_CASES = [
    (dict(in_channels=3, out_channels=5, input_size=(6, 7), kernel_size=3, padding=((1, 0), (2, 1)),
          stride=(2, 1), dilation=(1, 2)), "fp32", "fwd"),
    (dict(in_channels=3, out_channels=5, input_size=(5, 6), kernel_size=3, padding=1, batch=2), "fp16", "fwd"),
    (dict(in_channels=3, out_channels=5, input_size=(5, 6), kernel_size=(1, 3), padding=(0, 1)), "bf16", "fwd"),
    (dict(in_channels=20, out_channels=18, input_size=(4, 5), kernel_size=3, padding=1, bias=False), "int8", "fwd"),
    (dict(in_channels=3, out_channels=16, input_size=(6, 7), kernel_size=3, padding=(1, 2), dilation=2), "fp32",
     "dgrad"),
    (dict(in_channels=16, out_channels=8, input_size=(3, 4), kernel_size=1, stride=(1, 2)), "fp16", "fwd"),
    (dict(in_channels=3, out_channels=4, input_size=(9,), kernel_size=3, padding=1, stride=2), "fp32", "fwd"),
]

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from convbench.backends.base import Case
    from convbench.backends.reference.triton_igemm import TritonKernel
    from convbench.harness.inputs import make_inputs
    from convbench.harness.verify import verify
    from convbench.workloads.spec import ConvSpec
    for kwargs, dtype, direction in json.loads(sys.argv[1]):
        for key in ("input_size", "kernel_size", "stride", "dilation"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        if isinstance(kwargs.get("padding"), list):
            kwargs["padding"] = tuple(tuple(p) if isinstance(p, list) else p for p in kwargs["padding"])
        spec = ConvSpec(**kwargs)
        inputs = make_inputs(spec)
        case = Case(spec, dtype, direction, "native", "cpu", "implicit-gemm")
        kernel = TritonKernel(case, inputs, device="cpu")
        kernel.run()
        result = kernel.result()
        v = verify(result, case, inputs, algorithm=kernel.algorithm, spread=kernel.error_spread)
        print(json.dumps({"ok": v.ok, "message": v.message, "dtype": str(result.dtype),
                          "shape": list(result.shape), "layout": kernel.layout, "extra": kernel.extra}))
    """
)


def test_kernel_in_the_triton_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(INTERPRETER_CASES)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(INTERPRETER_CASES)
    for row, (kwargs, dtype, direction) in zip(rows, INTERPRETER_CASES):
        assert row["ok"], (dtype, direction, kwargs, row["message"])
        assert row["layout"] == "nhwc"
        assert row["dtype"] == {"fp32": "float32", "fp16": "float16", "bf16": "float32", "int8": "int32"}[dtype]
        assert row["extra"]["accumulate"] == ("int32" if dtype == "int8" else "fp32")


def test_problem_mapping():
    spec = ConvSpec(in_channels=3, out_channels=8, input_size=(10, 12), kernel_size=(3, 5), padding=((1, 0), (2, 2)),
                    stride=2, dilation=(1, 2), batch=4)
    pr = problem(spec, "fwd")
    assert pr == Problem(4, 10, 12, 3, 8, *spec.output_size, 3, 5, (2, 2), (1, 2), (1, 2))
    assert pr.m == 4 * spec.output_size[0] * spec.output_size[1]
    unit = ConvSpec(in_channels=3, out_channels=8, input_size=(10, 12), kernel_size=3, padding=(0, 2), dilation=2)
    d = problem(unit, "dgrad")  # fwd conv of dy (8 channels) back to 3, padding d*(k-1) - pad
    assert (d.h, d.w, d.c, d.k, d.p, d.q, d.pad, d.stride) == (*unit.output_size, 8, 3, 10, 12, (4, 2), (1, 1))
    one = problem(ConvSpec(in_channels=2, out_channels=3, input_size=(9,), kernel_size=3, padding=1), "fwd")
    assert (one.h, one.r, one.p, one.pad) == (1, 1, 1, (0, 1))


GPU_CASES = [
    (ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1, batch=2), "fp16", "fwd"),
    (ConvSpec(in_channels=64, out_channels=128, input_size=(28, 28), kernel_size=3, padding=1, stride=2), "bf16", "fwd"),
    (ConvSpec(in_channels=32, out_channels=48, input_size=(20, 20), kernel_size=3, padding=((1, 0), (0, 2)),
              dilation=2), "fp32", "fwd"),
    (ConvSpec(in_channels=32, out_channels=48, input_size=(20, 20), kernel_size=3, padding=1), "tf32", "fwd"),
    (ConvSpec(in_channels=64, out_channels=32, input_size=(14, 14), kernel_size=1), "int8", "fwd"),
    (ConvSpec(in_channels=3, out_channels=64, input_size=(32, 32), kernel_size=7, padding=3, stride=2), "fp16", "fwd"),
    (ConvSpec(in_channels=32, out_channels=64, input_size=(14, 14), kernel_size=3, padding=1), "fp16", "dgrad"),
    (ConvSpec(in_channels=16, out_channels=24, input_size=(50,), kernel_size=5, padding=2), "fp16", "fwd"),
]


@pytest.mark.gpu
@pytest.mark.parametrize("spec,dtype,direction", GPU_CASES)
def test_gpu_verifies(spec, dtype, direction):
    backend = ReferenceBackend()
    case = Case(spec, dtype, direction, "native", "cuda:0", "default")
    assert backend.algorithms(case) == ["implicit-gemm"]
    inputs = make_inputs(spec)
    kernel = backend.prepare(case, inputs)
    kernel.run()
    kernel.synchronize()
    v = verify(kernel.result(), case, inputs, algorithm=kernel.algorithm, spread=kernel.error_spread)
    assert v.ok, v.message
    assert kernel.timers()[0] == "cuda-graph" and kernel.setup_s > 0 and kernel.extra["tile"]


@pytest.mark.gpu
def test_gpu_graph_capture_replays_the_kernel():
    import torch

    spec = GPU_CASES[0][0]
    backend = ReferenceBackend()
    case = Case(spec, "fp16", "fwd", "native", "cuda:0")
    inputs = make_inputs(spec)
    kernel = backend.prepare(case, inputs)
    expected = kernel.result()
    kernel._y.zero_()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            for _ in range(3):
                kernel.run()
    graph.replay()
    torch.cuda.synchronize()
    np.testing.assert_array_equal(kernel.result(), expected)
