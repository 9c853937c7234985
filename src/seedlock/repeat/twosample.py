"""What scipy lacks for comparing two samples: P(A > B) (:func:`p_greater`), Hedges' g with its
exact small-sample correction, and a two-sided permutation test of the mean difference,
enumerated by hand where a side has a single value (scipy wants two). Part of
:mod:`seedlock.repeat.stats`, which exports all three."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np

from seedlock.repeat.estimators import Array, _sd

EXACT_LIMIT = 100_000  # enumerate every permutation up to this many; sample this many beyond


def _p_gt_stat(x: Array, y: Array, axis: int = -1) -> Array:
    x, y = np.moveaxis(x, axis, -1)[..., :, None], np.moveaxis(y, axis, -1)[..., None, :]
    return np.asarray((x > y).mean(axis=(-2, -1)) + 0.5 * (x == y).mean(axis=(-2, -1)))


def p_greater(a: Iterable[float], b: Iterable[float]) -> float:
    """P(A > B): the chance a random seed of A beats a random seed of B, ties counting 1/2 (= U / (nA nB)).

    >>> p_greater([1, 2, 2, 2, 1, 1, 2, 1], [1, 1, 2, 2, 3, 3])
    0.3333333333333333
    """
    return float(_p_gt_stat(np.asarray(list(a), float), np.asarray(list(b), float)))


def hedges_g(a: Iterable[float], b: Iterable[float]) -> float | None:
    """Hedges' g: the mean difference in pooled SDs, with the exact small-sample correction; None without spread."""
    from scipy.special import gammaln

    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    df = len(x) + len(y) - 2
    if df < 2:
        return None
    pooled = math.sqrt(((len(x) - 1) * _sd(x) ** 2 + (len(y) - 1) * _sd(y) ** 2) / df)
    if pooled == 0:
        return None
    j = math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float((x.mean() - y.mean()) / pooled * j)


def permutation_test(
    a: Iterable[float], b: Iterable[float], *, paired: bool, n_resamples: int = EXACT_LIMIT, seed: int = 0
) -> tuple[float, bool]:
    """Two-sided permutation test of the mean difference: ``(p, exact)``, p = P(|T| >= |t_obs|) under the null.

    Paired: the sign of each seed's difference is flipped (2**n arrangements); unpaired: the
    pooled values are split every way. Exact when there are at most ``n_resamples`` arrangements,
    else ``n_resamples`` random ones (seeded). scipy's own two-sided p doubles the smaller
    one-sided p, which is not the same thing when the null distribution is lopsided.

    >>> permutation_test([10, 10, 10], [0], paired=False)
    (0.25, True)
    """
    from scipy.stats import permutation_test as scipy_permutation_test

    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    if paired:
        count = 2 ** len(x)
        ptype = "samples"

        def statistic(u: Array, v: Array, axis: int = -1) -> Array:
            return np.abs(np.mean(u - v, axis=axis))
    else:
        count = math.comb(len(x) + len(y), len(x))
        ptype = "independent"

        def statistic(u: Array, v: Array, axis: int = -1) -> Array:
            return np.abs(np.mean(u, axis=axis) - np.mean(v, axis=axis))

    if min(len(x), len(y)) < 2:  # scipy wants two values per side; enumerate by hand
        if paired or len(x) + len(y) < 2:
            return 1.0, True
        pooled = np.concatenate([x, y])
        observed = statistic(x, y)
        null = [
            statistic(pooled[list(idx)], np.delete(pooled, list(idx)))
            for idx in itertools.combinations(range(len(pooled)), len(x))
        ]
        tol = 1e-12 * max(1.0, float(observed))
        return float(np.mean(np.asarray(null) >= observed - tol)), True
    res = scipy_permutation_test(
        (x, y),
        statistic,
        permutation_type=ptype,
        vectorized=True,
        n_resamples=n_resamples,
        alternative="greater",
        batch=10_000,
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue), count <= n_resamples
