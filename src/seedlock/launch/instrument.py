"""Auto-instrumentation for ``seedlock run --trace FILE``: a trace with no change to the script.

Keras ``Model.fit`` (Keras 3 and tf-keras) gets the :class:`seedlock.keras.Trace` callback,
torch optimizers get the step post-hook, stdout is digested as it is written, and at exit
every live model/module is fingerprinted into a ``"final"`` record (``at: "exit"``). At
granularity ``"exit"`` (``seedlock repeat``'s trials) only the last two are recorded.
"""

from __future__ import annotations

import atexit
import functools
import gc
import hashlib
import os
import sys
from types import ModuleType
from typing import Any

from seedlock.launch import hooks
from seedlock.launch.env import ENV_TRACE

_granularity = "epoch"
trace_path: str | None = None  # where this process's trace goes (the env var is removed at start)


class _DigestingStdout:
    """Writes through to the real stdout, hashing what passes (C-level writes to fd 1 bypass it).

    Not an io.TextIOBase: its own fileno()/isatty() would shadow the real stream's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hash = hashlib.blake2b(digest_size=16)
        self.lines = 0

    def write(self, s: str) -> int:
        self.hash.update(s.encode("utf-8", "surrogateescape"))
        self.lines += s.count("\n")
        return self._inner.write(s)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer...
        return getattr(self._inner, name)


def _callbacks_arg(args: tuple[Any, ...], kwargs: dict[str, Any], position: int) -> tuple[tuple[Any, ...], dict[str, Any], list[Any]]:
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
        if _granularity != "exit" and not any(isinstance(c, trace_cls) for c in cbs):
            cbs.append(trace_cls(None, every=_granularity))
        from seedlock.launch import layers

        cbs.extend(layers.keras_callbacks(self))
        history = original(self, *args, callbacks=cbs, **kwargs)
        if os.environ.get("SEEDLOCK_METRICS"):  # `seedlock repeat`: every History key, per epoch
            from seedlock.metrics import log_history

            log_history(history)
        return history

    model_cls.fit = fit


def _keras(keras: ModuleType) -> None:
    from seedlock import keras as sk

    _patch_fit(keras.Model, sk.Trace, 5)  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)


def _tf_keras(tf_keras: ModuleType) -> None:
    from seedlock import keras as sk

    _patch_fit(tf_keras.Model, sk.TFKerasTrace, 5)


_torch_hook: Any = None


def torch_state(optimizer: Any) -> dict[str, Any]:
    """The optimizer's parameters as numpy arrays, named as the step records name them."""
    if _torch_hook is None:
        return {}
    tracked = _torch_hook._track(optimizer)
    return {name: p.detach().cpu().numpy() for name, p in tracked.names}


def _torch(torch: ModuleType) -> None:
    global _torch_hook
    from seedlock.torch_trace import install_optimizer_hook

    if _granularity != "exit":
        _torch_hook = install_optimizer_hook(None)
    from seedlock.launch import layers

    layers.torch_hooks(torch)


def _roots() -> dict[str, Any]:
    """Live models and modules that are not part of another live one, labelled stably."""
    found: dict[str, Any] = {}
    keras = sys.modules.get("keras")
    if keras is not None:
        models = [o for o in gc.get_objects() if isinstance(o, keras.Model)]
        inner = {id(layer) for m in models for layer in getattr(m, "_flatten_layers", lambda **_: [])(include_self=False)}
        for m in models:
            if id(m) not in inner and m.built:
                found.setdefault(f"keras:{m.name}", m)
    torch = sys.modules.get("torch")
    if torch is not None:
        # Keras layers on the torch backend are nn.Modules too: the Keras models above cover them.
        mods = [o for o in gc.get_objects()
                if issubclass(type(o), torch.nn.Module) and not type(o).__module__.startswith("keras")]
        inner = {id(c) for m in mods for c in m.modules() if c is not m}
        roots = [m for m in mods if id(m) not in inner and any(True for _ in m.state_dict())]
        # gc order is not stable from run to run: label by class, then by digest, so that the same
        # set of modules gets the same labels and a real difference still shows as a difference.
        from seedlock.fingerprint import fingerprint

        keyed = sorted(((type(m).__name__, fingerprint(m, summaries=False).digest), i) for i, m in enumerate(roots))
        for n, ((cls, _), i) in enumerate(keyed):
            found[f"torch:{cls}#{n}"] = roots[i]
    return found


def _finish(stdout: _DigestingStdout) -> None:
    from seedlock import trace

    writer = trace.active()
    if writer is None:
        return
    try:
        sys.stdout.flush()
        roots = _roots()
        if roots:
            writer.final(roots, values=True, at="exit")
        writer.write("stdout", digest=stdout.hash.hexdigest(), lines=stdout.lines)
    finally:
        trace.stop()


def install(path: str, granularity: str = "epoch", algorithm: str = "auto") -> None:
    """Start the trace at ``path`` and arm the hooks; the rest happens as the script imports."""
    global _granularity
    from seedlock import trace

    global trace_path
    _granularity = granularity
    trace_path = path
    trace.start(path, granularity=granularity, meta={"argv": list(sys.argv)}, algorithm=algorithm)
    # Subprocesses of the script must not open (and truncate) the same trace file.
    os.environ.pop(ENV_TRACE, None)
    hooks.when_imported("keras", _keras)
    hooks.when_imported("tf_keras", _tf_keras)
    hooks.when_imported("torch", _torch)
    stdout = _DigestingStdout(sys.stdout)
    sys.stdout = stdout
    atexit.register(_finish, stdout)
