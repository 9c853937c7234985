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
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

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
            original(module)
            _fire(fullname, module)

        # Shadow the method on this loader instance only: the loader stays the same object
        # (isinstance checks and importlib.resources keep working).
        try:
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except (AttributeError, TypeError):  # a loader with __slots__: fall back to no hook
            return spec
        return spec


_finder = _PostImportFinder()


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
