"""Reading back what a trial reported: its metrics file and JSON lines on its stdout.

A trial reports metrics three ways, all stored alike as ``(name, step or None, value)``:

* ``seedlock.log_metric(name, value, step=None)``: a line ``{"name": ..., "step": ..., "value": ...}``
  in ``$SEEDLOCK_METRICS``;
* Keras ``fit``: every ``History`` key per epoch, written to the same file by the instrumentation;
* its stdout: a line that is a JSON object whose values are all numbers, with an optional
  integer ``"step"``, e.g. ``{"step": 3, "loss": 0.25, "acc": 0.9}``.

>>> parse_stdout('epoch 1\\n{"step": 1, "loss": 0.5}\\n{"acc": 0.9}\\n{"note": "x"}\\n')
[('loss', 1, 0.5), ('acc', None, 0.9)]
"""

from __future__ import annotations

import json
import os
from typing import Any

Metric = tuple[str, int | None, float]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _as_step(v: Any) -> int | None | bool:
    """The step as an int, None when absent; False when it is not a whole number."""
    if v is None:
        return None
    if _is_number(v) and float(v).is_integer():
        return int(v)
    return False


def parse_line(line: str) -> list[Metric]:
    """The metrics in one stdout line, or ``[]`` when it is not a JSON object of numbers."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return []
    try:
        obj = json.loads(text)
    except ValueError:
        return []
    if not isinstance(obj, dict) or not obj:
        return []
    step = _as_step(obj.pop("step", None))
    if step is False or not obj or not all(_is_number(v) and k for k, v in obj.items()):
        return []
    return [(str(k), step if isinstance(step, int) else None, float(v)) for k, v in obj.items()]


def parse_stdout(text: str) -> list[Metric]:
    """Every metric line of a trial's stdout, in order."""
    out: list[Metric] = []
    for line in text.splitlines():
        if "{" in line:  # most lines are not JSON: skip them cheaply
            out.extend(parse_line(line))
    return out


def read_file(path: str | os.PathLike[str]) -> list[Metric]:
    """The lines :func:`seedlock.log_metric` wrote; a malformed line (cut by a kill) is skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out: list[Metric] = []
    for line in lines:
        try:
            obj = json.loads(line)
            name, value, step = obj["name"], obj["value"], _as_step(obj.get("step"))
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(name, str) and name and _is_number(value) and step is not False:
            out.append((name, step if isinstance(step, int) else None, float(value)))
    return out
