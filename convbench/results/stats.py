"""Statistics of timing samples: medians with confidence intervals, and ratios between them.

Pure functions over seconds. The confidence interval of a median is the distribution-free
order-statistic interval (binomial ranks), so it holds for the skewed, bimodal samples that
real machines give; ratios combine two such intervals on the log scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class SampleSummary:
    """Statistics of one case's samples, all in seconds except ``noise_rel`` (a fraction)."""

    median_s: float
    min_s: float
    q1_s: float
    q3_s: float
    ci_low_s: float
    ci_high_s: float
    n: int

    @property
    def noise_rel(self) -> float:
        """Relative half-width of the median's confidence interval (fraction of the median)."""
        if self.median_s <= 0:
            return math.inf
        return (self.ci_high_s - self.ci_low_s) / 2 / self.median_s


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int]:
    """0-based ranks (lo, hi) of the sorted samples bounding the median's ``confidence``
    interval: the binomial(n, 1/2) order-statistic interval. For n < 6 at 95% no interval
    exists; the full range (0, n-1) is returned (the widest honest answer)."""
    if n < 1:
        raise ValueError("median_ci_ranks: needs at least one sample")
    alpha = 1 - confidence
    lo = int(_st.binom.ppf(alpha / 2, n, 0.5))  # number of samples strictly below the bound
    lo = max(lo - 1, 0)
    hi = n - 1 - lo
    if hi <= lo:
        return 0, n - 1
    return lo, hi


def summarize(samples_s: Sequence[float], confidence: float = 0.95) -> SampleSummary:
    """Median, min, quartiles and the median's confidence interval of ``samples_s`` (s)."""
    x = np.sort(np.asarray(samples_s, dtype=float))
    if x.size == 0:
        raise ValueError("summarize: no samples")
    lo, hi = median_ci_ranks(x.size, confidence)
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return SampleSummary(
        median_s=float(med), min_s=float(x[0]), q1_s=float(q1), q3_s=float(q3),
        ci_low_s=float(x[lo]), ci_high_s=float(x[hi]), n=int(x.size),
    )


@dataclass(frozen=True)
class Ratio:
    """Candidate time / baseline time with a confidence interval (>1: candidate slower)."""

    ratio: float
    low: float
    high: float


def ratio_ci(
    base_median: float, base_low: float, base_high: float,
    cand_median: float, cand_low: float, cand_high: float,
) -> Ratio:
    """Ratio of medians ``cand / base`` and its interval. Each side's interval is turned into
    a half-width on the log scale; the two add in quadrature (independent measurements)."""
    if base_median <= 0 or cand_median <= 0:
        raise ValueError("ratio_ci: medians must be positive")

    def half_log(med: float, low: float, high: float) -> float:
        low = low if low and low > 0 else med
        high = high if high and high > 0 else med
        return max(math.log(high / med), math.log(med / low), 0.0)

    r = cand_median / base_median
    h = math.hypot(half_log(base_median, base_low, base_high), half_log(cand_median, cand_low, cand_high))
    return Ratio(ratio=r, low=r * math.exp(-h), high=r * math.exp(h))


def verdict(ratio: Ratio, threshold: float = 0.05) -> str:
    """Verdict on a time ratio (DESIGN, Settled details: compare): ``slower``/``faster`` when
    its interval lies wholly above/below 1, ``same`` when it lies within 1 +/- threshold,
    ``unclear`` otherwise."""
    if ratio.low > 1:
        return "slower"
    if ratio.high < 1:
        return "faster"
    if ratio.low >= 1 - threshold and ratio.high <= 1 + threshold:
        return "same"
    return "unclear"


def is_regression(ratio: Ratio, threshold: float = 0.05) -> bool:
    """A regression for ``check``: ratio at least 1 + threshold and interval wholly above 1."""
    return ratio.ratio >= 1 + threshold and ratio.low > 1


def geomean(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """Weighted geometric mean (weights: e.g. how often each shape occurs)."""
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(v) & (v > 0) & (w > 0)
    if not ok.any():
        return math.nan
    return float(np.exp(np.sum(w[ok] * np.log(v[ok])) / np.sum(w[ok])))
