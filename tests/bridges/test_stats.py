"""bridges.stats: Wilson intervals against hand computation, t intervals over seeds, exact McNemar."""

import math

import numpy as np
import pytest

from bridges.stats import (
    as_bits,
    binom_half_tail,
    mcnemar_lower,
    mcnemar_p,
    mcnemar_two_sided_p,
    seed_interval,
    wilson_interval,
)

# Hand computation from the Wilson formula, z = 1.959964 (two-sided 95%), z^2 = 3.841459:
#   centre = (k + z^2/2) / (n + z^2),  half = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)
# k=0,  n=10 : centre = 1.920729 / 13.841459 = 0.138767; half = 0.141601 * sqrt(0.960365) = 0.138767
#              -> lo = 0 exactly, hi = z^2 / (n + z^2) = 3.841459 / 13.841459 = 0.277533
# k=5,  n=10 : centre = 6.920729 / 13.841459 = 0.5;     half = 0.141601 * sqrt(2.5 + 0.960365) = 0.263407
#              -> (0.236593, 0.763407)
# k=95, n=100: centre = 96.920729 / 103.841459 = 0.933353; half = 0.018875 * sqrt(4.75 + 0.960365) = 0.045103
#              -> (0.888250, 0.978456)
# k=10, n=10 : mirror of k=0: (1 - 0.277533, 1) = (0.722467, 1)
HAND = [
    (0, 10, 0.0, 0.277533),
    (5, 10, 0.236593, 0.763407),
    (95, 100, 0.888250, 0.978456),
    (10, 10, 0.722467, 1.0),
]


@pytest.mark.parametrize("k,n,lo,hi", HAND, ids=["0-of-10", "5-of-10", "95-of-100", "10-of-10"])
def test_wilson_matches_hand_computation(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=2e-6)


