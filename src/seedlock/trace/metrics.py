"""Metrics a script reports to ``seedlock repeat``: :func:`log_metric`.

``seedlock repeat`` gives every trial a metrics file in ``$SEEDLOCK_METRICS``; each call appends
one JSON line to it, flushed at once, so a trial that crashes later keeps what it reported::

    {"name": "val_acc", "step": 3, "value": 0.91}

Outside ``seedlock repeat`` (the variable unset) :func:`log_metric` does nothing, and says so
once. Nothing here imports a framework: values are turned into numbers with ``float()``.
"""

from __future__ import annotations

import json
import operator
import os
import sys
from typing import IO, Any

from seedlock.config import ENV_METRICS, ENV_METRICS_RANKS, rank_label
from seedlock.errors import SeedlockError

_warned = False
_out: tuple[str, int, IO[str]] | None = None  # (path, pid, file): a forked child reopens its own


def _number(name: str, value: Any) -> float:
    try:
        return float(value)  # Python and NumPy numbers, 0-d arrays and tensors of TF, torch, JAX
    except (TypeError, ValueError):
        raise SeedlockError(
            f"metric {name!r}: value must be a number, got {type(value).__name__} {value!r:.60}; "
            "pass a float, e.g. log_metric('acc', float(acc))"
        ) from None


def _step(name: str, step: Any) -> int | None:
    if step is None:
        return None
    if isinstance(step, float) and step.is_integer():
        return int(step)
    try:
        if isinstance(step, bool):
            raise TypeError
        return operator.index(step)  # int, NumPy integers
    except TypeError:
        raise SeedlockError(
            f"metric {name!r}: step must be an int or None, got {step!r}; pass e.g. step=epoch"
        ) from None


def _file(path: str) -> IO[str]:
    global _out
    if _out is None or _out[0] != path or _out[1] != os.getpid() or _out[2].closed:
        _out = (path, os.getpid(), open(path, "a", encoding="utf-8"))  # noqa: SIM115 - kept for the next call
    return _out[2]


def _write(path: str, rows: list[tuple[str, int | None, float]]) -> None:
    # A metric every rank logs is one result, not N: rank 0's is stored, unless asked for all
    # (`repeat --all-ranks`), and then rank r's as NAME@rankR.
    rank = rank_label(os.environ)
    if rank is not None and any(part != "0" for part in rank.split(".")):
        if os.environ.get(ENV_METRICS_RANKS) != "all":
            return
        rows = [(f"{n}@rank{rank}", s, v) for n, s, v in rows]
    # NaN and infinities are written as JSON's NaN/Infinity, which json.loads reads back.
    f = _file(path)
    f.write("".join(json.dumps({"name": n, "step": s, "value": v}) + "\n" for n, s, v in rows))
    f.flush()


def _warn_unset() -> None:
    global _warned
    if not _warned:
        _warned = True
        print(
            f"seedlock: warning: log_metric() does nothing here: ${ENV_METRICS} is not set "
            "(it is under `seedlock repeat`)",
            file=sys.stderr,
            flush=True,
        )


def log_metric(name: str, value: Any, step: int | None = None) -> None:
    """Report metric ``name`` = ``value`` (at ``step``, e.g. the epoch) to ``seedlock repeat``.

    A value without a step is the trial's own final figure for that metric; otherwise the
    value at the largest step is (see ``seedlock stats``). Values may be any number: Python,
    NumPy, or a scalar tensor.

    Args:
        name: the metric's name, e.g. ``"val_acc"``.
        value: a number (NaN allowed: ``seedlock stats`` leaves it out, with a warning).
        step: an int, or None for the final value.

    Raises:
        SeedlockError: an empty name, a value that is not a number, a step that is not an int.

    Example:
        >>> import seedlock
        >>> for epoch in range(1, 4):                                 # doctest: +SKIP
        ...     seedlock.log_metric("loss", 1.0 / epoch, step=epoch)
        >>> seedlock.log_metric("test_acc", 0.93)                     # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise SeedlockError(
            f"metric name must be a non-empty string, got {name!r}; pass e.g. log_metric('acc', 0.9)"
        )
    number, at = _number(name, value), _step(name, step)
    path = os.environ.get(ENV_METRICS)
    if not path:
        _warn_unset()
        return
    _write(path, [(name, at, number)])


def log_history(history: Any) -> None:
    """Every key of a Keras ``History`` at every epoch, with ``step`` = the epoch counted from 1.

    Called by ``seedlock run``'s instrumentation after each ``Model.fit`` when
    ``$SEEDLOCK_METRICS`` is set. Values that are not numbers are left out.
    """
    path = os.environ.get(ENV_METRICS)
    logs = getattr(history, "history", None)
    if not path or not isinstance(logs, dict):
        return
    epochs = list(getattr(history, "epoch", None) or [])
    rows: list[tuple[str, int | None, float]] = []
    for key, values in logs.items():
        for i, value in enumerate(values if isinstance(values, list) else []):
            epoch = epochs[i] if i < len(epochs) else i
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            rows.append((str(key), int(epoch) + 1, number))
    if rows:
        _write(path, rows)
