"""Honest statistics over seeds: summaries with confidence intervals, and comparisons of two experiments.

scipy does the work; only what scipy lacks is written here (Holm) and beside it (P(A > B),
Hedges' g and an exact permutation test for a side with a single value:
:mod:`seedlock.repeat.twosample`; the summary of one experiment: :mod:`seedlock.repeat.summary`).
This module is the API: every name in ``__all__``. Nothing comes back NaN: what cannot
be computed is ``None`` with a note saying why. See docs/repeat-stats.md for what each
number means.

>>> s = describe([1, 2, 2, 2, 1, 1, 2, 1])
>>> s.mean, s.median, s.iqm
(1.5, 1.5, 1.5)
>>> c = compare({0: 0.91, 1: 0.93, 2: 0.92, 3: 0.94}, {0: 0.89, 1: 0.90, 2: 0.91, 3: 0.90})
>>> c.paired, round(c.diff, 3), c.p_gt
(True, 0.025, 0.96875)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from seedlock.errors import SeedlockError
from seedlock.repeat.estimators import Array, Interval, _bootstrap, _sd, _t_interval
from seedlock.repeat.power import ci_halfwidth, noether_n, t_test_n, t_test_power
from seedlock.repeat.summary import SMALL_N, Summary, describe, fmt
from seedlock.repeat.twosample import EXACT_LIMIT, _p_gt_stat, hedges_g, p_greater, permutation_test

__all__ = [
    "Comparison",
    "Interval",
    "Summary",
    "ci_halfwidth",
    "compare",
    "compare_many",
    "describe",
    "fmt",
    "hedges_g",
    "holm",
    "noether_n",
    "p_greater",
    "permutation_test",
    "t_test_n",
    "t_test_power",
]

MIN_COMPARE = 3  # fewer seeds than this and no test can say anything


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found for A against B; differences are A minus B."""

    name_a: str
    name_b: str
    paired: bool
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float  # mean(A) - mean(B)
    diff_ci: Interval  # Student t: paired, or Welch
    t_test: str
    t_p: float | None
    rank_test: str
    rank_p: float | None
    perm_p: float | None  # two-sided: P(|T| >= |t_obs|), T the mean difference
    perm_exact: bool
    p_gt: float  # P(A > B), ties count 1/2
    p_gt_ci: Interval
    hedges_g: float | None
    confidence: float
    t_p_holm: float | None = None  # set by compare_many, across metrics
    rank_p_holm: float | None = None
    perm_p_holm: float | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _p_or_none(p: float, what: str, notes: list[str]) -> float | None:
    if math.isfinite(p):
        return float(p)
    notes.append(f"{what} is undefined for these values")
    return None


