"""``int-gemm``: exact integer convolutions, int8 x int8 -> int32 and int4 x int4 -> int32.

The im2col algorithm run on int32 arrays: numpy's integer ``matmul`` (its own C loop; numpy has
no integer BLAS) multiplies and accumulates in int32, exactly, wrapping modulo 2^32 as a
hardware int32 accumulator does (int8 products are at most 2^14, so a reduction needs over
131,000 extreme terms to wrap; the harness's small-integer inputs never come near). int4 values
(-8..7) are held in int8 storage, since numpy has no 4-bit arithmetic; the arithmetic is the
same. fwd, dgrad and wgrad all run (dgrad and wgrad are integer GEMMs too); a bias is added in
int32. These are the results an INT8/INT4 backend is checked against: equality, not a tolerance.
"""

from __future__ import annotations

from typing import Sequence

from convbench.backends.reference._core import INT_DTYPES, Geometry
from convbench.backends.reference.im2col import Im2col


def unsupported_reason(dtype: str) -> str | None:
    """None for the integer dtypes; else why int-gemm does not run ``dtype``."""
    if dtype in INT_DTYPES:
        return None
    return f"int-gemm is the exact integer reference for int8/int4; got dtype {dtype}"


class IntGemm(Im2col):
    """im2col + integer GEMM, int32 accumulation (see the module docstring)."""

    name = "int-gemm"
    error_spread = "element"

    def supports(self, op: str, kernel: Sequence[int], geo: Geometry) -> str | None:
        return None
