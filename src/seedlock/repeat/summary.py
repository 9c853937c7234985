"""One metric of one experiment over its seeds, summarised: :func:`describe` (mean with a t CI, SD,
SEM, median and IQM with bootstrap CIs, IQR, range) and :func:`fmt` for tables. Part of
:mod:`seedlock.repeat.stats`, which exports both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seedlock.errors import SeedlockError
from seedlock.repeat.estimators import (
    Interval,
    _bootstrap,
    _finite,
    _iqm,
    _mean,
    _median,
    _scale,
    _scaled,
    _sd,
    _skewness,
    _t_caveat,
    _t_interval,
)

SMALL_N = 5


@dataclass(frozen=True)
class Summary:
    """What :func:`describe` found: every statistic, its CIs, and every raw value."""

    n: int
    mean: float
    sd: float | None  # ddof=1; None for n = 1
    sem: float | None
    median: float
    q1: float
    q3: float
    iqr: float
    iqm: float  # interquartile mean: the 25 % trimmed mean (rliable)
    min: float
    max: float
    mean_ci: Interval  # Student t
    median_ci: Interval  # bootstrap
    iqm_ci: Interval  # bootstrap
    confidence: float
    values: tuple[float, ...]
    warnings: tuple[str, ...] = ()
    skewness: float | None = None  # G1, bias-corrected; None below 3 values or without spread
    # Why not to trust mean_ci (which is never altered): "crosses_zero", "skewed"; see _t_caveat.
    mean_ci_flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(x: float | None, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits, ``-`` for None.

    >>> fmt(0.912345), fmt(None), fmt(12345.6)
    ('0.9123', '-', '1.235e+04')
    """
    return "-" if x is None else f"{x:.{digits}g}"


def describe(
    values: Iterable[float] | Mapping[int, float],
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Summary:
    """Summarise one metric over seeds: mean (t CI), SD, SEM, median and IQM (BCa bootstrap CIs), IQR, range.

    The bootstrap has a generator of its own seeded with ``seed``: the same values give the same
    CIs every time. NaN and infinite values are left out, with a warning; so is a small sample.

    >>> s = describe([1, 1, 2, 2, 3, 3])
    >>> s.mean, s.median, s.iqm, s.n
    (2.0, 2.0, 2.0, 6)
    >>> s.mean_ci.low < 2.0 < s.mean_ci.high
    True
    """
    if not 0 < confidence < 1:
        raise SeedlockError(f"confidence must be between 0 and 1, got {confidence}; pass e.g. 0.95")
    x, dropped = _finite(values.values() if isinstance(values, Mapping) else values)
    notes: list[str] = []
    if dropped:
        notes.append(f"{dropped} value(s) were NaN or infinite and are left out")
    n = len(x)
    if n == 0:
        raise SeedlockError("no finite values to summarise; check that the trials report this metric")
    if n < SMALL_N:
        notes.append(
            f"only {n} value(s) (n < {SMALL_N}): the CIs are rough, the bootstrap ones especially; "
            "run more seeds (see `seedlock power`)"
        )
    k = _scale(x)  # 1, but for values near the float limit: computed on x / k, then scaled back
    xs = x / k
    mean, median = _mean(xs), float(np.median(xs))
    q1, q3 = (float(q) for q in np.percentile(xs, [25, 75]))
    iqm = float(_iqm(xs))
    sd = _sd(xs) if n > 1 else None
    sem = sd / math.sqrt(n) if sd is not None else None
    mean_ci = _scaled(_t_interval(mean, sem, n - 1, confidence), k)
    skewness = _skewness(xs)
    flags, caveat = _t_caveat(x, mean_ci, skewness)
    if caveat:
        notes.append(caveat)
    return Summary(
        n=n,
        mean=mean * k,
        sd=None if sd is None else sd * k,
        sem=None if sem is None else sem * k,
        median=median * k,
        q1=q1 * k,
        q3=q3 * k,
        iqr=(q3 - q1) * k,
        iqm=iqm * k,
        min=float(x.min()),
        max=float(x.max()),
        mean_ci=mean_ci,
        median_ci=_scaled(
            _bootstrap((xs,), _median, median, confidence=confidence, n_boot=n_boot, seed=seed), k
        ),
        iqm_ci=_scaled(_bootstrap((xs,), _iqm, iqm, confidence=confidence, n_boot=n_boot, seed=seed), k),
        confidence=confidence,
        values=tuple(float(v) for v in x),
        warnings=tuple(notes),
        skewness=skewness,
        mean_ci_flags=flags,
    )
