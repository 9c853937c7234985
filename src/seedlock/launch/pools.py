"""Which worker of a process pool ran which task, and whether the task drew random numbers.

A pool worker is seeded from its identity (:mod:`seedlock.launch.child`), but which worker takes
which task is the OS scheduler's choice: a task that draws from its worker's RNG gets other
numbers when another worker (or the same worker after other tasks) runs it. Under ``check`` every
worker of a ``multiprocessing.Pool`` or a ``concurrent.futures.ProcessPoolExecutor`` appends one
JSON line per task to ``pools.jsonl`` beside the run's process count (``$SEEDLOCK_CHILDREN``):
``{"kind", "worker", "job", "i", "drew"}``, and each pool, as it is made, its size:
``{"kind", "pool": N}`` (a pool of 2 whose first worker happened to take every task is still a
pool whose tasks can move). ``seedlock.verify.pools`` compares the runs' lines.

>>> Tasks(None, "pool").key((7, 2, print, (), {}))
(7, 2)
"""

from __future__ import annotations

import functools
import json
import os
import random
import sys
from types import ModuleType
from typing import Any

from seedlock.config import ENV_CHILDREN

LOG_NAME = "pools.jsonl"


def log_path() -> str | None:
    """Where this run's pool workers write, or None outside ``check``."""
    children = os.environ.get(ENV_CHILDREN)
    return os.path.join(os.path.dirname(children), LOG_NAME) if children else None


def rng_marker() -> dict[str, int]:
    """A hash of each global RNG state a task may draw from (Python's, NumPy's and torch's, those
    imported): one changes when the task draws from it."""
    out = {"random": hash(random.getstate()[1])}
    np = sys.modules.get("numpy")
    if np is not None:
        state = np.random.get_state(legacy=True)
        out["numpy"] = hash((state[1].tobytes(), state[2]))
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        out["torch"] = hash(torch.get_rng_state().numpy().tobytes())
    return out


_reseeded: set[str] = set()  # the global RNGs the running task seeded itself: their draws are the task's own


def _watch_seeding() -> None:
    """Note when a task seeds a global RNG itself (``random.seed(i)``, ``np.random.seed(i)``,
    ``torch.manual_seed(i)``): the fix this module's records would otherwise not tell from a draw."""

    def watch(module: Any, name: str, rng: str) -> None:
        original = getattr(module, name, None)
        if original is None or getattr(original, "_seedlock_watch", False):
            return

        @functools.wraps(original)
        def seeded(*args: Any, **kwargs: Any) -> Any:
            _reseeded.add(rng)  # that RNG only: a task that seeds NumPy and draws from random still drew
            return original(*args, **kwargs)

        seeded._seedlock_watch = True  # type: ignore[attr-defined]
        setattr(module, name, seeded)

    watch(random, "seed", "random")
    if "numpy" in sys.modules:
        watch(sys.modules["numpy"].random, "seed", "numpy")
    if "torch" in sys.modules:
        watch(sys.modules["torch"], "manual_seed", "torch")


class Tasks:
    """Wraps a worker's task queue: each ``get`` closes the last task's record and opens the next."""

    def __init__(self, queue: Any, kind: str) -> None:
        self._queue = queue
        self._kind = kind
        self._open: tuple[Any, Any, dict[str, int]] | None = None  # (job, i, markers at its start)
        self._worker = ".".join(map(str, _identity()))
        _watch_seeding()

    def key(self, task: Any) -> tuple[Any, Any] | None:
        if self._kind == "pool" and isinstance(task, tuple) and len(task) == 5:
            return task[0], task[1]  # (job, i, func, args, kwds): i is the chunk of a map
        work_id = getattr(task, "work_id", None)  # ProcessPoolExecutor's _CallItem
        return (work_id, None) if work_id is not None else None

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self._close()
        task = self._queue.get(*args, **kwargs)
        key = self.key(task)
        if key is not None:
            _reseeded.clear()
            self._open = (*key, rng_marker())
        return task

    def _close(self) -> None:
        if self._open is None:
            return
        job, i, before = self._open
        self._open = None
        after = rng_marker()
        line = {
            "kind": self._kind,
            "worker": self._worker,
            "job": job,
            "i": i,
            "drew": any(after.get(n) != h and n not in _reseeded for n, h in before.items()),
        }
        _append(line)

    def __getattr__(self, name: str) -> Any:  # _writer, _reader, close...: the queue's own
        return getattr(self._queue, name)


def _append(line: dict[str, Any]) -> None:
    path = log_path()
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short append per line: whole lines
            f.write(json.dumps(line) + "\n")


def _identity() -> tuple[int, ...]:
    import multiprocessing

    return tuple(getattr(multiprocessing.current_process(), "_identity", ()) or ())


def arm() -> None:
    """Record the tasks of every pool this process or its children start, once the pool modules
    are imported (only under ``check``: nothing is recorded elsewhere)."""
    from seedlock.frameworks import hooks

    if log_path() is None:
        return
    hooks.when_imported("multiprocessing.pool", functools.partial(_wrap, "worker", "pool", 0))
    hooks.when_imported("multiprocessing.pool", functools.partial(_sized, "Pool", "pool", "_processes"))
    hooks.when_imported(
        "concurrent.futures.process", functools.partial(_wrap, "_process_worker", "executor", 0)
    )
    hooks.when_imported(
        "concurrent.futures.process",
        functools.partial(_sized, "ProcessPoolExecutor", "executor", "_max_workers"),
    )


def _sized(name: str, kind: str, size: str, module: ModuleType) -> None:
    """Record each pool's size as it is made (in the process that makes it)."""
    cls: Any = getattr(module, name)
    original = cls.__init__
    if getattr(original, "_seedlock", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _append({"kind": kind, "pool": int(getattr(self, size, 0) or 0)})

    __init__._seedlock = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def _wrap(name: str, kind: str, position: int, module: ModuleType) -> None:
    original = getattr(module, name)
    if getattr(original, "_seedlock", False):
        return

    @functools.wraps(original)
    def worker(*args: Any, **kwargs: Any) -> Any:
        args = (*args[:position], Tasks(args[position], kind), *args[position + 1 :])
        return original(*args, **kwargs)

    # The pool looks the function up in its module when it starts a worker, and a spawned worker
    # unpickles it by that same name: both find the wrapper.
    worker._seedlock = True  # type: ignore[attr-defined]
    setattr(module, name, worker)
