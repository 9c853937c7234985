"""No REPRODUCIBLE on stdout alone when the runs held weights seedlock could not read.

A traced run that fingerprinted nothing notes, in its stdout record, how many trainable
TensorFlow variables were alive at exit (``unseen_weights``: a ``tf.Variable`` outside any Keras
or tf-keras model and any TF1 session). Equal stdout then says nothing about those weights.

>>> message(3)[:60]
'no verdict: the runs printed the same stdout, but each held '
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seedlock.errors import SeedlockError

if TYPE_CHECKING:
    from seedlock.verify.runner import RunResult


def message(count: int) -> str:
    return (
        f"no verdict: the runs printed the same stdout, but each held {count} trainable TensorFlow "
        "variable(s) seedlock could not fingerprint (not in a Keras or tf-keras model, nor in a TF1 "
        "session), so no weights were compared; record them, e.g. seedlock.trace.record(step, "
        "w=variable.numpy()), or print seedlock.fingerprint.fingerprint([...]).digest"
    )


def no_verdict_if_unseen(result: RunResult, tensors: int) -> None:
    """Raise when no tensor was compared and ``result``'s run held weights it could not read."""
    if tensors:
        return
    from seedlock.trace import NotATrace, read_trace

    try:
        records = read_trace(result.trace).records
    except (NotATrace, OSError):
        return
    count = max((int(r.extra.get("unseen_weights") or 0) for r in records if r.kind == "stdout"), default=0)
    if count:
        raise SeedlockError(message(count))
