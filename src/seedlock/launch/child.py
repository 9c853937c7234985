"""The processes a seeded run starts: seeded like the run, each with a stream of its own.

Every Python interpreter started beneath ``seedlock run``/``check``/``repeat`` imports
``sitedir/sitecustomize.py`` first (the launcher puts its folder on ``PYTHONPATH``), which calls
:func:`setup`: the master seed, determinism, ``--strict``/``--audit`` as the run has them. The
ranks of a ``torch.distributed`` job (torchrun's workers) get the same master seed, as Lightning
and Hugging Face give them, so their initial weights agree; ``seedlock.derive(name, rank=...)``
gives per-rank streams. A ``multiprocessing`` worker (spawn, forkserver or fork) is reseeded as
it starts from the master seed and its process identity (``(1,)``, ``(2,)``, ``(1, 1)``...,
given in creation order), so three workers draw three different streams, the same ones every run.
With ``--seed-per-rank`` each rank but rank 0 is seeded with a seed of its own instead
(:func:`rank_seed`), as accelerate's ``set_seed(device_specific=True)`` does.

>>> identity_seed(7, (1,)) == identity_seed(7, (1,)) != identity_seed(7, (2,))
True
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any

from seedlock.config import (
    ENV_CHECKPOINTS,
    ENV_ENTROPY,
    ENV_RANK_TRACE,
    ENV_TRACE,
    ENV_VIEW,
    Settings,
    rank_label,
)
from seedlock.report import SeedReport

_set_up = False  # this process ran setup(): a spawned child; a forked one inherits its parent's flag


def setup() -> None:
    """Seed this child process as the run is seeded (called by the child's sitecustomize)."""
    if os.environ.get(ENV_VIEW):  # a run in a private view: this process's writes stay there too
        from seedlock.launch import cow

        cow.install()
    settings = Settings.from_env()
    if settings.plain:
        return
    global _set_up
    _set_up = True
    _count_me()
    seed(settings)
    _trace_rank(settings)


def seed(settings: Settings, *, root: bool = False) -> SeedReport:
    """What every process of a run does first, the run's own boot (``root``) and its children
    alike: seed everything, ``--strict``/``--audit`` as asked, and reseed multiprocessing workers
    as they start."""
    from seedlock import api

    label = rank_label(os.environ)
    if settings.rank_seeds and label is not None:
        settings = settings._replace(seed=rank_seed(settings.seed, label))
    report = api.seed_everything(
        settings.seed, deterministic=settings.deterministic, threads=settings.threads
    )
    if settings.strict:
        from seedlock.audit import strict

        strict.install(report)
    if settings.audit:
        from seedlock.audit import ops

        ops.install(report)
    if settings.audit or os.environ.get(ENV_ENTROPY):  # check's runs, --audit: each entropy draw, where
        from seedlock.audit import entropy

        entropy.install_from_env(audit=settings.audit, strict=settings.strict, root=root)
    arm_multiprocessing()  # fork-started workers never run a sitecustomize of their own
    if settings.rng_checkpoint or os.environ.get(ENV_CHECKPOINTS):  # checkpoints carry the RNG state
        from seedlock.resume import seams
        from seedlock.trace import checkpoints

        seams.install(rng=settings.rng_checkpoint)
        checkpoints.install()  # check --resume: each checkpoint, and the state after it
    from seedlock.launch import pools

    pools.arm()  # under check: which pool worker ran which task, and did it draw
    return report


def rank_seed(master: int, label: str) -> int:
    """The seed of rank ``label`` under ``--seed-per-rank``: rank 0 keeps the master seed (so a
    one-process run and rank 0 agree), every other rank gets ``derive("rank:LABEL")``.

    >>> rank_seed(7, "0"), rank_seed(7, "0.0"), rank_seed(7, "1") == rank_seed(7, "1") != rank_seed(7, "2")
    (7, 7, True)
    """
    from seedlock.seeds import derive

    if all(part == "0" for part in label.split(".")):
        return master
    return derive("rank:" + label, seed=master)


def rank_trace_path(trace: str, label: str) -> str:
    """``run/trace.jsonl`` -> ``run/trace.rank1.jsonl``: each rank's trace beside the run's.

    >>> rank_trace_path("/r/trace.jsonl", "1")
    '/r/trace.rank1.jsonl'
    """
    root, ext = os.path.splitext(trace)
    return f"{root}.rank{label}{ext or '.jsonl'}"


def _trace_rank(settings: Settings) -> None:
    """A rank of a traced run writes a trace of its own (check compares them rank by rank)."""
    # $SEEDLOCK_TRACE reaches a child only under `check -- COMMAND` (boot takes it out of its own
    # environment): no child writes the run's trace, ranks write their own beside it.
    base = os.environ.get(ENV_RANK_TRACE) or os.environ.pop(ENV_TRACE, None)
    label = rank_label(os.environ)
    if base is not None and label is None:
        os.environ[ENV_RANK_TRACE] = base  # for the ranks this process starts (torchrun)
    if base is None or label is None:
        return  # not a rank (a DataLoader worker, a subprocess): no trace
    from seedlock.trace import instrument

    os.environ.pop(ENV_RANK_TRACE, None)
    instrument.install(rank_trace_path(base, label), settings.granularity, settings.digest)


def _count_me() -> None:
    """One line in ``$SEEDLOCK_CHILDREN`` (a run of ``check``): how many processes the run had."""
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
    import sys

    from seedlock import api

    draws = sys.modules.get("seedlock.audit.draws")
    if draws is not None:  # under check: this worker's OS entropy, matched across the runs
        draws.worker(identity)
    config = api.current_config()
    if config is None or not identity:
        return
    if not _set_up:  # forked: no interpreter start, so no setup() counted it
        _count_me()
    api.seed_everything(
        identity_seed(config.seed, identity), deterministic=config.deterministic, threads=config.threads
    )
