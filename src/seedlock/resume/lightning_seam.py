"""Lightning: the RNG state rides in the checkpoint dict, under :data:`KEY`.

Lightning writes checkpoints through fsspec (``torch.save`` into a ``BytesIO``), so the torch
seam's path never fires; its own seams do: ``_CheckpointConnector.dump_checkpoint`` (every
``ModelCheckpoint`` save, ``trainer.save_checkpoint``) adds the state, and
``restore_training_state`` (``trainer.fit(ckpt_path=...)``) puts it back after the loops and
optimizers: after the module and callbacks are restored and before the fit loop makes its first
DataLoader iterator, which is where the uninterrupted run drew next. The sanity check between
them runs under Lightning's own ``isolate_rng``. JSON text, not a dict: a checkpoint loaded with
``weights_only=True`` takes a str as it is, and it is checked like any state from disk.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

from seedlock.errors import BadRngState
from seedlock.resume import events, sidefile
from seedlock.resume.state import restore_rng_state, rng_state

KEY = "seedlock_rng_state"


def patch(connector_module: ModuleType) -> None:
    cls: Any = connector_module._CheckpointConnector
    dump, restore = cls.dump_checkpoint, cls.restore_training_state
    if getattr(dump, "_seedlock", False):
        return

    @functools.wraps(dump)
    def dump_checkpoint(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        checkpoint: dict[str, Any] = dump(self, *args, **kwargs)
        if events.carry_rng:
            checkpoint[KEY] = json.dumps(rng_state(), separators=(",", ":"))
        events.tell("save", "lightning checkpoint")
        return checkpoint

    @functools.wraps(restore)
    def restore_training_state(self: Any) -> None:
        restore(self)
        if self._loaded_checkpoint:  # called at every fit's start; a load only with ckpt_path
            events.tell("load", "lightning checkpoint")
        saved = (self._loaded_checkpoint or {}).get(KEY)
        fitting = getattr(self.trainer.state.fn, "value", None) == "fit"
        if saved is not None and fitting:  # validate/test/predict from a checkpoint draw afresh
            try:
                restore_rng_state(saved)
            except BadRngState as exc:
                sidefile.note(f"the checkpoint's {KEY}: {exc}")

    dump_checkpoint._seedlock = True  # type: ignore[attr-defined]
    cls.dump_checkpoint = dump_checkpoint
    cls.restore_training_state = restore_training_state
