"""The processes a seeded run starts: seeded like the run, each with a stream of its own.

Every Python interpreter started beneath ``seedlock run``/``check``/``repeat`` imports
``sitedir/sitecustomize.py`` first (the launcher puts its folder on ``PYTHONPATH``), which calls
:func:`setup`: the master seed, determinism, ``--strict``/``--audit`` as the run has them. The
ranks of a ``torch.distributed`` job (torchrun's workers) get the same master seed, as Lightning
and Hugging Face give them, so their initial weights agree; ``seedlock.derive(name, rank=...)``
gives per-rank streams. A ``multiprocessing`` worker (spawn, forkserver or fork) is reseeded as
it starts from the master seed and its process identity (``(1,)``, ``(2,)``, ``(1, 1)``...,
given in creation order), so three workers draw three different streams, the same ones every run.

>>> identity_seed(7, (1,)) == identity_seed(7, (1,)) != identity_seed(7, (2,))
True
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from seedlock.config import Settings

_set_up = False  # this process ran setup(): a spawned child; a forked one inherits its parent's flag


def setup() -> None:
    """Seed this child process as the run is seeded (called by the child's sitecustomize)."""
    from seedlock import api

    settings = Settings.from_env()
    if settings.plain:
        return
    global _set_up
    _set_up = True
    _count_me()
    report = api.seed_everything(
        settings.seed, deterministic=settings.deterministic, threads=settings.threads
    )
    if settings.strict:
        from seedlock.audit import strict

        strict.install(report)
    if settings.audit:
        from seedlock.audit import ops

        ops.install(report)
    arm_multiprocessing()


def _count_me() -> None:
    """One line in ``$SEEDLOCK_CHILDREN`` (a run of ``check``): how many processes the run had."""
    import os

    from seedlock.config import ENV_CHILDREN

    path = os.environ.get(ENV_CHILDREN)
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short append: whole lines from every process
            f.write(f"{os.getpid()} rank={os.environ.get('RANK', '-')}\n")


def identity_seed(master: int, identity: tuple[int, ...]) -> int:
    """The seed of the multiprocessing worker ``identity`` of a run seeded with ``master``."""
    from seedlock.seeds import derive

    return derive("process:" + ".".join(map(str, identity)), seed=master)


def arm_multiprocessing() -> None:
    """Reseed every multiprocessing worker as it starts (in ``Process._bootstrap``, which runs in
    the child for every start method), once ``multiprocessing`` is imported."""
    from seedlock.frameworks import hooks

    hooks.when_imported("multiprocessing.process", _patch)


def _patch(process: ModuleType) -> None:
    base: Any = process.BaseProcess
    original = base._bootstrap
    if getattr(original, "_seedlock", False):
        return

    @functools.wraps(original)
    def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
        _reseed(tuple(getattr(self, "_identity", ()) or ()))
        return original(self, *args, **kwargs)

    _bootstrap._seedlock = True  # type: ignore[attr-defined]
    base._bootstrap = _bootstrap


def _reseed(identity: tuple[int, ...]) -> None:
    from seedlock import api

    config = api.current_config()
    if config is None or not identity:
        return
    if not _set_up:  # forked: no interpreter start, so no setup() counted it
        _count_me()
    api.seed_everything(
        identity_seed(config.seed, identity), deterministic=config.deterministic, threads=config.threads
    )
