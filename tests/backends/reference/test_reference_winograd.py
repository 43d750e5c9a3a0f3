"""Winograd: the transforms compute a tile's correlation exactly; the error ordering of the
algorithms at low precision (normal inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.backends.reference import measure_errors
from convbench.backends.reference._core import Geometry, Precision, Scratch
from convbench.backends.reference.direct import Direct
from convbench.backends.reference.winograd import TRANSFORMS, Winograd, transform, unsupported_reason
from convbench.workloads.spec import ConvSpec

FP64 = Precision("fp64", np.dtype(np.float64), np.dtype(np.float64))


@pytest.mark.parametrize("m", sorted(TRANSFORMS))
def test_one_dimensional_tile_is_exact(m):
    tf = TRANSFORMS[m]
    BT, G, AT = tf.matrices()
    assert BT.shape == (tf.alpha, tf.alpha) and G.shape == (tf.alpha, 3) and AT.shape == (m, tf.alpha)
    rng = np.random.default_rng(m)
    for _ in range(20):
        d, g = rng.standard_normal(tf.alpha), rng.standard_normal(3)
        y = AT @ ((G @ g) * (BT @ d))
        want = np.array([d[i : i + 3] @ g for i in range(m)])
        np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", sorted(TRANSFORMS))
def test_two_dimensional_tile_is_exact(m):
    """Y = A^T [(G g G^T) * (B^T d B)] A is the 3x3 correlation of one alpha x alpha tile."""
    tf = TRANSFORMS[m]
    BT, G, AT = tf.matrices()
    rng = np.random.default_rng(10 + m)
    d = rng.integers(-4, 5, (tf.alpha, tf.alpha)).astype(np.float64)
    g = rng.integers(-2, 3, (3, 3)).astype(np.float64)
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    want = np.array([[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-11)
    # the separable helper applies the same nested transform
    np.testing.assert_allclose(transform(d, BT, (0, 1)), BT @ d @ BT.T, atol=1e-12)


@pytest.mark.parametrize("m", sorted(TRANSFORMS))
@pytest.mark.parametrize("size", [(9,), (7, 6), (5, 6, 4)])
def test_winograd_kernel_matches_direct_in_float64(m, size):
    """The whole kernel (tiling, overhanging last tiles, groups, 1D/2D/3D) equals direct in fp64."""
    rng = np.random.default_rng(len(size) * 10 + m)
    groups = 2
    xp = rng.standard_normal((2, 4, *size))
    w = rng.standard_normal((6, 2, *(3,) * len(size)))
    geo = Geometry((1,) * len(size), (1,) * len(size), groups)
    out = tuple(s - 2 for s in size)
    got = Winograd(m).forward(xp, w, geo, out, FP64, Scratch(), "t")
    want = Direct().forward(xp, w, geo, out, FP64, Scratch(), "t")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)
    dy = rng.standard_normal((2, 6, *out))
    got = Winograd(m).backward_data(dy, w, geo, size, FP64, Scratch(), "b")
    want = Direct().backward_data(dy, w, geo, size, FP64, Scratch(), "b")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)


def test_unsupported_reasons():
    geo = Geometry((2, 2), (1, 1), 1)
    assert unsupported_reason("forward", (3, 3), geo) == (
        "winograd needs stride 1, dilation 1, 3x3 kernel; got stride 2x2, dilation 1x1, kernel 3x3"
    )
    one = Geometry((1, 1), (1, 1), 1)
    assert "5x5" in unsupported_reason("forward", (5, 5), one)
    assert unsupported_reason("forward", (3, 3), one) is None
    assert unsupported_reason("backward_data", (3, 3), one) is None
    assert "wgrad" in unsupported_reason("backward_weight", (3, 3), one)


SPEC = ConvSpec(in_channels=16, out_channels=16, input_size=(12, 12), kernel_size=3, padding=1)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("seed", [0, 1])
def test_error_ordering_low_precision(dtype, seed):
    """Normal inputs: F(4x4,3x3) loses more accuracy than F(2x2,3x3), which loses more than direct."""
    rel = {a: e[1] for a, e in measure_errors(SPEC, dtype, "normal", seed=seed).items()}
    assert rel["winograd-4x4"] > 2 * rel["winograd-2x2"], rel
    assert rel["winograd-2x2"] > rel["direct"], rel
    assert rel["direct"] < {"fp16": 2**-11, "bf16": 2**-8}[dtype] * 1.5, rel


def test_error_ordering_fp32():
    """fp32: F(4x4,3x3) is the least accurate. (F(2x2,3x3) can beat direct here: it sums C terms
    per transformed element where direct sums C*9 in order.)"""
    rel = {a: e[1] for a, e in measure_errors(SPEC, "fp32", "normal").items()}
    assert rel["winograd-4x4"] > 2 * max(rel["winograd-2x2"], rel["direct"], rel["im2col"]), rel
    assert max(rel.values()) < 1e-4, rel
