"""Keras callbacks that write a seedlock trace: ``Trace`` (Keras 3, any backend) and
``TFKerasTrace`` (tf-keras).

In a training script (``model``, ``x`` and ``y`` are yours)::

    import seedlock.keras
    model.fit(x, y, epochs=3, callbacks=[seedlock.keras.Trace("run.jsonl", every="batch")])
    seedlock.trace.compare_traces("run.jsonl", "rerun.jsonl")             # None: bitwise equal

Each record has the logs' loss and metrics and the digest of every model weight, named by
its variable path; epoch records add the optimizer's variables; at the end of ``fit`` a
``"final"`` record holds the full fingerprint (``digest == fingerprint(model).digest``) and,
with ``values=True``, the arrays themselves for max-abs and ULP distances.

The classes subclass ``keras.callbacks.Callback``, so they are made on first access, which
imports Keras: importing this module does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.fingerprint.leaves import leaf_of
from seedlock.trace import tracefile as trace

_classes: dict[str, type] = {}


class _TraceCallback:
    """What the callbacks do; the Keras base class comes after it in the MRO."""

    framework = "keras"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        every: str = "epoch",
        *,
        optimizer: bool = True,
        values: bool = True,
    ) -> None:
        super().__init__()
        if every not in ("epoch", "batch"):
            raise SeedlockError(f"every must be 'epoch' or 'batch', got {every!r}")
        if path is None and not trace.is_active():
            raise SeedlockError(
                "no trace path: pass one, e.g. Trace('run.trace.jsonl'), or run under `seedlock run --trace PATH`"
            )
        self.path = path
        self.every = every
        self.optimizer_state = optimizer
        self.values = values
        self._writer: trace.TraceWriter | None = None
        self._epoch: int | None = None
        self._epoch_step: int | None = None
        if every == "batch":
            # An instance attribute, so that at epoch granularity on_train_batch_end stays Keras's
            # own no-op: Keras then keeps dispatching batches asynchronously, and we cost nothing.
            self.on_train_batch_end = self._batch_end

    # --- framework-specific, overridden for tf-keras -------------------------------------------

    def _current_model(self) -> Any:
        return self.model  # type: ignore[attr-defined]  # Keras 3's property syncs JAX state

    def _meta(self) -> dict[str, Any]:
        import keras

        return {"keras": keras.__version__, "backend": keras.backend.backend()}

    def _weights(self, model: Any) -> dict[str, Any]:
        return {v.path: v.value for v in model.weights}

    def _optimizer_variables(self, model: Any) -> dict[str, Any]:
        opt = getattr(model, "optimizer", None)
        if opt is None or not getattr(opt, "built", False):
            return {}
        return {v.path: v.value for v in opt.variables}

    def _step(self, model: Any) -> int | None:
        opt = getattr(model, "optimizer", None)
        leaf = None if opt is None else leaf_of(opt.iterations)  # 20x cheaper than int(np.asarray(...)) on TF
        return None if leaf is None else int(leaf.data.reshape(-1)[0])

    # --- callback hooks ------------------------------------------------------------------------

    def _open(self) -> trace.TraceWriter:
        if self._writer is None:
            from seedlock._version import __version__

            header: dict[str, Any] = {
                "framework": self.framework,
                "granularity": self.every,
                "meta": {**self._meta(), "seedlock": __version__},
            }
            if self.path is None:
                self._writer = trace.active(**header)
            elif not trace.is_active():
                self._writer = trace.start(self.path, **header)  # record() calls join this trace
            else:
                self._writer = trace.open_writer(self.path, **header)
            if self._writer is None:  # $SEEDLOCK_TRACE unset since __init__
                raise SeedlockError("no active trace; pass a path to the Trace callback")
        return self._writer

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._open()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch
        if self.every == "batch":
            self._epoch_step = self._step(self._current_model())

    def _batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # Keras's batch index is the last batch done (it jumps with steps_per_execution), so the
        # step needs no read of optimizer.iterations, which costs as much as hashing a weight.
        step = None if self._epoch_step is None else self._epoch_step + batch + 1
        model = self._current_model()
        self._open().write(
            "batch",
            step=step,
            epoch=self._epoch,
            batch=batch,
            metrics=trace.metric_values(logs),
            tensors=self._weights(model),
        )

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        model = self._current_model()
        tensors = self._weights(model)
        if self.optimizer_state:
            tensors.update(self._optimizer_variables(model))
        self._open().write(
            "epoch", step=self._step(model), epoch=epoch, metrics=trace.metric_values(logs), tensors=tensors
        )

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        model = self._current_model()
        tensors = {**self._weights(model), **self._optimizer_variables(model)}
        self._open().final(
            tensors,
            values=self.values,
            step=self._step(model),
            epoch=self._epoch,
            metrics=trace.metric_values(logs),
        )


class _TFKerasTraceCallback(_TraceCallback):
    framework = "tf_keras"

    def _meta(self) -> dict[str, Any]:
        import tf_keras

        return {"tf_keras": tf_keras.__version__}

    def _weights(self, model: Any) -> dict[str, Any]:
        return _values({v.name: v for v in model.weights})

    def _optimizer_variables(self, model: Any) -> dict[str, Any]:
        opt = getattr(model, "optimizer", None)
        if opt is None:
            return {}
        variables = opt.variables
        return _values({v.name: v for v in (variables() if callable(variables) else variables)})

    def _step(self, model: Any) -> int | None:
        opt = getattr(model, "optimizer", None)
        if opt is None or _eager():
            return super()._step(model)
        return int(_values({"i": opt.iterations})["i"])


def _eager() -> bool:
    import tensorflow as tf

    return bool(tf.compat.v1.executing_eagerly_outside_functions())


def _values(variables: dict[str, Any]) -> dict[str, Any]:
    """Eager variables as they are; graph variables (after ``disable_eager_execution``) read
    through tf-keras's session, where their values live."""
    if not variables or _eager():
        return variables
    import tf_keras

    return dict(zip(variables, tf_keras.backend.batch_get_value(list(variables.values())), strict=True))


_DOC = """Trace a ``fit``: a record per epoch (``every="epoch"``) or per batch and epoch
(``every="batch"``), and a ``"final"`` record at the end. See :mod:`seedlock.trace.keras_callbacks`.

Args:
    path: the trace file; ``None`` uses the active trace (``seedlock run --trace PATH``).
    every: ``"epoch"`` or ``"batch"``.
    optimizer: add the optimizer's variables to epoch records (the final record always has them).
    values: save the final arrays next to the trace, for max-abs and ULP distances.
"""


def _build(name: str) -> type:
    cls = _classes.get(name)
    if cls is None:
        if name == "Trace":
            import keras

            bases: tuple[type, ...] = (_TraceCallback, keras.callbacks.Callback)
        else:
            import tf_keras

            bases = (_TFKerasTraceCallback, tf_keras.callbacks.Callback)
        cls = _classes[name] = type(name, bases, {"__module__": __name__, "__doc__": _DOC})
    return cls


def __getattr__(name: str) -> Any:
    if name in ("Trace", "TFKerasTrace"):
        return _build(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
