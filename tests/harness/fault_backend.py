"""A backend with real faults, for the harness's process tests (registered through the
CONVBENCH_BACKENDS variable). The requested algorithm picks the behaviour:

ok       correct result (the float64 oracle's), a small numpy op per launch
wrong    the correct result with one element off by one
raise    ValueError in prepare
abort    os.abort() in prepare (SIGABRT: the worker dies)
segv     reads address 0 through ctypes (SIGSEGV)
hang     sleeps far longer than any case timeout
oom      asks numpy for 2**50 bytes (a real MemoryError)
slow     correct, each launch sleeps 2 ms
"""

import ctypes
import os
import time

import numpy as np

BEHAVIOURS = ("ok", "wrong", "raise", "abort", "segv", "hang", "oom", "slow")


class _Kernel:
    layout = "nchw"

    def __init__(self, result, x, sleep_s=0.0):
        self._result = result
        self._x = x
        self._sleep = sleep_s
        self.algorithm = "fault-test"
        self.setup_s = 0.0
        self.extra = {"fake": True}

    def run(self):
        if self._sleep:
            time.sleep(self._sleep)
        self._out = self._x * 2.0

    def synchronize(self):
        pass

    def result(self):
        return self._result

    def timers(self):
        return ["wall", "wall-batch"]


class FaultBackend:
    name = "fault"

    def unavailable_reason(self):
        return None

    def versions(self):
        return {"fault": "1.0"}

    def devices(self):
        return ["cpu"]

    def algorithms(self, case):
        return ["ok"]

    def unsupported_reason(self, case):
        if case.algorithm not in BEHAVIOURS:
            return f"unknown behaviour {case.algorithm!r}"
        if case.dtype == "int4":
            return "the fault backend has no int4"
        return None

    def prepare(self, case, inputs):
        from convbench.harness.oracle import reference

        b = case.algorithm
        if b == "raise":
            raise ValueError("deliberate failure in prepare")
        if b == "abort":
            os.abort()
        if b == "segv":
            ctypes.string_at(0)
        if b == "hang":
            time.sleep(3600)
        if b == "oom":
            np.ones(2**50, dtype=np.uint8)
        result = reference(case.spec, case.direction, inputs).copy()
        if b == "wrong":
            result.flat[0] += 1.0
        return _Kernel(result, inputs.x, 0.002 if b == "slow" else 0.0)
