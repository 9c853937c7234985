"""A Lightning callback that writes a seedlock trace and manifest, and one seed for both.

>>> from seedlock.lightning import SeedlockCallback
>>> trainer = L.Trainer(max_epochs=3, callbacks=[SeedlockCallback("run.trace.jsonl")])  # doctest: +SKIP
>>> trainer.fit(model, loader)                                                      # doctest: +SKIP
>>> seedlock.trace.compare_traces("run.trace.jsonl", "rerun.trace.jsonl")  # doctest: +SKIP

Run the script under ``seedlock run --seed 3`` twice and the traces agree; where they do
not, ``seedlock diff a.jsonl b.jsonl`` names the first epoch (or batch) and parameter that
differs. Each record holds ``trainer.callback_metrics`` (losses, logged metrics) and the
digest of every tensor of the module's ``state_dict`` (parameters and buffers); the
``"final"`` record at the end of ``fit`` adds the optimizers' state and saves the arrays.

One seed for Lightning and seedlock:

* Lightning reseeds by itself from ``$PL_GLOBAL_SEED`` (every DDP process at start-up, the
  ``DistributedSampler``'s shuffle). When seedlock has a master seed and ``$PL_GLOBAL_SEED``
  is unset, the callback sets it to seedlock's seed as it is made: make it before the
  ``Trainer``, as usual.
* After ``lightning.seed_everything(N)``, ``seedlock.seed_everything()`` (no seed) takes N:
  :func:`seedlock.master_seed` falls back to ``$PL_GLOBAL_SEED`` after ``$SEEDLOCK_SEED``.

The class subclasses ``lightning.pytorch.Callback``, so it is made on first access, which
imports Lightning; importing this module does not. ``PLSeedlockCallback`` is the same for
the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

from seedlock import seeds
from seedlock import trace as _trace  # `trace` is the callback's argument
from seedlock.config import ENV_TRACE
from seedlock.errors import SeedlockError

ENV_PL_SEED = seeds.ENV_LIGHTNING_SEED
_classes: dict[str, type] = {}


def sync_seed() -> int | None:
    """Give Lightning seedlock's master seed through ``$PL_GLOBAL_SEED``, unless it has one.

    Returns seedlock's master seed (None when there is none). Warns when the two differ: the
    script called ``lightning.seed_everything(N)`` with another N than ``seedlock run --seed``.

    >>> import os, seedlock
    >>> _ = seedlock.seed_everything(3)
    >>> _ = os.environ.pop("PL_GLOBAL_SEED", None)
    >>> sync_seed(), os.environ["PL_GLOBAL_SEED"]
    (3, '3')
    """
    try:
        seed = seeds.master_seed()
    except seeds.NoMasterSeed:
        return None
    current = os.environ.get(ENV_PL_SEED)
    if current is None:
        os.environ[ENV_PL_SEED] = str(seed)  # spawned DDP workers inherit it and reseed from it
    elif current.strip() != str(seed):
        warnings.warn(
            f"Lightning's seed (PL_GLOBAL_SEED={current}) differs from seedlock's ({seed}); Lightning reseeds "
            "from its own, so pass one seed: drop lightning.seed_everything() under `seedlock run`",
            stacklevel=3,
        )
    return seed


class _Callback:
    """What the callback does; Lightning's ``Callback`` comes after it in the MRO."""

    package = "lightning"

    def __init__(
        self,
        trace: str | os.PathLike[str] | None = None,
        every: str = "epoch",
        *,
        manifest: bool | str | os.PathLike[str] = True,
        values: bool = True,
    ) -> None:
        super().__init__()
        if every not in ("epoch", "batch"):
            raise SeedlockError(f"every must be 'epoch' or 'batch', got {every!r}")
        if trace is None and not os.environ.get(_trace_env()):
            raise SeedlockError(
                "no trace path: pass one, e.g. SeedlockCallback('run.trace.jsonl'), "
                "or run under `seedlock run --trace PATH`"
            )
        self.path = None if trace is None else Path(trace)
        self.every = every
        self.values = values
        # With the active trace of `seedlock run --trace`, the launcher writes the manifest itself.
        if manifest is True:
            self.manifest = (
                None if self.path is None else self.path.with_name(self.path.name + ".manifest.json")
            )
        else:
            self.manifest = Path(manifest) if manifest else None
        self.seed = sync_seed()  # now, before the Trainer exists: DDP workers are spawned from it
        self._writer: _trace.TraceWriter | None = None

    def _open(self) -> _trace.TraceWriter:
        if self._writer is None:
            from seedlock._version import __version__

            pkg = sys.modules[self.package]
            header: dict[str, Any] = {
                "framework": "lightning",
                "granularity": self.every,
                "meta": {
                    self.package: getattr(pkg, "__version__", "?"),
                    "seedlock": __version__,
                    "seed": self.seed,
                },
            }
            writer = _trace.active(**header) if self.path is None else _trace.open_writer(self.path, **header)
            if writer is None:
                raise SeedlockError("no active trace; pass a path to SeedlockCallback")
            self._writer = writer
        return self._writer

    def _write_manifest(self, trainer: Any) -> None:
        from seedlock.api import current_config
        from seedlock.doctor import manifest

        config = current_config()
        determinism = (
            {} if config is None else {"deterministic": config.deterministic, "threads": config.threads}
        )
        extra = {
            "lightning": {
                "max_epochs": trainer.max_epochs,
                "precision": str(trainer.precision),
                "accelerator": type(trainer.accelerator).__name__,
                "devices": trainer.num_devices,
                "strategy": type(trainer.strategy).__name__,
                "pl_global_seed": os.environ.get(ENV_PL_SEED),
            }
        }
        assert self.manifest is not None
        manifest.write(self.manifest, manifest.build(self.seed, list(sys.argv), determinism, extra))

    # --- hooks (rank 0 only: every rank holds the same parameters) ------------------------------

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self._open()
            if self.manifest is not None:
                self._write_manifest(trainer)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.every == "batch" and trainer.is_global_zero:
            self._open().write(
                "batch",
                step=trainer.global_step,
                epoch=trainer.current_epoch,
                batch=batch_idx,
                metrics=_trace.metric_values(trainer.callback_metrics),
                tensors=pl_module.state_dict(),
            )

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self._open().write(
                "epoch",
                step=trainer.global_step,
                epoch=trainer.current_epoch,
                metrics=_trace.metric_values(trainer.callback_metrics),
                tensors=pl_module.state_dict(),
            )

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            tensors = {"model": pl_module.state_dict(), "optimizers": list(trainer.optimizers)}
            self._open().final(
                tensors,
                values=self.values,
                step=trainer.global_step,
                epoch=trainer.current_epoch,
                metrics=_trace.metric_values(trainer.callback_metrics),
            )


