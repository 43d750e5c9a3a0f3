"""The harness: plans cases, makes their seeded inputs, checks every result against a float64
oracle with dtype- and algorithm-aware tolerances, times the kernels and records the rows.

Correctness lives in three modules: :mod:`convbench.harness.inputs` (seeded inputs),
:mod:`convbench.harness.oracle` (the float64 reference for fwd, dgrad and wgrad) and
:mod:`convbench.harness.verify` (tolerances and the verdict on a backend's result).
"""
