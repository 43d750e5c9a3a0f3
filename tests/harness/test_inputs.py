"""Seeded inputs: deterministic, the documented ranges, exact in every dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.errors import ConvbenchError
from convbench.harness.inputs import INT_RANGES, X_ZERO_POINT, make_inputs, shape_digest
from convbench.harness.verify import representable
from convbench.workloads.spec import ConvSpec

SPEC = ConvSpec(in_channels=2, out_channels=3, input_size=(4, 4), kernel_size=3, padding=1)


def test_golden_values():
    """Pinned values: the same inputs on every machine and version (PCG64 + SeedSequence from a
    SHA-256 of the shape). If this fails, every stored result's inputs changed: say so."""
    i = make_inputs(SPEC)
    assert i.x.ravel()[:10].tolist() == [-2, -2, -3, -3, 1, -3, 4, 0, -4, 3]
    assert i.w.ravel()[:10].tolist() == [0, -2, 1, -1, 0, -1, 1, -2, 1, 0]
    assert i.b.tolist() == [1, 3, 3]
    assert i.dy.ravel()[:10].tolist() == [1, 0, 1, 1, 1, 0, -1, 0, -1, -1]
    n = make_inputs(SPEC, 5, "normal")
    np.testing.assert_allclose(n.x.ravel()[:3], [-0.0941672922497099, 1.9457632309276096, -0.7616552722631298],
                               rtol=1e-15)
    assert shape_digest(SPEC).hex() == "6c66fe9199b1bd3aaf0cf635ad21cdff1464c0c14125cbeab3e6257b631c3ff6"


def test_shapes_dtype_and_metadata():
    spec = ConvSpec(in_channels=6, out_channels=4, input_size=(5, 7, 3), kernel_size=(3, 1, 2), stride=2,
                    groups=2, batch=3, transposed=True)
    i = make_inputs(spec, 11)
    assert i.x.shape == spec.input_shape
    assert i.w.shape == spec.weight_shape
    assert i.b.shape == (spec.out_channels,)
    assert i.dy.shape == spec.output_shape
    for a in (i.x, i.w, i.b, i.dy):
        assert a.dtype == np.float64 and a.flags.c_contiguous
    assert (i.seed, i.distribution, i.x_zero_point) == (11, "int", 128)
    assert make_inputs(spec.with_(bias=False)).b is None


def test_deterministic_and_seeded():
    a, b = make_inputs(SPEC, 3), make_inputs(SPEC, 3)
    for name in ("x", "w", "b", "dy"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = make_inputs(SPEC, 4)
    assert not np.array_equal(a.x, c.x)
    # the layer name is not part of the shape; the shape is
    np.testing.assert_array_equal(make_inputs(SPEC.with_(name="layer1.0.conv1")).x, make_inputs(SPEC).x)
    other = make_inputs(SPEC.with_(stride=2))
    assert not np.array_equal(other.x, make_inputs(SPEC).x)
    # the two distributions draw independent streams
    assert not np.array_equal(np.sign(make_inputs(SPEC, 0, "normal").x), np.sign(make_inputs(SPEC).x))


def test_int_ranges_cover_and_fit_every_dtype():
    spec = ConvSpec(in_channels=64, out_channels=64, input_size=(16, 16), kernel_size=3, batch=2)
    i = make_inputs(spec)
    for name in ("x", "w", "b", "dy"):
        a = getattr(i, name)
        low, high = INT_RANGES[name]
        assert np.all(a == np.rint(a))
        assert a.min() == low and a.max() == high  # every value is drawn
        assert abs(a.mean()) < 0.1 * high  # zero-mean
        for dtype in ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4"):
            assert representable(a, dtype), (name, dtype)
    shifted = i.x + X_ZERO_POINT
    assert shifted.min() >= 0 and shifted.max() <= 255  # uint8 activations


def test_normal_distribution():
    spec = ConvSpec(in_channels=32, out_channels=32, input_size=(32, 32), kernel_size=3)
    i = make_inputs(spec, 1, "normal")
    assert abs(i.x.mean()) < 0.02 and abs(i.x.std() - 1) < 0.02
    assert not representable(i.x, "fp16") and not representable(i.x, "bf16")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**63), c=st.integers(1, 4), size=st.integers(3, 9))
def test_any_seed_is_deterministic(seed, c, size):
    spec = ConvSpec(in_channels=c, out_channels=c, input_size=(size,), kernel_size=3)
    np.testing.assert_array_equal(make_inputs(spec, seed).x, make_inputs(spec, seed).x)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed(seed):
    with pytest.raises(ConvbenchError, match="seed"):
        make_inputs(SPEC, seed)


def test_bad_distribution():
    with pytest.raises(ConvbenchError, match="distribution"):
        make_inputs(SPEC, 0, "uniform")
