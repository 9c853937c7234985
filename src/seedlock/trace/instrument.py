"""Auto-instrumentation for ``seedlock run --trace FILE``: a trace with no change to the script.

Keras ``Model.fit`` (Keras 3 and tf-keras, eager or graph mode) gets the
:class:`seedlock.trace.keras_callbacks.Trace` callback, torch optimizers get the step post-hook,
stdout is digested as it is written, and at exit every live model/module and every open TF1
session (:mod:`seedlock.trace.tf_state`; a session that closes earlier is fingerprinted then) is
fingerprinted into a ``"final"`` record (``at: "exit"``). A run that held trainable TensorFlow
variables none of these reached says so in its stdout record (``unseen_weights``). At
granularity ``"exit"`` (``seedlock repeat``'s trials) only the last two are recorded.
"""

from __future__ import annotations

import atexit
import functools
import gc
import hashlib
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from seedlock.config import ENV_METRICS, ENV_STOP_AFTER, ENV_TRACE
from seedlock.frameworks import hooks
from seedlock.trace.stdout import ViewHash

_granularity = "epoch"


class _DigestingStdout:
    """Writes through to the real stdout, hashing what passes (C-level writes to fd 1 bypass it).

    Not an io.TextIOBase: its own fileno()/isatty() would shadow the real stream's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hash = hashlib.blake2b(digest_size=16)  # the raw bytes
        self.view = ViewHash()  # each line as a terminal shows it, as check compares it
        self.lines = 0

    def write(self, s: str) -> int:
        self.digest(s.encode("utf-8", "surrogateescape"))
        return self._inner.write(s)

    def digest(self, data: bytes) -> None:
        self.hash.update(data)
        self.lines += data.count(b"\n")
        self.view.update(data)

    def writelines(self, lines: Any) -> None:
        for s in lines:
            self.write(s)

    def flush(self) -> None:
        self._inner.flush()

    @property
    def buffer(self) -> Any:
        return _DigestingBuffer(self)

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding...
        return getattr(self._inner, name)


class _DigestingBuffer:
    """``sys.stdout.buffer`` under the trace: bytes written there go into the same digest."""

    def __init__(self, text: _DigestingStdout) -> None:
        self._text = text
        self._inner = text._inner.buffer

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._text.digest(data)
        return self._inner.write(data)

    def writelines(self, lines: Any) -> None:
        for b in lines:
            self.write(b)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _callbacks_arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], position: int
) -> tuple[tuple[Any, ...], dict[str, Any], list[Any]]:
    """Pull ``callbacks`` out of fit's arguments, wherever the caller put it."""
    if len(args) > position:
        cbs = list(args[position] or [])
        return args[:position] + args[position + 1 :], kwargs, cbs
    return args, kwargs, list(kwargs.pop("callbacks", None) or [])


def _patch_fit(model_cls: Any, trace_cls: Any, position: int) -> None:
    original = model_cls.fit

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        args, kwargs, cbs = _callbacks_arg(args, kwargs, position)
        # A Trace callback of the script's own with a path writes its own file: ours still runs.
        if _granularity != "exit" and not any(isinstance(c, trace_cls) and c.path is None for c in cbs):
            cbs.append(trace_cls(None, every=_granularity))
        if trace_cls.framework == "keras":  # localisation records Keras 3 layers, not tf-keras ones
            from seedlock.trace import layers

            cbs.extend(layers.keras_callbacks(self))
        history = original(self, *args, callbacks=cbs, **kwargs)
        if os.environ.get(ENV_METRICS):  # `seedlock repeat`: every History key, per epoch
            from seedlock.trace.metrics import log_history

            log_history(history)
        return history

    model_cls.fit = fit


def _keras(keras: ModuleType) -> None:
    from seedlock.trace import keras_callbacks as sk

    _patch_fit(keras.Model, sk.Trace, 5)  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)