def compare(
    a: Mapping[int, float],
    b: Mapping[int, float],
    *,
    paired: bool | None = None,
    names: tuple[str, str] = ("A", "B"),
    confidence: float = 0.95,
    n_boot: int = 10_000,
    n_perm: int = EXACT_LIMIT,
    seed: int = 0,
) -> Comparison:
    """Compare one metric of two experiments, given as ``{seed: value}``; differences are A - B.

    Paired by seed when both ran the same seeds (or ``paired=True``, which then insists):
    paired t CI and test, Wilcoxon signed-rank, sign-flip permutation test. Otherwise Welch's t
    CI and test, Mann-Whitney U, and a permutation test of the split. Rank tests are exact
    (by permutation, so ties are handled) up to ``n_perm`` arrangements. Always: P(A > B) with a
    BCa bootstrap CI (each side resampled on its own), and Hedges' g. At least 3 seeds per side.

    >>> c = compare({1: 3.0, 2: 4.0, 3: 5.0}, {7: 1.0, 8: 2.0, 9: 2.5})
    >>> c.paired, c.t_test, c.p_gt
    (False, 'Welch t', 1.0)
    """
    from scipy import stats

    name_a, name_b = names
    notes: list[str] = []
    warned: list[str] = []
    fa = {s: float(v) for s, v in a.items() if math.isfinite(float(v))}
    fb = {s: float(v) for s, v in b.items() if math.isfinite(float(v))}
    for name, raw, kept in ((name_a, a, fa), (name_b, b, fb)):
        if len(raw) > len(kept):
            warned.append(f"{len(raw) - len(kept)} NaN or infinite value(s) of {name!r} left out")
        if len(kept) < MIN_COMPARE:
            raise SeedlockError(
                f"need at least {MIN_COMPARE} seeds per side to compare, got {len(kept)} for {name!r}; "
                "run more seeds with `seedlock repeat ... --seeds 5`"
            )
    same = set(fa) == set(fb)
    if paired and not same:
        only_a, only_b = sorted(set(fa) - set(fb)), sorted(set(fb) - set(fa))
        raise SeedlockError(
            f"--paired needs the same seeds on both sides; only {name_a!r} has {only_a[:10]}, only {name_b!r} has "
            f"{only_b[:10]}; run the missing seeds or pass --unpaired"
        )
    if paired is None:
        paired = same
        if not same:
            notes.append(
                f"the two have finite values for different seeds ({len(set(fa) - set(fb))} only in "
                f"{name_a!r}, {len(set(fb) - set(fa))} only in {name_b!r}; a seed that failed or reported "
                "NaN or inf has none), so they are compared unpaired"
            )
    seeds = sorted(fa)
    x = np.array([fa[s] for s in seeds] if paired else list(fa.values()))
    y = np.array([fb[s] for s in seeds] if paired else list(fb.values()))
    diff = float(x.mean() - y.mean())
    count = 2 ** len(x) if paired else math.comb(len(x) + len(y), len(x))
    exact = count <= n_perm
    rank_method: Any = (
        stats.PermutationMethod(n_resamples=n_perm, rng=np.random.default_rng(seed)) if exact else None
    )
    if rank_method is None:  # too many arrangements to enumerate: scipy's exact null where it has one
        rank_method = _rank_method(x, y, paired)
        exact = rank_method == "exact"
    rank_test = ("Wilcoxon signed-rank" if paired else "Mann-Whitney U") + (
        ", exact" if exact else ", normal approx."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate inputs are handled and explained below
        if paired:
            d = x - y
            sd = _sd(d)
            diff_ci = _t_interval(diff, sd / math.sqrt(len(d)), len(d) - 1, confidence)
            t_p: float | None = 1.0
            rank_p: float | None = 1.0
            if not d.any():
                notes.append("A and B gave the same value on every seed")
            else:
                t_p = (
                    _p_or_none(float(stats.ttest_rel(x, y).pvalue), "the paired t-test", notes)
                    if sd > 0
                    else None
                )
                if sd == 0:
                    notes.append("the difference is the same on every seed: the t-test is undefined")
                rank_p = _p_or_none(
                    float(stats.wilcoxon(x, y, method=rank_method).pvalue), "the Wilcoxon test", notes
                )
        else:
            res = stats.ttest_ind(x, y, equal_var=False)
            if np.ptp(x) == 0 and np.ptp(y) == 0:
                notes.append("no spread within either side: Welch's t-test is undefined")
                t_p, diff_ci = None, Interval(diff, diff, "Welch t", "no spread within either side")
            else:
                t_p = _p_or_none(float(res.pvalue), "Welch's t-test", notes)
                ci = res.confidence_interval(confidence)
                diff_ci = Interval(float(ci.low), float(ci.high), "Welch t")
            rank_p = _p_or_none(
                float(stats.mannwhitneyu(x, y, alternative="two-sided", method=rank_method).pvalue),
                "the Mann-Whitney test",
                notes,
            )
    perm_p, perm_exact = permutation_test(x, y, paired=paired, n_resamples=n_perm, seed=seed)
    p_gt = p_greater(x, y)
    n_small = min(len(x), len(y))
    if n_small < SMALL_N:
        warned.append(
            f"only {n_small} seeds on one side (n < {SMALL_N}): the tests have little power and the CIs "
            "are wide; see `seedlock power`"
        )
    return Comparison(
        name_a=name_a,
        name_b=name_b,
        paired=paired,
        n_a=len(x),
        n_b=len(y),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        diff=diff,
        diff_ci=diff_ci,
        t_test="paired t" if paired else "Welch t",
        t_p=t_p,
        rank_test=rank_test,
        rank_p=rank_p,
        perm_p=perm_p,
        perm_exact=perm_exact,
        p_gt=p_gt,
        # P(A > B) is about random seeds of each: resample each side on its own, even when paired.
        p_gt_ci=_bootstrap((x, y), _p_gt_stat, p_gt, confidence=confidence, n_boot=n_boot, seed=seed),
        hedges_g=hedges_g(x, y),
        confidence=confidence,
        notes=tuple(notes),
        warnings=tuple(warned),
    )


def _rank_method(x: Array, y: Array, paired: bool) -> str:
    """scipy's exact null distribution where it has one (no ties; Wilcoxon up to 50 pairs without
    zeros, Mann-Whitney with at most 8 on one side, as scipy's "auto"), else the normal one.
    Chosen here, so that the label says which was used (scipy's "auto" does not)."""
    if paired:
        d = np.abs(x - y)
        return "exact" if len(d) <= 50 and d.all() and len(np.unique(d)) == len(d) else "approx"
    pooled = np.concatenate([x, y])
    no_ties = len(np.unique(pooled)) == len(pooled)
    return "exact" if no_ties and min(len(x), len(y)) <= 8 else "asymptotic"


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the order given; None stays None (and is not counted).

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    for p in pvalues:
        if p is not None and not 0 <= p <= 1:
            raise ValueError(f"p-values must be in [0, 1], got {p}")
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        out[i] = round(running, 15)  # 3 * 0.01 is 0.030000000000000002
    return out


def compare_many(
    a: Mapping[str, Mapping[int, float]], b: Mapping[str, Mapping[int, float]], **kwargs: Any
) -> dict[str, Comparison]:
    """:func:`compare` every metric of ``a`` (``{metric: {seed: value}}``) with ``b``, Holm-adjusting
    each family of p-values (t, rank, permutation) across the metrics."""
    missing = [m for m in a if m not in b]
    if missing:
        raise SeedlockError(f"metrics {missing} are missing on the B side; compare only metrics both have")
    out = {m: compare(a[m], b[m], **kwargs) for m in a}
    names = list(out)
    fields = {f: holm([getattr(out[m], f) for m in names]) for f in ("t_p", "rank_p", "perm_p")}
    return {
        m: replace(
            out[m],
            t_p_holm=fields["t_p"][i],
            rank_p_holm=fields["rank_p"][i],
            perm_p_holm=fields["perm_p"][i],
        )
        for i, m in enumerate(names)
    }
