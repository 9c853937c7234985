"""``check --resume``'s recorder inside a run: every checkpoint, the state right after it, a stop.

Installed when ``$SEEDLOCK_CHECKPOINTS`` names a file (``seedlock check --resume`` sets it). The
checkpoint seams (:mod:`seedlock.resume.events`) tell it of each save and load; it appends one
JSON line per event:

* ``{"event": "save", "checkpoint": K, "records": N, "path": P}``: saves with no trace record
  between them (a model file and an optimizer file) are one checkpoint; ``records`` is how many
  trace records the run had written, where a resumed run's records line up with this one's.
* ``{"event": "load", "path": P}``.
* ``{"event": "probe", "after": "save"|"load", "checkpoint": K, "state": {...}}``: at the first
  forward pass after a checkpoint or a load, digests of what the next step starts from: the model's
  weights, the optimizer's state, its learning rates, the global RNGs and the batch. The
  uninterrupted run's probe after checkpoint K and the resumed run's after its load name what a
  resume lost.
* ``{"event": "stopped", "checkpoint": K}``: with ``$SEEDLOCK_STOP_AT=K`` the run then waits to be
  preempted (SIGTERM, as a cluster sends it), right where training would go on.

>>> _digest([b"a", b"b"]) == _digest([b"a", b"b"]) != _digest([b"ab"])
True
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from typing import Any

import xxhash

from seedlock.config import ENV_CHECKPOINTS, ENV_STOP_AT

_path: str | None = None
_stop_at: int | None = None
_checkpoints = 0
_last_records: int | None = None  # the trace's record count at the last save
_pending: tuple[str, int] | None = None  # a probe to take at the next forward: ("save", K) or ("load", K)


def install() -> None:
    """Listen to the checkpoint seams and, once torch is imported, watch its forward passes."""
    global _path, _stop_at
    _path = os.environ.get(ENV_CHECKPOINTS) or None
    if _path is None:
        return
    stop = os.environ.get(ENV_STOP_AT, "")
    _stop_at = int(stop) if stop.isdigit() else None
    from seedlock.frameworks import hooks
    from seedlock.resume import events

    events.listen(_heard)
    hooks.when_imported("torch", _torch)
    hooks.when_imported("keras.src.callbacks.callback_list", _keras)


def _write(line: dict[str, Any]) -> None:
    if _path is not None:
        with open(_path, "a", encoding="utf-8") as f:  # appended and closed: a kill keeps every line
            f.write(json.dumps(line) + "\n")


def _records() -> int:
    from seedlock.trace import tracefile

    writer = tracefile._active
    return writer.count if writer is not None else 0


def _heard(event: str, where: str) -> None:
    global _checkpoints, _last_records, _pending
    if event == "save":
        records = _records()
        if records != _last_records:  # a new checkpoint, not another file of the same one
            _checkpoints += 1
            _last_records = records
        _write({"event": "save", "checkpoint": _checkpoints, "records": records, "path": where})
        _pending = ("save", _checkpoints)
    elif event == "load":
        _write({"event": "load", "path": where, "records": _records()})
        _pending = ("load", _checkpoints)


def _maybe_stop(checkpoint: int) -> None:
    if _stop_at is not None and checkpoint == _stop_at:
        _write({"event": "stopped", "checkpoint": checkpoint})
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pause()  # until preempted; a script that handles SIGTERM goes on, until SIGKILL


def _keras(callback_list: Any) -> None:
    """Keras 3: the next epoch or batch after a checkpoint is where training goes on (a
    BackupAndRestore backup is whole only once its callback returns: weights, then the epoch)."""
    cls = callback_list.CallbackList
    for name in ("on_epoch_begin", "on_train_batch_begin"):
        original = getattr(cls, name)
        if getattr(original, "_seedlock", False):
            continue

        def begin(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            global _pending
            if _pending is not None:
                after, checkpoint = _pending
                _pending = None
                if after == "save":
                    _maybe_stop(checkpoint)
            return _original(self, *args, **kwargs)

        begin._seedlock = True  # type: ignore[attr-defined]
        setattr(cls, name, begin)


def _torch(torch: Any) -> None:
    from torch.nn.modules.module import register_module_forward_pre_hook

    def pre(module: Any, args: Any) -> None:
        global _pending
        if _pending is None:
            return
        after, checkpoint = _pending
        _pending = None
        _write(
            {"event": "probe", "after": after, "checkpoint": checkpoint, "state": probe(torch, module, args)}
        )
        if after == "save":
            _maybe_stop(checkpoint)

    register_module_forward_pre_hook(pre)


def _digest(parts: list[bytes]) -> str:
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _bytes(torch: Any, t: Any) -> bytes:
    return bytes(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def _tensor_bytes(torch: Any, value: Any) -> list[bytes]:
    leaves = torch.utils._pytree.tree_leaves(value)
    return [
        t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        if isinstance(t, torch.Tensor)
        else repr(t).encode()
        for t in leaves
    ]


def probe(torch: Any, model: Any, args: Any) -> dict[str, str]:
    """Digests of what the next training step starts from: the weights the optimizers train (the
    first module called may be a frozen encoder or a teacher, not the model), their state and
    learning rates, the global RNGs, and the first batch (what the first module was given)."""
    import gc
    import warnings

    with warnings.catch_warnings():  # isinstance on every object wakes deprecated torch attributes
        warnings.simplefilter("ignore")
        optimizers = [o for o in gc.get_objects() if isinstance(o, torch.optim.Optimizer)]
    # One digest per optimizer, sorted: gc lists objects in no stable order.
    weights, state, lrs = [], [], []
    for o in optimizers:
        params = [p for g in o.param_groups for p in g["params"]]
        weights.append(_digest([_bytes(torch, p) for p in params]))
        sd = o.state_dict()
        state.append(_digest(_tensor_bytes(torch, sd["state"])))
        lrs.append(_digest([repr(g.get("lr")).encode() for g in sd["param_groups"]]))
    if not optimizers:  # trained by hand: the module called first is all there is to go by
        weights.append(_digest([_bytes(torch, p) for p in model.parameters()]))
    rngs = [repr(random.getstate()).encode(), torch.get_rng_state().numpy().tobytes()]
    np = sys.modules.get("numpy")
    if np is not None:
        legacy = np.random.get_state(legacy=True)
        rngs.append(legacy[1].tobytes() + repr(legacy[2:]).encode())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rngs += [s.numpy().tobytes() for s in torch.cuda.get_rng_state_all()]
    return {
        "model weights": _digest([d.encode() for d in sorted(weights)]),
        "optimizer state": _digest([d.encode() for d in sorted(state)]),
        "learning rate": _digest([d.encode() for d in sorted(lrs)]),
        "RNG state": _digest(rngs),
        "data order": _digest(_tensor_bytes(torch, args)),
    }
