"""algorithm_costs (multiplication counts, extra memory) and measure_errors."""

from __future__ import annotations

import math

import pytest

from convbench.backends.reference import AlgorithmCost, algorithm_costs, measure_errors
from convbench.backends.reference.fft import fft_lengths, spectrum_bins
from convbench.workloads.spec import ConvSpec

LAYER = ConvSpec(in_channels=64, out_channels=64, input_size=(56, 56), kernel_size=3, padding=1, bias=False)


def by_name(costs):
    return {c.algorithm: c for c in costs}


def test_winograd_counts_per_tile_and_total():
    c = by_name(algorithm_costs(LAYER))
    w2, w4 = c["winograd-2x2"], c["winograd-4x4"]
    assert (w2.multiplications_per_tile_per_channel_pair, w2.direct_per_tile, w2.tile) == (16, 36, (2, 2))
    assert (w4.multiplications_per_tile_per_channel_pair, w4.direct_per_tile, w4.tile) == (36, 144, (4, 4))
    assert w2.multiplications == 28 * 28 * 64 * 64 * 16
    assert w4.multiplications == 14 * 14 * 64 * 64 * 36
    assert LAYER.macs / w2.multiplications == pytest.approx(2.25)
    assert LAYER.macs / w4.multiplications == pytest.approx(4.0)
    # U + V (fp32 operands) + M (fp32 accumulators)
    assert w2.extra_bytes == 16 * 64 * 64 * 4 + 16 * 64 * 784 * 4 + 16 * 64 * 784 * 4
    assert "2.25x fewer" in w2.notes


def test_direct_im2col_fft_counts():
    c = by_name(algorithm_costs(LAYER))
    assert c["direct"].multiplications == c["im2col"].multiplications == LAYER.macs == 64 * 64 * 9 * 56 * 56
    assert c["direct"].multiplications_per_tile_per_channel_pair == 9
    assert c["im2col"].extra_bytes == 64 * 9 * 56 * 56 * 4  # the column matrix, fp32
    assert c["direct"].extra_bytes == 64 * 58 * 58 * 4  # the padded input
    assert c["implicit-gemm"].extra_bytes == 0
    lengths = fft_lengths((58, 58))
    bins = spectrum_bins(lengths)
    points = math.prod(lengths)
    fft = c["fft"]
    assert lengths == (60, 60) and bins == 60 * 31
    assert fft.multiplications_per_tile_per_channel_pair == 4 * bins
    assert fft.tile == (56, 56)
    expected = 4 * bins * 64 * 64 + (64 + 64 * 64 + 64) * points * math.log2(points)
    assert fft.multiplications == round(expected)


def test_extra_bytes_follow_the_dtype_width():
    fp16 = by_name(algorithm_costs(LAYER, "fp16"))
    fp32 = by_name(algorithm_costs(LAYER, "fp32"))
    assert fp16["im2col"].extra_bytes * 2 == fp32["im2col"].extra_bytes
    int8 = by_name(algorithm_costs(LAYER, "int8"))
    assert set(int8) == {"int-gemm", "implicit-gemm"}
    assert int8["int-gemm"].extra_bytes * 4 == fp32["im2col"].extra_bytes
    assert by_name(algorithm_costs(LAYER, "int4"))["int-gemm"].extra_bytes * 8 == fp32["im2col"].extra_bytes


def test_unsupported_algorithms_carry_reasons():
    strided = LAYER.with_(stride=2)
    c = by_name(algorithm_costs(strided))
    for name in ("winograd-2x2", "winograd-4x4"):
        assert not c[name].supported and c[name].multiplications == 0
        assert c[name].reason.startswith("winograd needs stride 1, dilation 1, 3x3 kernel; got stride 2x2")
    assert c["fft"].supported and "subsampling" in c["fft"].notes
    grouped = by_name(algorithm_costs(LAYER.with_(groups=2)))
    assert not grouped["implicit-gemm"].supported and "groups" in grouped["implicit-gemm"].reason
    assert grouped["winograd-2x2"].multiplications == 28 * 28 * 64 * 32 * 16
    tf32 = by_name(algorithm_costs(LAYER, "tf32"))
    assert tf32["im2col"].reason == "tf32 is a CUDA tensor-core mode" and tf32["implicit-gemm"].supported
    assert all(isinstance(x, AlgorithmCost) for x in tf32.values())


def test_transposed_costs():
    spec = ConvSpec(in_channels=8, out_channels=4, input_size=(5, 5), kernel_size=3, padding=1, stride=2,
                    output_padding=1, transposed=True)
    c = by_name(algorithm_costs(spec))
    assert c["im2col"].multiplications == spec.macs
    assert c["direct"].multiplications > spec.macs  # the stride-spread input's zeros
    assert not c["winograd-2x2"].supported


def test_measure_errors_small_layer():
    spec = ConvSpec(in_channels=4, out_channels=4, input_size=(6, 6), kernel_size=3, padding=1)
    fp32 = measure_errors(spec, "fp32")
    assert set(fp32) == {"direct", "im2col", "winograd-2x2", "winograd-4x4", "fft"}
    for max_abs, max_rel in fp32.values():
        assert 0 <= max_rel < 1e-5 and max_abs < 1e-4
    assert measure_errors(spec, "int8") == {"int-gemm": (0.0, 0.0)}
    assert measure_errors(spec, "int4") == {"int-gemm": (0.0, 0.0)}
    dgrad = measure_errors(spec, "fp16", direction="dgrad")
    assert set(dgrad) == {"direct", "im2col", "winograd-2x2", "winograd-4x4", "fft"}