def _tf_keras(tf_keras: ModuleType) -> None:
    from seedlock.trace import keras_callbacks as sk

    _patch_fit(tf_keras.Model, sk.TFKerasTrace, 5)
    # After disable_eager_execution, tf-keras models are built on training_v1.Model, whose fit
    # does not call the one above.
    from tf_keras.src.engine import training_v1

    _patch_fit(training_v1.Model, sk.TFKerasTrace, 5)


def _tensorflow(tf: ModuleType) -> None:
    from seedlock.trace import tf_state

    tf_state.install(tf, lambda: _writer)


_torch_hook: Any = None


def torch_state(optimizer: Any) -> dict[str, Any]:
    """The optimizer's parameters as numpy arrays, named as the step records name them."""
    if _torch_hook is None:
        return {}
    tracked = _torch_hook._track(optimizer)
    return {name: p.detach().cpu().numpy() for name, p in tracked.names}


def _torch(torch: ModuleType) -> None:
    global _torch_hook
    from seedlock.trace.torch_hooks import install_optimizer_hook

    if _granularity != "exit":
        _torch_hook = install_optimizer_hook(None)
    from seedlock.trace import layers

    layers.torch_hooks(torch, torch_state)


def _roots() -> dict[str, Any]:
    """Live models and modules that are not part of another live one, labelled stably."""
    found: dict[str, Any] = {}
    keras = sys.modules.get("keras")
    if keras is not None:
        _models(found, "keras", [o for o in gc.get_objects() if isinstance(o, keras.Model)])
    if "tensorflow" in sys.modules:
        from seedlock.trace import tf_state

        _models(found, "tf_keras", tf_state.tf_keras_models())
        found.update(tf_state.sessions())
    torch = sys.modules.get("torch")
    if torch is not None:
        # Keras layers on the torch backend are nn.Modules too: the Keras models above cover them.
        mods = [
            o
            for o in gc.get_objects()
            if issubclass(type(o), torch.nn.Module) and type(o).__module__.split(".")[0] != "keras"
        ]
        inner = {id(c) for m in mods for c in m.modules() if c is not m}
        roots = [
            m
            for m in mods
            if id(m) not in inner and (any(True for _ in m.state_dict()) or any(True for _ in m.buffers()))
        ]
        # A module the script holds in a global is labelled by that name: two models swapped
        # between runs then differ. The rest (in lists, closures...) by class, then digest.
        named = _global_names(roots)
        for m in roots:
            if id(m) in named:
                found[f"torch:{named[id(m)]}"] = m
        _label_by_digest(found, "torch", [(type(m).__name__, m) for m in roots if id(m) not in named])
    return found


def _models(found: dict[str, Any], prefix: str, models: list[Any]) -> None:
    """Keras models that are not layers of another live one, by name (then digest)."""
    inner = {
        id(layer)
        for m in models
        for layer in getattr(m, "_flatten_layers", lambda **_: [])(include_self=False)
    }
    tops = [m for m in models if id(m) not in inner and m.built]
    names = [m.name for m in tops]
    for m in tops:
        if names.count(m.name) == 1:
            found[f"{prefix}:{m.name}"] = m
    _label_by_digest(found, prefix, [(m.name, m) for m in tops if names.count(m.name) > 1])


def _global_names(objs: list[Any]) -> dict[int, str]:
    """id -> the first (sorted) name the script's globals bind it to, for names that bind one
    object only; the script's globals are what ``boot`` kept of ``runpy``'s run."""
    namespaces = getattr(sys.modules.get("seedlock.launch.boot"), "_script_globals", [])
    ids = {id(o) for o in objs}
    bound: dict[str, set[int]] = {}
    for namespace in namespaces:
        for name, value in list(namespace.items()):
            if id(value) in ids and not name.startswith("__"):
                bound.setdefault(name, set()).add(id(value))
    out: dict[int, str] = {}
    for name in sorted(bound):
        if len(bound[name]) == 1:
            out.setdefault(next(iter(bound[name])), name)
    return out


