"""The estimators under :mod:`seedlock.repeat.stats`: intervals (t, bootstrap), and mean, SD and
IQM that hold for equal values and for values near the float limit."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Interval:
    """A confidence interval; ``low``/``high`` are None when it cannot be computed, and ``note`` says why."""

    low: float | None
    high: float | None
    method: str
    note: str = ""


def _finite(values: Iterable[float]) -> tuple[Array, int]:
    x = np.asarray(list(values), dtype=float)
    keep = np.isfinite(x)
    return x[keep], int((~keep).sum())


def _t_interval(estimate: float, se: float | None, df: int, confidence: float) -> Interval:
    if se is None:
        return Interval(None, None, "t", "undefined for a single value")
    if se == 0:
        return Interval(estimate, estimate, "t", "every value is the same: no spread")
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, df)) * se
    return Interval(estimate - half, estimate + half, "t")


def _median(x: Array, axis: int = -1) -> Array:
    return np.median(x, axis=axis)


def _scale(x: Array) -> float:
    """A power of two to divide values near the float limit by (their sum or squares overflow)."""
    top = float(np.max(np.abs(x))) if len(x) else 0.0
    return 2.0 ** (math.frexp(top)[1] - 10) if top > 1e300 else 1.0  # values then below 1024


def _mean(x: Array) -> float:
    """Exactly the value for equal values (np.mean of six 0.7s is 0.7000000000000001)."""
    return float(x[0]) if np.ptp(x) == 0 else float(np.mean(x))


def _sd(x: Array) -> float:
    """ddof=1; exactly 0 for equal values (np.std of six 0.7s is 1.2e-16)."""
    return 0.0 if np.ptp(x) == 0 else float(np.std(x, ddof=1))


def _iqm(x: Array, axis: int = -1) -> Array:
    from scipy.stats import trim_mean

    return np.asarray(trim_mean(x, 0.25, axis=axis))


def _bootstrap(
    data: tuple[Array, ...],
    statistic: Callable[..., Array],
    point: float,
    *,
    confidence: float,
    n_boot: int,
    seed: int,
) -> Interval:
    """BCa, falling back to percentile, falling back to the point estimate; the note says which and why."""
    if min(len(d) for d in data) < 2:
        return Interval(None, None, "bootstrap", "undefined for a single value")
    if all(np.ptp(d) == 0 for d in data) and len({float(d[0]) for d in data}) == 1:
        return Interval(point, point, "none", "every value is the same: the interval is the point estimate")
    from scipy.stats import bootstrap

    cells = math.prod(len(d) for d in data) if len(data) > 1 else len(data[0])
    batch = max(1, min(n_boot, 20_000_000 // max(cells, 1)))  # bounded memory for P(A > B)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled below, said in the note
            try:
                res = bootstrap(
                    data,
                    statistic,
                    n_resamples=n_boot,
                    confidence_level=confidence,
                    method=method,
                    vectorized=True,
                    batch=batch,
                    rng=np.random.default_rng(seed),
                )
                low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
            except (ValueError, FloatingPointError):
                continue
        if math.isfinite(low) and math.isfinite(high):
            note = (
                ""
                if method == "BCa"
                else "BCa is undefined for these values (too few distinct ones); percentile"
            )
            if low == high:
                note = "every resample gave the same value"
            return Interval(low, high, f"{method} bootstrap", note)
    return Interval(
        point, point, "none", "bootstrap undefined for these values: the interval is the point estimate"
    )


def _scaled(interval: Interval, k: float) -> Interval:
    if k == 1.0:
        return interval
    return replace(
        interval,
        low=None if interval.low is None else interval.low * k,
        high=None if interval.high is None else interval.high * k,
    )


def _skewness(x: Array) -> float | None:
    """Sample skewness G1 (scipy's, bias-corrected); None below 3 values or without spread."""
    if len(x) < 3 or np.ptp(x) == 0:
        return None
    from scipy.stats import skew

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-equal values: scipy warns of lost precision
        g = float(skew(x, bias=False))
    return g if math.isfinite(g) else None


def _strongly_skewed(g: float | None, n: int) -> bool:
    """Beyond ±1 (a common rule for "highly skewed") and beyond twice G1's standard error under
    normality, so that 10 normal values are flagged about 5 % of the time, not 14 %."""
    if g is None:
        return False
    se = math.sqrt(6 * n * (n - 1) / ((n - 2) * (n + 1) * (n + 3)))
    return abs(g) > max(1.0, 2 * se)


def _t_caveat(x: Array, ci: Interval, skewness: float | None) -> tuple[tuple[str, ...], str | None]:
    """Flags on the t interval of the mean, and the warning that says them: ``"crosses_zero"`` when
    it reaches past 0 to a side no value is on (an MSE, a loss, a count), ``"skewed"`` when the
    values are strongly skewed, the case where a t interval from a few seeds is least trusted.

    The numbers are not changed: the warning points to the bootstrap intervals instead.

    >>> mse = np.array([2.7e-08, 3e-6, 4e-5, 2e-4, 1e-3, 2e-3, 8e-3, 0.02, 0.06, 0.19])
    >>> _t_caveat(mse, Interval(-0.0147, 0.0710, "t"), _skewness(mse))[0]
    ('crosses_zero', 'skewed')
    """
    if ci.low is None or ci.high is None or ci.low == ci.high:
        return (), None
    flags: list[str] = []
    why: list[str] = []
    if ci.low < 0 <= float(x.min()):
        flags.append("crosses_zero")
        why.append("reaches below 0 though no value is below 0")
    elif ci.high > 0 >= float(x.max()):
        flags.append("crosses_zero")
        why.append("reaches above 0 though no value is above 0")
    if _strongly_skewed(skewness, len(x)):
        flags.append("skewed")
        why.append(f"comes from strongly skewed values (skewness {skewness:.3g})")
    if not flags:
        return (), None
    return tuple(flags), (
        f"the t CI of the mean, [{ci.low:.4g}, {ci.high:.4g}], {' and '.join(why)}: it assumes a roughly "
        "normal mean, which these values do not give; read the bootstrap CIs of the median and IQM "
        "instead, which stay within the values"
    )
