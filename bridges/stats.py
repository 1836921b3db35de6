"""Uncertainty of accuracies: Wilson intervals, intervals over seeds, and the paired McNemar test.

Every accuracy of the comparison is ``k`` correct of ``n`` test samples: one seed's figure carries a
Wilson score interval (Wilson 1927, "Probable inference, the law of succession, and statistical
inference", JASA 22:209; recommended over the normal approximation by Brown, Cai & DasGupta 2001,
"Interval estimation for a binomial proportion", Statistical Science 16:101), several seeds' mean a
Student-t interval over the seeds. Two attacks on the same samples are compared with McNemar's exact
test on the discordant pairs (McNemar 1947, Psychometrika 12:153): only samples that one attack
fools and the other does not carry information on which attack is stronger. The gradient-masking
checks of the comparison (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", arXiv 2003.01690) flag only differences that pass it.

Examples
--------
>>> lo, hi = wilson_interval(5, 10)
>>> round(lo, 4), round(hi, 4)
(0.2366, 0.7634)
>>> seed_interval([0.5, 0.7, 0.9])[3]
't over 3 seeds'
>>> mcnemar_lower("0000011111", "1111111111")   # A fools 5 samples B does not, B none that A does not
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

__all__ = [
    "as_bits",
    "binom_half_tail",
    "mcnemar_lower",
    "mcnemar_p",
    "mcnemar_two_sided_p",
    "seed_interval",
    "wilson_interval",
]


def _check_confidence(confidence: float) -> float:
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}")
    return float(confidence)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n``.

    With ``z`` the two-sided normal quantile of ``confidence`` (1.959964 for 0.95) and ``p = k / n``::

        centre = (k + z^2 / 2) / (n + z^2)
        half   = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)
        (lo, hi) = (centre - half, centre + half)

    Unlike the normal approximation ``p ± z sqrt(p (1 - p) / n)`` it never leaves [0, 1] and does not
    collapse to a point at ``k = 0`` or ``k = n`` (Brown, Cai & DasGupta 2001).

    Parameters
    ----------
    k : int
        Successes (correctly classified samples), ``0 <= k <= n``.
    n : int
        Trials (evaluated samples), ``n >= 1``.
    confidence : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    (float, float)
        ``(lo, hi)`` as fractions, ``0 <= lo <= k / n <= hi <= 1``.

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(95, 100)]
    [0.8882, 0.9785]
    >>> wilson_interval(0, 10)[0]
    0.0
    """
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise ValueError(f"k and n must be integers (counts of samples), got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need n >= 1 and 0 <= k <= n, got k={k}, n={n}")
    z = NormalDist().inv_cdf(0.5 + _check_confidence(confidence) / 2)
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4)
    # at k = 0 (k = n) the lower (upper) end is exactly 0 (1): centre and half agree analytically
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def seed_interval(
    values: Sequence[float], confidence: float = 0.95, bounds: tuple[float, float] | None = (0.0, 1.0)
) -> tuple[float, float, float, str]:
    """Mean over seeds with a Student-t interval: ``mean ± t_{(1+c)/2, m-1} * s / sqrt(m)``.

    ``s`` is the sample standard deviation (``ddof=1``) of the ``m`` values. The interval treats
    seeds as independent draws of the training (and evaluation) randomness; it says nothing about
    the finite test set of each seed (see :func:`wilson_interval`).

    Parameters
    ----------
    values : sequence of float
        One value per seed (accuracies as fractions), at least one, all finite.
    confidence : float
        Coverage, in (0, 1).
    bounds : (float, float) or None
        The interval is clipped to these bounds (default [0, 1], the range of an accuracy);
        ``None`` leaves it unclipped.

    Returns
    -------
    (mean, lo, hi, method)
        ``method`` is ``"t over m seeds"``; with one value ``(v, nan, nan, "one seed")``.

    Examples
    --------
    >>> mean, lo, hi, how = seed_interval([0.5, 0.7, 0.9])   # s = 0.2, t(0.975, 2) = 4.3027
    >>> round(mean, 4), round(lo, 4), round(hi, 4), how
    (0.7, 0.2032, 1.0, 't over 3 seeds')
    >>> seed_interval([0.8])
    (0.8, nan, nan, 'one seed')
    """
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"values must be one or more finite numbers (one per seed), got {list(values)!r}")
    confidence = _check_confidence(confidence)
    mean = float(a.mean())
    if a.size == 1:
        return mean, math.nan, math.nan, "one seed"
    from scipy.stats import t  # scipy: a dependency of scikit-learn

    half = float(t.ppf(0.5 + confidence / 2, a.size - 1)) * float(a.std(ddof=1)) / math.sqrt(a.size)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return mean, lo, hi, f"t over {a.size} seeds"