def _label_by_digest(found: dict[str, Any], prefix: str, named: list[tuple[str, Any]]) -> None:
    """gc order is not stable from run to run: label by name, then by digest, so that the same
    set of models gets the same labels and a real difference still shows as a difference."""
    from seedlock.fingerprint import fingerprint

    keyed = sorted(((name, fingerprint(m, summaries=False).digest), i) for i, (name, m) in enumerate(named))
    for n, ((name, _), i) in enumerate(keyed):
        found[f"{prefix}:{name}#{n}"] = named[i][1]


_writer: Any = None  # the trace install() opened: the script may start or stop one of its own


def _finish(stdout: _DigestingStdout) -> None:
    """The exit record (models alive at exit), then the stdout record, which marks the trace
    complete: without it (a failure here, os._exit) check and diff give no verdict."""
    from seedlock.trace import tracefile as trace

    writer = _writer
    if writer is None or writer._file.closed:
        print(
            "seedlock: the script closed seedlock's trace before exit; it has no exit record, so "
            "`seedlock check` and `seedlock diff` give no verdict on it",
            file=sys.stderr,
        )
        return
    try:
        sys.stdout.flush()
        roots = _roots()
        extra = {}
        if roots:
            writer.final(roots, values=True, at="exit")
        elif "tensorflow" in sys.modules:  # weights held where seedlock cannot read them: check says so
            from seedlock.trace import tf_state

            extra = {"unseen_weights": n} if (n := tf_state.unseen()) else {}
        writer.write(
            "stdout",
            digest=stdout.hash.hexdigest(),
            view_digest=stdout.view.hexdigest(),
            lines=stdout.lines,
            **extra,
        )
    except Exception as exc:  # anything unfingerprintable: say so, leave the trace incomplete
        print(
            f"seedlock: the exit fingerprint failed: {type(exc).__name__}: {exc}; the trace has no "
            "exit record, so `seedlock check` and `seedlock diff` give no verdict on it",
            file=sys.stderr,
        )
    finally:
        writer.close()
        if trace.active() is writer:
            trace.stop()


def stop_after(spec: str) -> Callable[[Any], None]:
    """``"step:50"``: a callback that ends the run (SystemExit, so the exit records are written as
    at any exit) once 50 records of that kind are in the trace.

    >>> stop = stop_after("epoch:2"); from seedlock.trace.records import Record
    >>> stop(Record("epoch"))
    >>> stop(Record("epoch"))
    Traceback (most recent call last):
    SystemExit: 0
    """
    kind, _, n = spec.partition(":")
    limit, seen = int(n), 0

    def on_record(record: Any) -> None:
        nonlocal seen
        if record.kind == kind:
            seen += 1
            if seen >= limit:
                sys.stdout.flush()
                raise SystemExit(0)

    return on_record


def install(path: str, granularity: str = "epoch", algorithm: str = "auto") -> None:
    """Start the trace at ``path`` and arm the hooks; the rest happens as the script imports."""
    global _granularity, _writer
    from seedlock.trace import layers
    from seedlock.trace import tracefile as trace

    _granularity = granularity
    layers.trace_path = path  # the env var is removed below
    # exit_record: this trace is complete only once it has the stdout record _finish writes
    _writer = trace.start(
        path, granularity=granularity, meta={"argv": list(sys.argv), "exit_record": True}, algorithm=algorithm
    )
    # Subprocesses of the script must not open (and truncate) the same trace file.
    os.environ.pop(ENV_TRACE, None)
    limit = os.environ.get(ENV_STOP_AFTER)
    if limit:  # check --steps N / --epochs N: the run ends after N of them, its exit records written
        _writer.on_record = stop_after(limit)
    hooks.when_imported("keras", _keras)
    hooks.when_imported("tf_keras", _tf_keras)
    hooks.when_imported("tensorflow", _tensorflow)
    hooks.when_imported("torch", _torch)
    stdout = _DigestingStdout(sys.stdout)
    sys.stdout = stdout
    atexit.register(_finish, stdout)
