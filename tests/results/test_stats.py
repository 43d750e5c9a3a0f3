import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from convbench.results.stats import Ratio, geomean, is_regression, median_ci_ranks, ratio_ci, summarize, verdict


@pytest.mark.parametrize("n, ranks", [(10, (1, 8)), (20, (5, 14)), (100, (39, 60))])
def test_order_statistic_ranks_match_the_binomial_tables(n, ranks):
    assert median_ci_ranks(n) == ranks


def test_too_few_samples_give_the_full_range():
    assert median_ci_ranks(5) == (0, 4)


def test_median_ci_covers_the_true_median_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        s = summarize(rng.lognormal(0, 0.5, size=31))
        hits += s.ci_low_s <= 1.0 <= s.ci_high_s  # median of lognormal(0, .5) is 1
    assert 0.93 <= hits / 2000 <= 0.99


@given(st.lists(st.floats(min_value=1e-6, max_value=1.0), min_size=1, max_size=200))
@settings(max_examples=100, deadline=None)
def test_summary_orders(xs):
    s = summarize(xs)
    assert s.min_s <= s.q1_s <= s.median_s <= s.q3_s <= max(xs)
    assert s.ci_low_s <= s.median_s <= s.ci_high_s
    assert s.noise_rel >= 0


def test_ratio_and_verdicts():
    r = ratio_ci(1.0, 0.99, 1.01, 1.2, 1.19, 1.21)
    assert r.ratio == pytest.approx(1.2) and r.low > 1
    assert verdict(r) == "slower" and is_regression(r, 0.05)
    assert verdict(ratio_ci(1.0, 0.99, 1.01, 0.8, 0.79, 0.81)) == "faster"
    assert verdict(ratio_ci(1.0, 0.99, 1.01, 1.0, 0.99, 1.01)) == "same"
    assert verdict(ratio_ci(1.0, 0.7, 1.3, 1.1, 0.8, 1.4)) == "unclear"
    assert not is_regression(Ratio(1.03, 1.01, 1.05), 0.05)


def test_weighted_geomean():
    assert geomean([2, 8]) == pytest.approx(4)
    assert geomean([2, 8], [3, 1]) == pytest.approx(2 ** 0.75 * 8 ** 0.25)
    assert np.isnan(geomean([]))