def as_bits(correct) -> np.ndarray:
    """Per-sample correctness as a boolean array: from a ``"0110..."`` string (the comparison's
    result files) or any sequence / array of 0/1 or booleans.

    Examples
    --------
    >>> as_bits("0110").tolist()
    [False, True, True, False]
    """
    if isinstance(correct, str):
        if set(correct) - {"0", "1"}:
            raise ValueError("a per-sample correctness string holds only '0' and '1'")
        return np.frombuffer(correct.encode("ascii"), dtype=np.uint8) == ord("1")
    a = np.asarray(correct)
    if a.ndim != 1 or (a.size and not np.isin(a, (0, 1)).all()):
        raise ValueError("per-sample correctness must be a 1-d sequence of 0/1 or booleans")
    return a.astype(bool)


def mcnemar_p(correct_a, correct_b) -> float:
    """One-sided exact McNemar p-value that attack A leaves fewer samples correct than attack B.

    On the same samples in the same order, ``b`` counts the samples correct under A and wrong
    under B, ``c`` those wrong under A and correct under B. Under the null hypothesis (the attacks
    are equally strong) each of the ``b + c`` discordant samples is equally likely either way, so
    ``p = P(X >= c)`` for ``X ~ Binomial(b + c, 1/2)``; ``p = 1`` without discordant samples.

    Examples
    --------
    >>> mcnemar_p("0000", "1111")   # c = 4, b = 0: 1 / 2^4
    0.0625
    """
    a, b = as_bits(correct_a), as_bits(correct_b)
    if a.shape != b.shape:
        raise ValueError(
            f"the two attacks must be scored on the same samples, got {a.size} and {b.size} per-sample results"
        )
    n_b = int((a & ~b).sum())
    n_c = int((~a & b).sum())
    return binom_half_tail(n_b + n_c, n_c)


def binom_half_tail(m: int, k: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(m, 1/2)``, exact: integer sums of the binomial coefficients
    over the shorter tail (the coefficients of ``m`` in the thousands overflow a float), divided by
    ``2^m`` once, correctly rounded.

    Examples
    --------
    >>> binom_half_tail(4, 4), binom_half_tail(4, 0), binom_half_tail(3, 2)
    (0.0625, 1.0, 0.5)
    >>> f"{binom_half_tail(10_000, 5_200):.3g}"   # 4 standard deviations (50) above the mean
    '3.3e-05'
    """
    if k <= 0:
        return 1.0
    if k > m:
        return 0.0
    if k > m - k:  # the upper tail is the shorter: sum it
        return _comb_sum(m, k, m) / (1 << m)
    return 1.0 - _comb_sum(m, 0, k - 1) / (1 << m)  # else 1 - the lower tail


def _comb_sum(m: int, lo: int, hi: int) -> int:
    """``sum(comb(m, i) for i in lo..hi)`` by the recurrence ``comb(m, i + 1) = comb(m, i) (m - i) / (i + 1)``."""
    c, total = math.comb(m, lo), 0
    for i in range(lo, hi + 1):
        total += c
        c = c * (m - i) // (i + 1)
    return total


def mcnemar_two_sided_p(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value that A and B differ in accuracy on the same samples.

    ``p = min(1, 2 P(X >= max(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``, with ``b`` and ``c`` the
    discordant counts of :func:`mcnemar_p`. The comparison uses it to say whether the snntorch
    twin and Brian2, scoring the same images with independent spike draws, disagree on the
    accuracy by more than those draws explain.

    Examples
    --------
    >>> mcnemar_two_sided_p("0000", "1111")   # b = 0, c = 4: 2 / 2^4
    0.125
    >>> mcnemar_two_sided_p("0110", "1001")   # b = c = 2: no evidence either way
    1.0
    """
    a, b = as_bits(correct_a), as_bits(correct_b)
    if a.shape != b.shape:
        raise ValueError(f"A and B must be scored on the same samples, got {a.size} and {b.size} per-sample results")
    n_b, n_c = int((a & ~b).sum()), int((~a & b).sum())
    if n_b == n_c:
        return 1.0
    return min(1.0, 2.0 * binom_half_tail(n_b + n_c, max(n_b, n_c)))


def mcnemar_lower(correct_a, correct_b, alpha: float = 0.05) -> bool:
    """Whether attack A leaves significantly fewer samples correct than attack B (paired, exact).

    :func:`mcnemar_p` below ``alpha``: a one-sided exact McNemar test on the discordant pairs.
    Concordant samples (both correct, both fooled) do not change the answer.

    Parameters
    ----------
    correct_a, correct_b : str or sequence of 0/1
        Per-sample correctness under attacks A and B, same samples in the same order
        (``"0110..."`` strings as the comparison records them, or arrays).
    alpha : float
        Significance level in (0, 1). Callers testing many pairs divide it by their number
        (Bonferroni) to keep the chance of any false flag at ``alpha``.

    Returns
    -------
    bool

    Examples
    --------
    >>> mcnemar_lower("0000111", "1111111")   # 4 discordant, all for B: p = 1/16 = 0.0625
    False
    >>> mcnemar_lower("00000", "11111")       # 5 discordant: p = 1/32
    True
    """
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), e.g. 0.05; got {alpha!r}")
    return mcnemar_p(correct_a, correct_b) < alpha