def test_wilson_is_symmetric_and_narrows_with_n():
    lo, hi = wilson_interval(3, 20)
    lo2, hi2 = wilson_interval(17, 20)
    assert (lo, hi) == pytest.approx((1 - hi2, 1 - lo2), abs=1e-12)
    w = [np.subtract(*wilson_interval(n // 2, n)[::-1]) for n in (10, 100, 1000, 10000)]
    assert all(a > b for a, b in zip(w, w[1:]))
    # large n: the normal approximation p +- z sqrt(p (1-p) / n)
    assert w[-1] / 2 == pytest.approx(1.959964 * math.sqrt(0.25 / 10000), rel=1e-3)


def test_wilson_confidence_changes_width():
    # z(0.99) = 2.575829: wider than the 95% interval
    lo99, hi99 = wilson_interval(5, 10, confidence=0.99)
    lo95, hi95 = wilson_interval(5, 10)
    assert lo99 < lo95 and hi99 > hi95
    z2 = 2.575829**2
    assert hi99 == pytest.approx(0.5 + 2.575829 / (10 + z2) * math.sqrt(2.5 + z2 / 4), abs=1e-6)


@pytest.mark.parametrize(
    "k,n,conf", [(11, 10, 0.95), (-1, 10, 0.95), (0, 0, 0.95), (1, 10, 1.0), (0.5, 10, 0.95)], ids=str
)
def test_wilson_rejects_bad_input(k, n, conf):
    with pytest.raises(ValueError):
        wilson_interval(k, n, conf)


def test_seed_interval_is_the_t_interval():
    # mean 0.7, s = 0.2, se = 0.2 / sqrt(3) = 0.115470, t(0.975, df=2) = 4.302653 -> half = 0.496827
    mean, lo, hi, how = seed_interval([0.5, 0.7, 0.9], bounds=None)
    assert (mean, lo, hi) == pytest.approx((0.7, 0.203173, 1.196827), abs=2e-6) and how == "t over 3 seeds"
    # clipped to [0, 1] by default
    assert seed_interval([0.5, 0.7, 0.9])[1:3] == pytest.approx((0.203173, 1.0), abs=2e-6)
    # two seeds 0.8, 0.9: s = 0.070711, se = 0.05, t(0.975, 1) = 12.706205 -> half = 0.635310
    mean, lo, hi, how = seed_interval([0.8, 0.9], bounds=None)
    assert (mean, lo, hi) == pytest.approx((0.85, 0.85 - 0.635310, 0.85 + 0.635310), abs=2e-6)
    assert how == "t over 2 seeds"


def test_seed_interval_one_seed_has_no_interval():
    mean, lo, hi, how = seed_interval([0.42])
    assert mean == 0.42 and math.isnan(lo) and math.isnan(hi) and how == "one seed"
    with pytest.raises(ValueError, match="one or more finite"):
        seed_interval([])


def test_mcnemar_on_constructed_discordant_pairs():
    # 1000 concordant samples (600 both correct, 400 both fooled) plus c samples that only A fools
    # and b samples that only B fools; the one-sided exact p is P(X >= c), X ~ Bin(b + c, 1/2)
    def pair(b, c):
        a = [1] * 600 + [0] * 400 + [1] * b + [0] * c
        bb = [1] * 600 + [0] * 400 + [0] * b + [1] * c
        return np.array(a), np.array(bb)

    a, b = pair(0, 5)
    assert mcnemar_p(a, b) == pytest.approx(1 / 32) and mcnemar_lower(a, b)
    a, b = pair(0, 4)
    assert mcnemar_p(a, b) == pytest.approx(1 / 16) and not mcnemar_lower(a, b)
    # c = 9, b = 1 of 10: p = (C(10,9) + C(10,10)) / 1024 = 11 / 1024
    a, b = pair(1, 9)
    assert mcnemar_p(a, b) == pytest.approx(11 / 1024) and mcnemar_lower(a, b)
    assert mcnemar_lower(a, b, alpha=0.01) is False  # 0.0107 > 0.01
    # the other direction is not significant: p = P(X >= 1) = 1 - 1/1024
    assert mcnemar_p(b, a) == pytest.approx(1 - 1 / 1024) and not mcnemar_lower(b, a)
    # equal strength: many discordant pairs split evenly
    a, b = pair(50, 50)
    assert not mcnemar_lower(a, b) and not mcnemar_lower(b, a)
    # no discordant pair
    assert mcnemar_p("0101", "0101") == 1.0


def test_mcnemar_reads_bit_strings_and_checks_lengths():
    assert as_bits("0110").tolist() == [False, True, True, False]
    assert mcnemar_p("00000111", "11111111") == pytest.approx(1 / 32)
    with pytest.raises(ValueError, match="same samples"):
        mcnemar_p("01", "011")
    with pytest.raises(ValueError, match="only '0' and '1'"):
        as_bits("01x")


@pytest.mark.parametrize(
    "m, k",
    [(4, 4), (10, 3), (10, 8), (1, 1), (2_000, 1_100), (10_000, 5_200), (10_000, 4_800), (10_000, 9_000)],
    ids=lambda v: str(v),
)
def test_binomial_tail_matches_scipy_also_where_the_coefficients_overflow_a_float(m, k):
    """The exact integer tail against scipy's incomplete-beta survival function (an independent
    formulation); comb(10000, 5000) has ~3,000 digits, far past a float."""
    from scipy.stats import binom

    assert binom_half_tail(m, k) == pytest.approx(binom.sf(k - 1, m, 0.5), rel=1e-10, abs=1e-300)


def test_mcnemar_on_ten_thousand_samples():
    """A full-MNIST comparison pairs attacks on 10,000 images: thousands of discordant samples."""
    a = np.r_[np.zeros(3000), np.ones(7000)]  # A fools 3,000 samples ...
    b = np.r_[np.ones(2900), np.zeros(100), np.ones(7000)]  # ... B only 100 of them
    assert mcnemar_p(a, b) < 1e-300 or mcnemar_p(a, b) == 0.0
    assert mcnemar_lower(a, b) and not mcnemar_lower(b, a)
    assert mcnemar_two_sided_p(a, b) == pytest.approx(2 * mcnemar_p(a, b), abs=1e-300)
    half = np.r_[np.zeros(1500), np.ones(1500)]
    assert mcnemar_two_sided_p(half, 1 - half) == 1.0  # b = c = 1,500: no evidence either way
