"""Checkpoints carry the RNG state under ``seedlock run``, without code: the seams.

Installed by :func:`install` (``launch.child.seed``, in every process of a run) through the
post-import hooks, so nothing is imported before the script imports it:

* torch: ``torch.save(obj, PATH)`` writes the state beside ``PATH`` (:mod:`.sidefile`);
  ``torch.load(PATH)`` restores it right after loading, the moment a script that loads at
  start and then loops needs it. A file object (Lightning's ``BytesIO``) is left alone.
* Keras 3: ``model.save``/``keras.models.load_model`` (.keras) and ``save_weights``/
  ``load_weights`` (.weights.h5, which ``BackupAndRestore`` uses) (:mod:`.keras_seam`).
* Lightning: an entry in the checkpoint dict, restored after the training state
  (:mod:`.lightning_seam`).

``SEEDLOCK_RNG_CHECKPOINT=0`` turns them off; under ``check --resume`` they are armed all the
same, to tell :mod:`.events` of every checkpoint, and carry no state (``rng=False``).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from seedlock.frameworks import hooks
from seedlock.resume import events, sidefile
from seedlock.resume.sidefile import is_path

_installed = False


def install(rng: bool = True) -> None:
    """Arm every seam (once per process); ``rng=False``: checkpoints carry no RNG state."""
    global _installed
    events.carry_rng = rng
    if _installed:
        return
    _installed = True
    from seedlock.resume import keras_seam, lightning_seam

    hooks.when_imported("torch", patch_torch)
    hooks.when_imported("keras.src.saving.saving_lib", keras_seam.patch)
    for package in ("lightning.pytorch", "pytorch_lightning"):
        hooks.when_imported(f"{package}.trainer.connectors.checkpoint_connector", lightning_seam.patch)


def patch_torch(torch: ModuleType) -> None:
    save, load = torch.save, torch.load
    if getattr(save, "_seedlock", False):
        return

    @functools.wraps(save)
    def seedlock_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
        out = save(obj, f, *args, **kwargs)
        if is_path(f) and events.carry_rng:
            try:
                sidefile.write(f)
            except OSError as exc:  # the checkpoint is saved; only its RNG state is not
                sidefile.note(f"could not write {sidefile.path_for(f)} ({exc}); a resume from it redraws")
        if is_path(f):  # after the side file: a preemption right after this keeps both
            events.tell("save", f)
        return out

    @functools.wraps(load)
    def seedlock_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        out = load(f, *args, **kwargs)
        if is_path(f) and events.carry_rng:
            sidefile.restore(f)
        if is_path(f):
            events.tell("load", f)
        return out

    seedlock_save._seedlock = True  # type: ignore[attr-defined]
    setattr(torch, "save", seedlock_save)  # noqa: B010 - a module mypy sees without these names
    setattr(torch, "load", seedlock_load)  # noqa: B010
