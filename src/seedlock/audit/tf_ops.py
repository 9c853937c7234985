"""The TensorFlow side of :mod:`seedlock.audit`: record a refused op, run it again, go on.

Op determinism stays on. TensorFlow refuses some ops under it: kernels raise (on CPU in TF
2.21: ``Timestamp``, and random ops without a seed such as ``tf.raw_ops.RandomUniform``; on
GPU, the kernels with no deterministic version) and some Python functions check first
(``tf.image.sample_distorted_bounding_box`` and ``tf.nn.fractional_*_pool`` without a seed,
``tf.random.Generator.from_non_deterministic_state``). Each refusal is recorded, then the op
runs again with determinism off for that one call.

Where: every generated eager op (``gen_*_ops``) tries the C fast path and, on error, calls
``ops.raise_from_not_ok_status``; when that returns instead of raising, the op goes on to
its eager fallback, which runs it through ``execute.execute``. :func:`_patch_ops` makes it
return for refusals, :func:`_patch_execute` records and re-runs. These are TensorFlow
internals, stable since TF 2.1; if one is missing, nothing is patched and ops raise as before.

Inside a ``tf.function`` the refusal comes from running the whole graph, which may have had
side effects before it: it is not re-run. :mod:`seedlock.audit` records it when it ends the
run; ``tf.config.run_functions_eagerly(True)`` audits past it.

>>> bool(REFUSAL.search("Timestamp cannot be called when determinism is enabled"))
True
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from seedlock.audit.records import record
from seedlock.audit.refusals import TF_REFUSAL as REFUSAL
from seedlock.audit.refusals import tf_op as op_of
from seedlock.audit.refusals import tf_refused as refused

_DEVICE = re.compile(r"device:([A-Za-z_]+:\d+)")

_lock = threading.RLock()
_off_depth = 0
_was_on = False


@contextlib.contextmanager
def determinism_off() -> Iterator[None]:
    """Op determinism off around one op. The switch is process-wide: other threads running ops
    meanwhile run without it too, which audit mode accepts (it is not reproducible anyway)."""
    global _off_depth, _was_on
    from tensorflow.python.framework import config

    with _lock:
        if _off_depth == 0:
            _was_on = config.is_op_determinism_enabled()
            if _was_on:
                config.disable_op_determinism()
        _off_depth += 1
    try:
        yield
    finally:
        with _lock:
            _off_depth -= 1
            if _off_depth == 0 and _was_on:
                config.enable_op_determinism()


def device_of(text: str) -> str:
    match = _DEVICE.search(text)
    return match.group(1) if match else "?"


def _patch_ops(ops: ModuleType) -> None:
    """Route a refused eager op from the fast path to the slow one, where :func:`_patch_execute` is.

    Every generated op (``gen_*_ops``) tries ``TFE_Py_FastPathExecute`` and on error calls
    ``_ops.raise_from_not_ok_status``; if that returns, the op goes on to its eager fallback,
    which runs it again through ``_execute.execute``.
    """
    original = getattr(ops, "raise_from_not_ok_status", None)
    if original is None or getattr(original, "_seedlock", False):
        return

    def raise_from_not_ok_status(e: Any, name: Any) -> None:
        caller = str(sys._getframe(1).f_globals.get("__name__", ""))
        if (
            caller.startswith("tensorflow.")
            and caller.rsplit(".", 1)[-1].startswith("gen_")
            and REFUSAL.search(str(getattr(e, "message", "")))
        ):
            return None
        original(e, name)

    raise_from_not_ok_status._seedlock = True  # type: ignore[attr-defined]
    ops.raise_from_not_ok_status = raise_from_not_ok_status  # type: ignore[attr-defined]


def _patch_execute(execute: ModuleType) -> None:
    """Record a refused op and run it again with determinism off; a refused graph is only recorded."""
    original = getattr(execute, "execute", None)
    if original is None or getattr(original, "_seedlock", False):
        return

    def run(op_name: Any, num_outputs: int, inputs: Any, attrs: Any, ctx: Any, name: Any = None) -> Any:
        try:
            return original(op_name, num_outputs, inputs, attrs, ctx, name)
        except Exception as exc:
            if not refused(exc):
                raise
            op = op_name.decode() if isinstance(op_name, bytes) else str(op_name)
            text = str(exc)
            graph = op.endswith("PartitionedCall") or _has_function(ctx, op)
            record("tensorflow", op_of(text) if graph else op, device_of(text), text, sys._getframe(1))
            if graph:  # a tf.function: it may have had side effects before the refusal
                exc._seedlock_recorded = True  # type: ignore[attr-defined]  # not again at exit
                raise
        with determinism_off():  # outside the except: a new error is not "during handling"
            return original(op_name, num_outputs, inputs, attrs, ctx, name)

    run._seedlock = True  # type: ignore[attr-defined]
    execute.execute = run  # type: ignore[attr-defined]


def _has_function(ctx: Any, op: str) -> bool:
    try:
        return bool(ctx.has_function(op))
    except Exception:
        return False


def _rerun_refused(fn: Callable[..., Any], op: str) -> Callable[..., Any]:
    """``fn`` refuses in Python, before running anything: safe to record and call again."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, RuntimeError) as exc:
            if not REFUSAL.search(str(exc)):
                raise
            record("tensorflow", op, "any", str(exc), sys._getframe(1))  # refused before placement
        with determinism_off():
            return fn(*args, **kwargs)

    call._seedlock = True  # type: ignore[attr-defined]
    return call


# module -> (attribute, op name); patched as the module loads, before tf.image etc. import them
_PYTHON_REFUSALS: dict[str, tuple[tuple[str, str], ...]] = {
    "tensorflow.python.ops.image_ops_impl": (
        ("sample_distorted_bounding_box_v2", "SampleDistortedBoundingBoxV2"),
        ("sample_distorted_bounding_box", "SampleDistortedBoundingBoxV2"),
    ),
    "tensorflow.python.ops.nn_ops": (
        ("fractional_max_pool_v2", "FractionalMaxPool"),
        ("fractional_avg_pool_v2", "FractionalAvgPool"),
    ),
}


def _patch_python(module: ModuleType) -> None:
    for attr, op in _PYTHON_REFUSALS.get(module.__name__, ()):
        fn = getattr(module, attr, None)
        if fn is not None and not getattr(fn, "_seedlock", False):
            setattr(module, attr, _rerun_refused(fn, op))


def _patch_generator(module: ModuleType) -> None:
    cls: Any = getattr(module, "Generator", None)
    method = vars(cls).get("from_non_deterministic_state") if cls is not None else None
    if isinstance(method, classmethod) and not getattr(method.__func__, "_seedlock", False):
        cls.from_non_deterministic_state = classmethod(
            _rerun_refused(method.__func__, "Generator.from_non_deterministic_state")
        )


# module -> its patch, applied by seedlock.audit.install when the module loads
PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "tensorflow.python.framework.ops": _patch_ops,
    "tensorflow.python.eager.execute": _patch_execute,
    **{name: _patch_python for name in _PYTHON_REFUSALS},
    "tensorflow.python.ops.stateful_random_ops": _patch_generator,
}
