"""One record of a trace (a line of JSON) and its metric values, encoded to read back bit for
bit; :mod:`seedlock.trace` writes and reads whole traces of them."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import SeedlockError

_FIELDS = ("kind", "step", "epoch", "batch", "metrics", "tensors", "grads", "values")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class NotATrace(SeedlockError, ValueError):
    """A file that is not a (readable) seedlock trace."""


Metric = float | int


@dataclass(frozen=True)
class Record:
    """One line of a trace. ``line`` is its 1-based line number in the file (0 if not read)."""

    kind: str
    step: int | None = None
    epoch: int | None = None
    batch: int | None = None
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    tensors: Mapping[str, str] = field(default_factory=dict)
    grads: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def where(self) -> str:
        """``"batch record at epoch 1, batch 4, step 12"``: the record's place in the run."""
        at = ", ".join(
            f"{k} {v}"
            for k, v in (("epoch", self.epoch), ("batch", self.batch), ("step", self.step))
            if v is not None
        )
        return f"{self.kind} record" + (f" at {at}" if at else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "metrics": {k: _encode_metric(v) for k, v in self.metrics.items()},
            "tensors": dict(self.tensors),
        }
        if self.grads:
            out["grads"] = dict(self.grads)
        if self.values is not None:
            out["values"] = dict(self.values)
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], line: int = 0) -> Record:
        if not isinstance(data, Mapping):
            raise ValueError("not a JSON object")
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise ValueError("no 'kind'")
        for key in ("step", "epoch", "batch"):
            if not isinstance(data.get(key), int | None) or isinstance(data.get(key), bool):
                raise ValueError(f"{key!r} is {data.get(key)!r}, not an integer or null")
        maps = {k: data.get(k) or {} for k in ("metrics", "tensors", "grads")}
        if not all(isinstance(m, dict) for m in maps.values()):
            raise ValueError("metrics, tensors and grads must be objects")
        return cls(
            kind,
            data.get("step"),
            data.get("epoch"),
            data.get("batch"),
            {k: _decode_metric(v) for k, v in maps["metrics"].items()},
            maps["tensors"],
            maps["grads"],
            data.get("values"),
            {k: v for k, v in data.items() if k not in _FIELDS},
            line,
        )


_NAN_BITS = struct.pack("<d", math.nan)


def _encode_metric(value: Metric) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        bits = struct.pack("<d", value)
        if value != value and bits != _NAN_BITS:  # a NaN of another sign or payload: keep its bits
            return f"nan:{bits.hex()}"
        return repr(value)  # 'nan', 'inf', '-inf': strict JSON has no such numbers
    return value  # json writes floats with repr: they read back bit for bit


def _decode_metric(value: Any) -> Any:
    if isinstance(value, str):
        if value in _NONFINITE:
            return _NONFINITE[value]
        if value.startswith("nan:"):
            with contextlib.suppress(ValueError, struct.error):
                return float(struct.unpack("<d", bytes.fromhex(value[4:]))[0])
    return value


def as_metric(value: Any) -> Metric:
    """A metric value as a Python int or float (bools as ints); TypeError for non-scalars."""
    if hasattr(value, "item") and not isinstance(value, int | float):  # numpy, torch, jax scalars
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    raise TypeError(f"metric values must be scalars, got {type(value).__name__}")


def metric_values(logs: Mapping[str, Any] | None) -> dict[str, Metric]:
    """The scalar entries of a logs dict as numbers; others (arrays, strings) are left out.

    >>> import numpy as np
    >>> metric_values({"loss": np.float32(0.5), "name": "x"})
    {'loss': 0.5}
    """
    out: dict[str, Metric] = {}
    for k, v in (logs or {}).items():
        try:
            out[str(k)] = as_metric(v)
        except (TypeError, ValueError, RuntimeError):  # arrays, strings: not metrics
            continue
    return out
