"""The metrics in the store: each ``(name, step, value)`` checked before its trial's transaction
starts, and read back per seed (:class:`MetricReads`, the metric queries of
:class:`~seedlock.repeat.store.Store`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from seedlock.repeat.storefile import TrialStatus

if TYPE_CHECKING:
    from seedlock.repeat.records import Experiment, Trial


class MetricReads:
    """What a store reads of metrics; :class:`~seedlock.repeat.store.Store` gives it ``_read`` and ``_id``."""

    if TYPE_CHECKING:

        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _id(self, exp: Experiment | str) -> int: ...

    def _metric_rows(
        self, exp: Experiment | str, name: str, status: TrialStatus | None
    ) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT t.seed, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id "
            "WHERE t.experiment_id = ? AND m.name = ?"
        )
        params: list[Any] = [self._id(exp), name]
        if status is not None:
            sql += " AND t.status = ?"
            params.append(status)
        return self._read(sql + " ORDER BY t.seed, m.rowid", params)

    def metric_values(
        self, exp: Experiment | str, name: str, final: bool = True, *, status: TrialStatus | None = "ok"
    ) -> dict[int, float]:
        """One value of metric ``name`` per seed, from trials with ``status`` (ok by default).

        ``final=True``: the value reported without a step if there is one (the script's own
        final figure), else the value at the largest step; the last one reported wins a tie.
        ``final=False``: the mean over all reported values (e.g. average return over training).
        NaN values come back as NaN.
        """
        per_seed: dict[int, list[tuple[int | None, float]]] = {}
        for seed, step, value in self._metric_rows(exp, name, status):
            per_seed.setdefault(seed, []).append((step, float("nan") if value is None else value))
        out: dict[int, float] = {}
        for seed, points in per_seed.items():
            if not final:
                out[seed] = sum(v for _, v in points) / len(points)
                continue
            stepless = [v for s, v in points if s is None]
            if stepless:
                out[seed] = stepless[-1]
            else:
                top = max(s for s, _ in points if s is not None)
                out[seed] = [v for s, v in points if s == top][-1]
        return out

    def metric_curves(
        self, exp: Experiment | str, name: str, *, status: TrialStatus | None = "ok"
    ) -> dict[int, list[tuple[int, float]]]:
        """Per seed, the ``(step, value)`` points of metric ``name`` in step order (step-less values left out)."""
        curves: dict[int, list[tuple[int, float]]] = {}
        for seed, step, value in self._metric_rows(exp, name, status):
            if step is not None:
                curves.setdefault(seed, []).append((step, float("nan") if value is None else value))
        return {seed: sorted(points, key=lambda p: p[0]) for seed, points in curves.items()}

    def trial_metrics(self, trial: Trial) -> list[tuple[str, int | None, float | None]]:
        """Every ``(name, step, value)`` the trial reported, in the order it reported them (NaN: None)."""
        return [
            (r[0], r[1], r[2])
            for r in self._read(
                "SELECT name, step, value FROM metrics WHERE trial_id = ? ORDER BY rowid", (trial.id,)
            )
        ]

    def metric_names(self, exp: Experiment | str, *, status: TrialStatus | None = "ok") -> list[str]:
        """The names of the metrics reported by trials of ``exp`` with ``status`` (ok by default), sorted."""
        sql = "SELECT DISTINCT m.name FROM metrics m JOIN trials t ON t.id = m.trial_id WHERE t.experiment_id = ?"
        params: list[Any] = [self._id(exp)]
        if status is not None:
            sql += " AND t.status = ?"
            params.append(status)
        return sorted(r[0] for r in self._read(sql, params))


def metric_row(metric: tuple[str, int | None, float]) -> tuple[str, int | None, float | None]:
    """Validate one ``(name, step, value)`` before the transaction starts."""
    try:
        name, step, value = metric
    except (TypeError, ValueError):
        raise ValueError(f"a metric must be (name, step or None, value), got {metric!r}") from None
    if not isinstance(name, str) or not name:
        raise ValueError(f"a metric name must be a non-empty string, got {name!r}")
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ValueError(f"metric {name!r}: step must be an int or None, got {step!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r}: value must be a number, got {value!r}") from None
    return name, step, None if number != number else number  # NaN is stored as NULL
