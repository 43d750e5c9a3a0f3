"""Helpers shared by the reference backend's tests: run a case, verify it against the oracle."""

from __future__ import annotations

import numpy as np

from convbench.backends.base import Case
from convbench.backends.reference import ReferenceBackend
from convbench.harness.inputs import make_inputs
from convbench.harness.oracle import magnitude
from convbench.harness.verify import verify


def verify_case(case: Case, inputs, result: np.ndarray, spread: str) -> None:
    """Assert ``result`` passes the harness's verification against the float64 oracle.

    One exception, for spread="output" (FFT): when every element of the exact result is a sum of
    zero terms (magnitude 0 everywhere: e.g. a weight gradient whose windows read only padding),
    verify allows no error at all, while the FFT's rounding scales with the transformed tensors,
    which are not zero. There the result must be zero up to fp32 noise (1e-5 on O(1) inputs).
    """
    mag = magnitude(case.spec, case.direction, inputs)
    if spread == "output" and mag.size and mag.max() == 0:
        assert np.abs(np.asarray(result, dtype=np.float64)).max() <= 1e-5
        return
    v = verify(result, case, inputs, algorithm=case.algorithm, magnitude=mag, spread=spread)
    assert v.ok, f"{case.algorithm} {case.dtype} {case.direction} {case.spec}: {v.message}"


def run_case(spec, dtype="fp32", direction="fwd", algorithm="default", seed=0, distribution="int", threads=0):
    """Prepare, run and verify one CPU case; returns the kernel."""
    backend = ReferenceBackend()
    case = Case(spec, dtype, direction, "native", "cpu", algorithm, threads)
    reason = backend.unsupported_reason(case)
    assert reason is None, reason
    inputs = make_inputs(spec, seed=seed, distribution=distribution)
    kernel = backend.prepare(case, inputs)
    kernel.run()
    kernel.synchronize()
    verify_case(Case(spec, dtype, direction, "native", "cpu", kernel.algorithm, threads), inputs, kernel.result(), kernel.error_spread)
    return kernel