def _trace_env() -> str:

    return ENV_TRACE


_DOC = """Record a seedlock trace of ``Trainer.fit``, and the run's manifest beside it.

Args:
    trace: the trace file; ``None`` uses the active trace (``seedlock run --trace PATH``).
    every: ``"epoch"``, or ``"batch"`` for a record after every training batch as well.
    manifest: ``True``: write ``TRACE.manifest.json`` at fit start; a path: write it there;
        ``False``: none.
    values: save the final arrays beside the trace, for max-abs and ULP distances.

Example:
    >>> trainer = L.Trainer(callbacks=[SeedlockCallback("run.trace.jsonl", every="batch")])  # doctest: +SKIP
"""


def _build(name: str) -> type:
    cls = _classes.get(name)
    if cls is None:
        base: type
        if name == "SeedlockCallback":
            import lightning.pytorch

            base, package = lightning.pytorch.Callback, "lightning"
        else:
            import pytorch_lightning

            base, package = pytorch_lightning.Callback, "pytorch_lightning"
        cls = _classes[name] = type(
            name, (_Callback, base), {"__module__": __name__, "__doc__": _DOC, "package": package}
        )
    return cls


def __getattr__(name: str) -> Any:
    if name in ("SeedlockCallback", "PLSeedlockCallback"):
        return _build(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
