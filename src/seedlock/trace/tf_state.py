"""TensorFlow weights a traced run fingerprints besides Keras 3 models: tf-keras models, and the
variables of TF1 sessions (``tf.compat.v1`` graph code, tf-keras after ``disable_eager_execution``).

A graph variable has no value of its own: its value lives in a session. So a session is
fingerprinted with itself, ``session.run(variables)``, when it closes (``with Session() as s:``
ends before the script does) and, if still open, at exit. It is labelled by the order sessions
were made (``tf1:session#0``), its tensors by variable name (``tf1:session#0/dense/kernel:0``).
In graph mode a tf-keras model's variables live in its session (``tf_keras.backend.get_session()``),
which covers them; in eager mode the model is fingerprinted as Keras 3 models are
(``tf_keras:<name>``).

Importing this module imports no framework; :func:`install` runs when the script imports
TensorFlow.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any

_sessions: list[weakref.ref[Any]] = []  # every session made, in order: the index is its label
_writer: Callable[[], Any] = lambda: None  # noqa: E731 - the trace's writer, or None once it is closed


def _label(index: int) -> str:
    return f"tf1:session#{index}"


def session_values(sess: Any) -> dict[str, Any]:
    """``{variable name: array}`` of every global and local variable of ``sess``'s graph, as
    ``sess`` holds them; variables it never initialised hold no value and are left out."""
    from tensorflow.python.framework import errors, ops

    graph = sess.graph
    found = graph.get_collection(ops.GraphKeys.GLOBAL_VARIABLES) + graph.get_collection(
        ops.GraphKeys.LOCAL_VARIABLES
    )
    variables = list({id(v): v for v in found}.values())
    if not variables:
        return {}
    try:
        values = sess.run(variables)  # fetches the variables' read ops: no op is added to the graph
    except errors.FailedPreconditionError:  # some not initialised: read the others one by one
        values = []
        kept = []
        for v in variables:
            try:
                values.append(sess.run(v))
                kept.append(v)
            except errors.FailedPreconditionError:
                continue
        variables = kept
    return {v.name: value for v, value in zip(variables, values, strict=True)}


def _record_close(sess: Any, index: int) -> None:
    writer = _writer()
    if writer is None or writer._file.closed:
        return
    try:
        values = session_values(sess)
        if values:
            writer.final({_label(index): values}, values=True, at="session close")
    except Exception as exc:  # the script's session must close whatever happens here
        print(
            f"seedlock: could not fingerprint {_label(index)} as it closed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )


def install(tf: Any, writer: Callable[[], Any]) -> None:
    """Number every session made from now on, and fingerprint each as it closes, into ``writer()``."""
    global _writer
    from tensorflow.python.client import session as tf_session

    _writer = writer
    base = tf_session.BaseSession
    if getattr(base, "_seedlock_patched", False):
        return
    init, close = base.__init__, base.close

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._seedlock_index = len(_sessions)
        _sessions.append(weakref.ref(self))

    def close_(self: Any) -> None:
        index = getattr(self, "_seedlock_index", None)
        if index is not None and self._session and not self._closed:
            _record_close(self, index)
        close(self)

    base.__init__ = __init__
    base.close = close_
    base._seedlock_patched = True


def sessions() -> dict[str, Any]:
    """What to fingerprint at exit from TF1 code: every session still open, by its label."""
    found: dict[str, Any] = {}
    for ref in _sessions:
        sess = ref()
        if sess is not None and sess._session and not sess._closed:
            values = session_values(sess)
            if values:
                found[_label(sess._seedlock_index)] = values
    return found


def tf_keras_models() -> list[Any]:
    """Live eager tf-keras models; none in graph mode, where :func:`sessions` holds their values."""
    tf_keras, tf = sys.modules.get("tf_keras"), sys.modules.get("tensorflow")
    if tf_keras is None or tf is None or not tf.compat.v1.executing_eagerly_outside_functions():
        return []
    return [o for o in gc.get_objects() if isinstance(o, tf_keras.Model)]


def unseen() -> int:
    """Trainable TensorFlow variables alive now: called when nothing was fingerprinted, they are
    weights the run held that seedlock could not read (a variable outside any model or session)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return 0
    return sum(1 for o in gc.get_objects() if isinstance(o, tf.Variable) and getattr(o, "trainable", False))
