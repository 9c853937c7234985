"""The RNG state beside a checkpoint file: ``ckpt.pt`` -> ``ckpt.pt.seedlock-rng.json``.

A side file, not an entry in the checkpoint: what ``torch.save`` wrote stays exactly what the
script saved (``model.load_state_dict(torch.load(path))`` of a bare state dict would refuse an
extra key), and a checkpoint read without seedlock is unchanged. The side file names the
checkpoint it belongs to by size and a digest of its last 64 KiB (a torch zip ends with every
record's CRC; checkpoints are too large to hash on each save): a checkpoint written again since
by something else (plain python) leaves a stale side file, which is then not restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from typing import Any, TypeGuard

from seedlock.errors import BadRngState
from seedlock.resume import checks
from seedlock.resume import state as rng

SUFFIX = ".seedlock-rng.json"
FORMAT = "seedlock.rng_checkpoint"
_TAIL = 64 * 1024


def is_path(f: object) -> TypeGuard[str | os.PathLike[str]]:
    """A checkpoint named by a path (a file object, Lightning's ``BytesIO``, has no side file)."""
    return isinstance(f, str | os.PathLike)


def path_for(checkpoint: str | os.PathLike[str]) -> str:
    return os.fspath(checkpoint) + SUFFIX


def _fingerprint(checkpoint: str) -> dict[str, Any]:
    with open(checkpoint, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - _TAIL))
        tail = hashlib.blake2b(f.read(), digest_size=16).hexdigest()
    return {"size": size, "tail_blake2b": tail}


def write(checkpoint: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> None:
    """Write the RNG state (and ``extra``: a model's own generators) beside ``checkpoint``, which
    was just written. Atomically: a preemption mid-write leaves the old side file or the new one.
    No fsync: the side file is as durable as the checkpoint, which its writer did not sync either."""
    path = os.fspath(checkpoint)
    data = {"format": FORMAT, "version": 1, "checkpoint": _fingerprint(path), "state": rng.rng_state()}
    if extra:
        data["extra"] = extra
    target = path_for(path)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        text = json.dumps(data, separators=(",", ":"))  # one write: json.dump writes piece by piece
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read(checkpoint: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The side file of ``checkpoint`` if it has one that belongs to it, checked; ``None`` if it has
    none. Raises :class:`BadRngState` (one line) for one that is stale, damaged or not seedlock's."""
    path = os.fspath(checkpoint)
    target = path_for(path)
    try:
        with open(target, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise BadRngState(f"{target} is not JSON (damaged?); delete it to resume without it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise BadRngState(f"{target} is not a seedlock RNG side file; delete or rename it")
    if data.get("checkpoint") != _fingerprint(path):
        raise BadRngState(
            f"{target} belongs to an earlier {os.path.basename(path)} (it was written again without "
            "seedlock since); its RNG state is not restored"
        )
    checks.parse(data.get("state"))
    return data


def restore(checkpoint: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Restore the RNG state saved beside ``checkpoint``; return the side file's data. A side file
    that cannot be used is one line on stderr, and the checkpoint loads as it would without it."""
    try:
        data = read(checkpoint)
        if data is not None:
            rng.restore_rng_state(data["state"])
        return data
    except (BadRngState, OSError) as exc:
        note(str(exc))
        return None


def note(line: str) -> None:
    print(f"seedlock: note: {line}", file=sys.stderr, flush=True)
