"""Traces: what a run records step by step (weights' digests, metrics, stdout), how it is read,
compared, and written by the torch and Keras hooks and the auto-instrumentation of ``seedlock run``.

>>> import seedlock.trace
>>> seedlock.trace.is_active()
False

Names load on first use (numpy and the writer are not needed to import a submodule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

# submodule -> the names it gives this package: the one list (__all__ and __dir__ derive from it)
_LAZY = {
    "tracefile": [
        "FORMAT_VERSION",
        "Metric",
        "NotATrace",
        "Record",
        "Trace",
        "TraceWriter",
        "active",
        "as_metric",
        "final",
        "is_active",
        "metric_values",
        "open_writer",
        "read_trace",
        "record",
        "start",
        "stop",
    ],
    "compare": ["Divergence", "compare_traces", "ulp_distance"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=_LAZY)

if TYPE_CHECKING:  # for type checkers; tests/test_layout.py keeps it equal to _LAZY
    from seedlock.trace.compare import Divergence, compare_traces, ulp_distance
    from seedlock.trace.tracefile import (
        FORMAT_VERSION,
        Metric,
        NotATrace,
        Record,
        Trace,
        TraceWriter,
        active,
        as_metric,
        final,
        is_active,
        metric_values,
        open_writer,
        read_trace,
        record,
        start,
        stop,
    )
