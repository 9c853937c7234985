"""Post-import hooks: run a callback right after a module is first imported.

seedlock never imports a framework itself. When user code imports one, the module's
loader runs as usual and our callback runs as soon as the module has finished
executing, before the importing statement returns, so the framework is seeded and
switched before the user's next line can draw a random number.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

_callbacks: dict[str, list[Callback]] = {}
_lock = threading.RLock()
_busy: set[str] = set()


class _PostImportFinder:  # a MetaPathFinder; importlib.abc costs 12 ms of start-up
    """Finds nothing itself: it asks the rest of ``sys.meta_path`` and wraps the loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _callbacks or fullname in _busy:
            return None
        _busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with _rng_neutral():
                original(module)
            _fire(fullname, module)
            _seen_seeded(fullname)

        # Shadow the method on this loader instance only: the loader stays the same object
        # (isinstance checks and importlib.resources keep working).
        try:
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except (AttributeError, TypeError):  # a loader with __slots__: fall back to no hook
            return spec
        return spec


_finder = _PostImportFinder()

# Importing a framework draws from the global RNGs (jax: numpy's, twice; keras: Python's), so
# a script seeded before `import jax` drew other numbers than one seeded after it, and a test
# that imported jax first drew others than the same test after one that had. A hooked import
# leaves both streams as it found them: the states at its start are put back at its end;
# unless another thread is running, whose draws during the import would be replayed.
_frames = threading.local()


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {}
    rnd = sys.modules.get("random")
    if rnd is not None:
        states["random"] = rnd.getstate()
    # sys.modules, not numpy.random: that attribute imports numpy.random, maybe the hooked import itself
    np_random = sys.modules.get("numpy.random")
    if np_random is not None and hasattr(np_random, "get_state"):
        states["numpy"] = np_random.get_state()
    return states


@contextlib.contextmanager
def _rng_neutral() -> Iterator[None]:
    stack: list[dict[str, Any]] = _frames.__dict__.setdefault("stack", [])
    if threading.active_count() > 1 and not stack:  # the states are the process's, not this thread's
        yield
        return
    start = _rng_states()
    stack.append(start)
    try:
        yield
    finally:
        stack.pop()
        with contextlib.suppress(Exception):  # never break the user's import
            if "random" in start:
                sys.modules["random"].setstate(start["random"])
            if "numpy" in start:
                sys.modules["numpy.random"].set_state(start["numpy"])


def _seen_seeded(name: str) -> None:
    """numpy first imported inside another hooked import (jax's) was just seeded by its hook:
    the outer import puts numpy's state back to this, not to "not imported". Only numpy's own
    hook seeds it: the state at the end of another's (strict mode's numpy.random, which ends
    inside numpy's import) is not seeded yet."""
    stack: list[dict[str, Any]] = _frames.__dict__.get("stack", [])
    if not stack:
        return
    now = _rng_states()
    for frame in stack:
        if "random" in now:
            frame.setdefault("random", now["random"])
        if name == "numpy" and "numpy" in now:
            frame.setdefault("numpy", now["numpy"])


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _callbacks.pop(name, [])
    for cb in callbacks:
        with contextlib.suppress(Exception):  # never break the user's import; adapters record failures
            cb(module)


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported; at once if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _callbacks.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def pending() -> list[str]:
    """Module names that still have callbacks waiting for their import."""
    with _lock:
        return sorted(_callbacks)


def clear(name: str | None = None) -> None:
    with _lock:
        if name is None:
            _callbacks.clear()
        else:
            _callbacks.pop(name, None)
