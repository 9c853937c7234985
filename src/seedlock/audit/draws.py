"""Opposite draws: under ``seedlock check``, run 2 draws the mirror image of run 1's OS entropy.

Two runs that draw OS entropy get different values, but a result built from a few bits of them
(``shard = uuid.uuid4().int % 2``) agrees in half of all pairs: equal runs, and a wrong
REPRODUCIBLE. So each run of a check carries ``$SEEDLOCK_DRAWS`` (``KEY:I:PARENT``: a key drawn
for this check, the run's index, the identity of the process whose environment it is), and a draw
the user's code makes (``os.urandom``, ``uuid.uuid4``, ``random.SystemRandom``/``secrets``;
:mod:`seedlock.audit.entropy` decides which calls are the user's)
takes its bytes from a stream keyed by the key, the process's identity, the call site and how many
calls it made before. Runs 1 and 2 read the same bytes, and run 2 returns the mirror of the value
(:mod:`seedlock.audit.entropy` mirrors each kind, one to one): bytes and bits flipped,
``random()`` as ``1 - x``, ``randbelow(n)`` as ``n - 1 - r``. A result that takes a bit of the
draw or the half of its range it fell in (``% 2``, ``< 0.5``) then differs every time; one that
hashes it, is symmetric in it (``abs``, the sign of ``gauss``) or compares it with another
threshold agrees by chance as before, so equal runs still prove nothing about a draw. Runs 3
and later read streams of their own; the values are as uniform as the OS's to the script, and
another check draws another key.

A process has an identity only where runs can be matched process for process: the run's own
(``r``), a torchrun rank (``r/rank1``), a multiprocessing worker (``r/mp2``, in creation order).
Others (a subprocess with no rank, an ``os.fork`` child) keep the OS's entropy. An identity is
claimed once per run (a file beside the run's entropy record, created exclusively): a second
process with the same one (a rank torchrun restarted, children that inherited one ``RANK``)
keeps the OS's entropy, so that no two processes of a run ever draw alike.

>>> a, b = _Call(b"site key").take(4), _Call(b"site key").take(40)
>>> a == b[:4] != _Call(b"another").take(4), flip_bytes(b"\\x00\\x0f")
(True, b'\\xff\\xf0')
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Mapping

from seedlock.config import ENV_DRAWS, ENV_ENTROPY, rank_label

_FLIP = bytes(255 - i for i in range(256))
MOST = 1 << 30  # bytes one call takes from the stream; a larger ask goes to the OS (and its errors)


class _Call:
    """One steered call's bytes: SHAKE-256 of its key and how many reads it made, read the same
    way in runs 1 and 2 (a rejection loop, ``randbelow``'s, reads as many in both)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.reads = 0

    def take(self, n: int) -> bytes:
        out = hashlib.shake_256(self.key + self.reads.to_bytes(8, "little")).digest(n) if n else b""
        self.reads += 1
        return out


_base: bytes | None = None  # this process's stream key; None: draws stay the OS's
_calls: dict[str, itertools.count[int]] = {}  # call site -> its calls, counted without a lock
_key = ""
_run = 0
_identity: str | None = None
_parent: str | None = None  # the identity of the process that started this one
_claims = ""  # the folder where this run's processes claim their identities
_pid = 0  # the process the stream is keyed for: a fork made from C runs no fork handler


def configure(environ: Mapping[str, str], *, root: bool) -> None:
    """Read ``$SEEDLOCK_DRAWS`` (set by check for each run) and key this process's stream; ``root``:
    this is the run's own process (seedlock's boot), not a process it started."""
    global _key, _run, _parent, _claims
    value = environ.get(ENV_DRAWS)
    record = environ.get(ENV_ENTROPY)
    if not value or not record:
        return
    _claims = os.path.dirname(os.path.abspath(record))
    key, _, rest = value.partition(":")
    run, _, parent = rest.partition(":")
    if not key or not run.isdigit():
        return
    _key, _run, _parent = key, int(run), parent or None
    label = rank_label(environ)
    if root:
        identity: str | None = "r"
    elif label is not None and _parent and "/rank" not in _parent and _parent != "-":
        identity = f"{_parent}/rank{label}"  # a rank the launcher started (torchrun's workers)
    else:
        identity = None  # a subprocess check cannot match across runs; a worker may still be (below)
    _become(identity)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forked)


def _claimed(identity: str) -> bool:
    """Whether this process is the first of its run to take ``identity`` (and now holds it)."""
    name = hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()
    try:
        os.close(
            os.open(os.path.join(_claims, f"draws-{name}.claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        )
    except OSError:  # taken (a restarted rank, a RANK every child inherited) or no folder: the OS's
        return False
    return True


def _become(identity: str | None) -> None:
    global _base, _identity, _pid
    if identity is not None and not _claimed(identity):
        identity = None
    _identity, _pid = identity, os.getpid()
    own = _key if _run < 2 else f"{_key}/{_run}"  # runs 1 and 2 read one stream; run 2 mirrors it
    _base = (
        None if identity is None else hashlib.blake2b(f"{own}\0{identity}".encode(), digest_size=32).digest()
    )
    _calls.clear()
    os.environ[ENV_DRAWS] = f"{_key}:{_run}:{identity or '-'}"  # what this process's children see


def _forked() -> None:
    """In a forked child: its parent's stream must not repeat there. A multiprocessing worker
    gets a stream of its own next (:func:`worker`); a bare fork keeps the OS's entropy."""
    global _parent
    if _key:
        _parent = _identity
        _become(None)


def worker(identity: tuple[int, ...]) -> None:
    """A multiprocessing worker as it starts (spawn, forkserver or fork): keyed by its creator's
    identity and its own, which multiprocessing gives in creation order."""
    if _key and identity and _parent and _parent != "-":
        _become(f"{_parent}/mp{'.'.join(map(str, identity))}")


def begin(site: str) -> _Call | None:
    """The bytes of the user's next call at ``site`` (``path:line``), or None where draws stay the OS's."""
    if _base is not None and os.getpid() != _pid:
        _forked()  # forked without Python's fork handlers (from C): the parent's stream is not ours
    base = _base
    if base is None:
        return None
    # No lock: a signal handler that draws may interrupt a draw of its own thread. setdefault and
    # next() are single steps under the GIL, so no two calls at a site share a number.
    nth = next(_calls.setdefault(site, itertools.count()))
    return _Call(hashlib.blake2b(f"{site}\0{nth}".encode(), key=base).digest())


def flipped() -> bool:
    """This run returns the mirror of each steered value (run 2 of a check)."""
    return _run == 1


def flip_bytes(data: bytes) -> bytes:
    return data.translate(_FLIP)
