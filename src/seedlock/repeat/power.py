"""How many seeds: sample sizes for a rank test and a t-test, and the CI width ``--until-ci`` watches.

>>> noether_n()                    # per experiment: P(A>B) = 0.75, one-sided alpha 0.05, power 0.95
29
>>> noether_n(two_sided=True)      # the two-sided tests `seedlock compare` reports
35
>>> t_test_n(delta=0.5, sd=1.0)    # Cohen's d = 0.5, two-sided alpha 0.05, power 0.8
64
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from seedlock.errors import SeedlockError

MAX_N = 10_000_000


def _check_unit(name: str, value: float, example: str) -> None:
    if not 0 < value < 1:
        raise SeedlockError(f"{name} must be strictly between 0 and 1, got {value}; pass e.g. {example}")


def noether_n(
    p_gt: float = 0.75, alpha: float = 0.05, power: float = 0.95, *, two_sided: bool = False
) -> int:
    """Seeds per experiment for a Mann-Whitney test to detect P(A > B) = ``p_gt`` (Noether, 1987).

    Noether's total sample size for two equal groups (``c = 1/2``) is
    ``N = (z_a + z_b)**2 / (12 c (1 - c) (p_gt - 1/2)**2)`` with ``z_b = z_{power}`` and
    ``z_a = z_{1-alpha}`` (one-sided) or ``z_{1-alpha/2}`` (two-sided); each experiment needs
    ``N / 2``, rounded up. This returns that per-experiment count.

    P(A > B) is the chance that a random seed of A beats a random seed of B (ties count 1/2).
    The often-quoted 29 (Bouthillier et al., "Accounting for variance in machine learning
    benchmarks", MLSys 2021, who write it ``(z_a + z_b)**2 / (6 (p_gt - 1/2)**2)``) is *per
    experiment* and *one-sided*: the alternative is P(A > B) above 1/2 only. N = 58 in all. The
    two-sided test (P(A > B) differs from 1/2, either way) at the same alpha takes 35 per
    experiment, 70 in all.

    >>> noether_n(0.75, 0.05, 0.95), noether_n(0.75, 0.05, 0.95, two_sided=True)
    (29, 35)
    """
    _check_unit("--p-gt", p_gt, "--p-gt 0.75")
    _check_unit("--alpha", alpha, "--alpha 0.05")
    _check_unit("--power", power, "--power 0.95")
    if p_gt == 0.5:
        raise SeedlockError(
            "--p-gt 0.5 means no difference, which no number of seeds can detect; pass e.g. --p-gt 0.75"
        )
    from scipy.stats import norm

    z_a = float(norm.ppf(1 - alpha / 2 if two_sided else 1 - alpha))
    z_b = float(norm.ppf(power))
    total = (z_a + z_b) ** 2 / (12 * 0.25 * (p_gt - 0.5) ** 2)
    return max(2, math.ceil(total / 2 - 1e-9))  # the epsilon keeps 29.0000000001 at 29


def t_test_power(n: int, delta: float, sd: float, alpha: float = 0.05, *, two_sided: bool = True) -> float:
    """Power of a two-sample t-test with ``n`` seeds per experiment, from the noncentral t.

    >>> round(t_test_power(64, 0.5, 1.0), 3)
    0.801
    """
    from scipy.stats import t

    df = 2 * n - 2
    nc = abs(delta) / sd * math.sqrt(n / 2)
    if two_sided:
        crit = float(t.ppf(1 - alpha / 2, df))
        return _nct_tail(crit, df, nc, upper=True) + _nct_tail(-crit, df, nc, upper=False)
    return _nct_tail(float(t.ppf(1 - alpha, df)), df, nc, upper=True)


def _nct_tail(x: float, df: int, nc: float, *, upper: bool) -> float:
    """P(T > x) (``upper``) or P(T < x) for T noncentral t. scipy's nct gives NaN far out (df 4,
    nc 12), which the search read as "not enough power": then by integrating over the chi-square,
    T = (Z + nc) / sqrt(V / df)."""
    from scipy.stats import nct

    p = float(nct.sf(x, df, nc) if upper else nct.cdf(x, df, nc))
    if math.isfinite(p):
        return p
    from scipy import integrate
    from scipy.stats import chi2, norm

    def given_v(v: float) -> float:
        z = x * math.sqrt(v / df) - nc
        return float((norm.sf(z) if upper else norm.cdf(z)) * chi2.pdf(v, df))

    return float(integrate.quad(given_v, 0, math.inf)[0])


def t_test_n(
    delta: float, sd: float, alpha: float = 0.05, power: float = 0.8, *, two_sided: bool = True
) -> int:
    """Seeds per experiment for a two-sample t-test to detect a difference ``delta`` of means.

    ``sd`` is the spread of one experiment across seeds, from a pilot run (``seedlock stats``
    prints it), assumed the same for both; with equal seeds per side Welch's test has the
    same power. Exact, from the noncentral t distribution (not the normal approximation,
    which under-counts at small n): the smallest n whose power reaches ``power``.

    >>> t_test_n(1.0, 1.0), t_test_n(0.8, 1.0), t_test_n(0.5, 1.0)
    (17, 26, 64)
    """
    if not math.isfinite(delta) or delta == 0:
        raise SeedlockError(
            f"--delta must be a non-zero number, got {delta}; pass the smallest difference worth finding"
        )
    if not math.isfinite(sd) or sd <= 0:
        raise SeedlockError(
            f"--sd must be a positive number, got {sd}; take it from a pilot run (`seedlock stats`)"
        )
    _check_unit("--alpha", alpha, "--alpha 0.05")
    _check_unit("--power", power, "--power 0.8")
    lo, hi = 2, 4
    while t_test_power(hi, delta, sd, alpha, two_sided=two_sided) < power:
        lo, hi = hi, hi * 2
        if hi > MAX_N:
            raise SeedlockError(
                f"a difference of {delta} with SD {sd} needs more than {MAX_N} seeds; it is too small to detect"
            )
    while lo < hi:  # power grows with n: bisect for the smallest n that reaches it
        mid = (lo + hi) // 2
        if t_test_power(mid, delta, sd, alpha, two_sided=two_sided) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


def ci_halfwidth(values: Iterable[float], confidence: float = 0.95) -> float:
    """Half the width of the t confidence interval of the mean: the ``±`` in ``mean ± h``.

    ``inf`` with fewer than two finite values, so a loop ``while ci_halfwidth(v) > width``
    (``seedlock repeat --until-ci``) keeps running; NaN and infinite values are left out.

    >>> round(ci_halfwidth([1.0, 2.0, 3.0]), 3)
    2.484
    >>> ci_halfwidth([1.0])
    inf
    """
    from scipy.stats import t

    finite = [float(v) for v in values if math.isfinite(float(v))]
    n = len(finite)
    if n < 2:
        return math.inf
    mean = sum(finite) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    return float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
