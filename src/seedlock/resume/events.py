"""Who wants to know when a checkpoint is saved or loaded: the seams tell the listeners.

The seams (floor 4) see every checkpoint; what listens sits higher (``seedlock check --resume``'s
recorder in :mod:`seedlock.trace.checkpoints`), so it registers itself here instead of being
imported.

>>> heard = []
>>> listen(lambda event, where: heard.append((event, where)))
>>> tell("save", "ckpt.pt"); heard
[('save', 'ckpt.pt')]
>>> LISTENERS.clear()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, str], None]
LISTENERS: list[Listener] = []
carry_rng = True  # the seams carry the RNG state; False: they only tell (check --resume --no-rng-checkpoint)


def listen(listener: Listener) -> None:
    if listener not in LISTENERS:
        LISTENERS.append(listener)


def tell(event: str, where: Any) -> None:
    """``event``: "save" or "load"; ``where``: the checkpoint's path, or what names it."""
    name = os.fspath(where) if isinstance(where, str | os.PathLike) else str(where)
    for listener in list(LISTENERS):
        listener(event, name)
