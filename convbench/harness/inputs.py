"""Seeded, deterministic inputs for one convolution problem.

:func:`make_inputs` returns float64 arrays in the canonical channels-first layout (see
:class:`convbench.backends.base.Inputs`). The same (spec shape, seed, distribution) gives the
same arrays on every machine, Python and numpy version: the generator is numpy's PCG64 seeded
from the seed and a SHA-256 hash of the spec's shape (``ConvSpec.shape_key()``; the layer name is
not part of it), never from Python's randomised ``hash()``. Each tensor draws from its own child
stream, so the values of ``x`` do not depend on whether the spec has a bias.

Distributions
-------------
``"int"`` (the default, what every benchmark is verified and timed on): small integers, uniform,
independent, zero-mean.

* ``x`` in [-4, 4]: fits int8, int4 (signed, [-8, 7]) and, shifted by ``x_zero_point`` = 128,
  uint8 ([124, 132]); exact in fp16, bf16 and tf32 (any integer up to 2^8 in magnitude is).
* ``w`` in [-2, 2]: so a product ``x * w`` lies in [-8, 8], exact in every float format.
* ``b`` in [-4, 4] (int8 stacks keep the bias in int32; it is exact everywhere).
* ``dy`` in [-1, 1]: it multiplies ``w`` in dgrad (products in [-2, 2]) and ``x`` in wgrad,
  whose reduction runs over batch x output positions (up to ~10^7 terms in a large training
  batch): with rms(dy * x) = 2.1 the fp16 weight gradient stays well below fp16's 65504 (its rms
  is 2.1 sqrt(n), about 7,500 at n = 12.8 M, the widest in the suites) and the sum of |terms|
  stays below 2^24 up to 11 M terms, where fp32 accumulation of integers is exact in any order.

Because products are small integers and sums of integers are exact in fp32 while partial sums
stay below 2^24, every stack that accumulates in fp32 (or int32) produces the exact result and
only the final rounding to the storage dtype remains; verification can then be tight (see
:mod:`convbench.harness.verify`). Sparsity (benchdnn's way to keep low-precision accumulators
exact) is deliberately not used: it would weaken the detection of off-by-one and padding errors
and would change the data the kernels are timed on (GPU power and clocks depend on the bits
toggled). It is not needed either: the terms are zero-mean (rms 3.65 for ``x * w``), so partial
sums of a reduction of length k grow like 3.65 sqrt(k) and, in any order, stay below 2^11 (where
an fp16 accumulator is still exact) with overwhelming probability for reductions up to about
10,000 terms, beyond every forward or data-gradient reduction of the suites (512 x 3 x 3 = 4608,
2048 x 1 x 1, 512 x 3 x 3 x 3 = 13,824 being the rare edge).

``"normal"``: standard normal for every tensor, for error studies (not exact in any low-precision
dtype; verification then allows for input rounding).
"""

from __future__ import annotations

import hashlib

import numpy as np

from convbench.backends.base import Inputs
from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec

#: Distributions :func:`make_inputs` knows.
DISTRIBUTIONS: tuple[str, ...] = ("int", "normal")

#: Inclusive integer ranges of the ``"int"`` distribution, per tensor.
INT_RANGES: dict[str, tuple[int, int]] = {
    "x": (-4, 4),
    "w": (-2, 2),
    "b": (-4, 4),
    "dy": (-1, 1),
}

#: Zero point that maps the int8 activations to uint8 (x + 128 lies in [124, 132]).
X_ZERO_POINT = 128


def shape_digest(spec: ConvSpec) -> bytes:
    """A stable 32-byte SHA-256 digest of the spec's shape (every field but ``name``).

    Built from ``repr(spec.shape_key())``, a tuple of ints, strings and bools whose text form is
    the same on every platform and Python version.
    """
    return hashlib.sha256(repr(spec.shape_key()).encode("utf-8")).digest()


def _seed_sequence(spec: ConvSpec, seed: int, distribution: str) -> np.random.SeedSequence:
    digest = shape_digest(spec)
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, len(digest), 4)]
    dist_code = DISTRIBUTIONS.index(distribution)
    return np.random.SeedSequence([seed, dist_code, *words])


def make_inputs(spec: ConvSpec, seed: int = 0, distribution: str = "int") -> Inputs:
    """Seeded inputs of ``spec``: float64 arrays, canonical channels-first layout.

    ``x``: ``spec.input_shape``; ``w``: ``spec.weight_shape``; ``b``: (out_channels,) or None
    when ``spec.bias`` is False; ``dy``: ``spec.output_shape``. ``seed`` is a non-negative int;
    ``distribution`` is ``"int"`` (small integers, see the module docstring for the ranges and
    why) or ``"normal"`` (standard normal). Deterministic across machines and versions.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConvbenchError(f"seed: must be a non-negative integer, got {seed!r}")
    if distribution not in DISTRIBUTIONS:
        raise ConvbenchError(
            f"distribution: unknown distribution {distribution!r} (known: {', '.join(DISTRIBUTIONS)})"
        )
    shapes = {
        "x": spec.input_shape,
        "w": spec.weight_shape,
        "b": (spec.out_channels,),
        "dy": spec.output_shape,
    }
    streams = _seed_sequence(spec, int(seed), distribution).spawn(len(shapes))
    arrays: dict[str, np.ndarray] = {}
    for (name, shape), stream in zip(shapes.items(), streams):
        rng = np.random.Generator(np.random.PCG64(stream))
        if distribution == "int":
            low, high = INT_RANGES[name]
            arrays[name] = rng.integers(low, high, size=shape, endpoint=True, dtype=np.int8).astype(np.float64)
        else:
            arrays[name] = rng.standard_normal(size=shape, dtype=np.float64)
    return Inputs(
        x=arrays["x"],
        w=arrays["w"],
        b=arrays["b"] if spec.bias else None,
        dy=arrays["dy"],
        seed=int(seed),
        distribution=distribution,
        x_zero_point=X_ZERO_POINT,
    )
