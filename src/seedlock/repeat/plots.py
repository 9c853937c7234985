"""PNG plots of a metric over seeds: strip + box plot, histogram, and per-step curves with a 95 % CI band.

Every function takes plain data keyed by experiment name, writes one PNG into ``out_dir`` and
returns its path. Figures are drawn on matplotlib's Agg canvas directly, without pyplot: nothing
global changes (a notebook's backend stays as it was) and no display is needed. The strip jitter
is seeded, so the same data give the same picture.

>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> strip_box({"baseline": {0: 0.91, 1: 0.93, 2: 0.92}}, "acc", out).suffix
'.png'
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Values = Mapping[str, Mapping[int, float]]  # experiment -> seed -> value
Curves = Mapping[str, Mapping[int, Sequence[tuple[int, float]]]]  # experiment -> seed -> [(step, value)]


def _file(out_dir: str | os.PathLike[str], kind: str, metric: str) -> Path:
    """A safe, collision-free file name for a user-chosen metric name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", metric).strip("._")[:40] or "metric"
    digest = hashlib.blake2b(metric.encode("utf-8"), digest_size=4).hexdigest()
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{kind}-{slug}-{digest}.png"


def _text(name: str, limit: int = 40) -> str:
    """A user string as plain text: a ``$`` would otherwise start matplotlib's math mode."""
    short = name if len(name) <= limit else name[: limit - 1] + "…"
    return short.replace("$", r"\$")


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(_text(title, 80))
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _finite(values: Mapping[int, float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    x = np.asarray(list(values.values()), dtype=float)
    return x[np.isfinite(x)]


def strip_box(values: Values, metric: str, out_dir: str | os.PathLike[str]) -> Path:
    """A box plot per experiment with every seed drawn on top as a point (jittered sideways)."""
    fig, ax = _figure(f"{metric}: one point per seed")
    rng = np.random.default_rng(0)
    names = list(values)
    data = [_finite(values[name]) for name in names]
    ax.boxplot(
        data, positions=range(1, len(names) + 1), widths=0.5, showfliers=False, medianprops={"color": "black"}
    )
    for i, x in enumerate(data, start=1):
        ax.scatter(
            i + rng.uniform(-0.12, 0.12, len(x)), x, s=18, alpha=0.75, color=f"C{(i - 1) % 10}", zorder=3
        )
    ax.set_xticks(
        range(1, len(names) + 1), [f"{_text(n, 24)}\nn={len(x)}" for n, x in zip(names, data, strict=True)]
    )
    ax.set_ylabel(_text(metric))
    return _save(fig, _file(out_dir, "strip", metric))


def histogram(values: Values, metric: str, out_dir: str | os.PathLike[str]) -> Path:
    """Overlaid histograms of the metric, one per experiment, on shared bins."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(f"{metric}: distribution over seeds")
    data = {name: _finite(v) for name, v in values.items()}
    pooled = np.concatenate([x for x in data.values() if len(x)] or [np.zeros(1)])
    bins = np.histogram_bin_edges(pooled, bins=min(30, max(5, int(math.sqrt(len(pooled))) * 2)))
    if bins[0] == bins[-1]:  # every value equal: give the one bar some width
        bins = np.linspace(bins[0] - 0.5, bins[0] + 0.5, 6)
    for i, (name, x) in enumerate(data.items()):
        ax.hist(x, bins=bins.tolist(), alpha=0.5, color=f"C{i % 10}", label=f"{_text(name, 30)} (n={len(x)})")
    ax.set_xlabel(_text(metric))
    ax.set_ylabel("seeds")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return _save(fig, _file(out_dir, "hist", metric))


def mean_band(
    seeds: Mapping[int, Sequence[tuple[int, float]]], confidence: float = 0.95
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per step: the mean over the seeds that reported it and its t confidence interval (the mean itself
    where fewer than two seeds did).

    >>> mean_band({0: [(1, 1.0), (2, 2.0)], 1: [(1, 3.0), (2, 2.0)]})[:2]
    ([1, 2], [2.0, 2.0])
    """
    from scipy.stats import t

    by_step: dict[int, list[float]] = {}
    for points in seeds.values():
        for step, value in points:
            if math.isfinite(value):
                by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    means, lows, highs = [], [], []
    for step in steps:
        x = np.asarray(by_step[step])
        mean = float(x.mean())
        half = (
            float(t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
            if len(x) > 1
            else 0.0
        )
        means.append(mean)
        lows.append(mean - half)
        highs.append(mean + half)
    return steps, means, lows, highs


def curves(data: Curves, metric: str, out_dir: str | os.PathLike[str]) -> Path:
    """Each seed's curve (thin), and per experiment the mean over seeds with its 95 % CI band."""
    fig, ax = _figure(f"{metric} per step: seeds, mean and 95 % CI")
    for i, (name, seeds) in enumerate(data.items()):
        color = f"C{i % 10}"
        for points in seeds.values():
            if points:
                steps, vals = zip(*points, strict=True)
                ax.plot(steps, vals, color=color, alpha=0.25, linewidth=0.8)
        steps_m, means, lows, highs = mean_band(seeds)
        if steps_m:
            ax.plot(
                steps_m, means, color=color, linewidth=2, label=f"{_text(name, 30)} (mean of {len(seeds)})"
            )
            ax.fill_between(steps_m, lows, highs, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("step")
    ax.set_ylabel(_text(metric))
    if data:
        ax.legend(fontsize="small")
    return _save(fig, _file(out_dir, "curves", metric))


def plot_metric(
    values: Values, curve_data: Curves | None, metric: str, out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Every plot that applies to one metric: strip + box and histogram, and the curves when it has steps."""
    paths = [strip_box(values, metric, out_dir), histogram(values, metric, out_dir)]
    if curve_data and any(points for seeds in curve_data.values() for points in seeds.values()):
        paths.append(curves(curve_data, metric, out_dir))
    return paths
