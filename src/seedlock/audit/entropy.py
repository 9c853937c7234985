"""The runtime entropy record: every draw of OS entropy, unseeded RNG and seed the user's code makes.

Under ``seedlock check`` (``$SEEDLOCK_ENTROPY``: the run's record file) and ``run --audit``, thin
wrappers note each call made from the user's own code (not seedlock, the standard library or an
installed package: :mod:`seedlock.audit.callsite`) with its file and line:

* ``entropy``: ``os.urandom``, ``uuid.uuid4``/``uuid1``, ``secrets.*``, ``random.SystemRandom``;
* ``unseeded``: ``np.random.default_rng()`` (and every numpy RNG without a seed), ``random.Random()``,
  ``random.seed()`` (left to ``--strict`` when it is on: it seeds them);
* ``seed``: the value given to ``random.seed``/``random.Random``, ``np.random.seed`` and
  ``np.random.default_rng``: a seed that differs between runs (the clock) is a cause, and a
  clock-seeded line that never ran is not.

Each site's first call is appended to the file as it happens (a crash keeps it), one JSON line;
a seed site's first few distinct values too. The frameworks' own draws are not recorded.

Under check, the user's draws of OS entropy also take their bytes from :mod:`seedlock.audit.draws`
where it has a stream (``"steered": true`` in the record): run 2's values are run 1's mirrored.
Unseeded RNGs keep the OS's seeds: what a generator draws from a flipped seed is no mirror.

>>> _describe({"kind": "entropy", "what": "uuid.uuid4()", "source": "uuid.uuid4", "path": "t.py", "line": 3})
'uuid.uuid4() at t.py:3 drew OS entropy (uuid.uuid4)'
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import sys
import threading
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any

from seedlock.audit import draws
from seedlock.config import ENV_ENTROPY
from seedlock.frameworks import hooks

SEED_VALUES_PER_SITE = 4  # a loop reseeding with many values: the first few tell runs apart

_lock = threading.RLock()  # a signal handler that draws may run while its own thread holds it
_json: Any = None
_code_at: Callable[[FrameType], str | None] | None = None
_tls = threading.local()  # inside a wrapped draw: the draws it makes itself (uuid4's urandom) are its own
_installed = False
_strict = False
_fd: int | None = None
_cwd = ""
_seen: dict[
    tuple[str, str, int, str, str, bool], int
] = {}  # (kind, file, line, source, value, steered) -> calls
_records: list[dict[str, Any]] = []
_user: dict[str, bool] = {}
_HERE = os.path.abspath(__file__)
_SEEDLOCK = (
    os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
)  # callsite's is_seedlock: audit/ only


def _load() -> None:
    """What recording needs, on the first draw (not at start-up: callsite's linecache costs ~20 ms),
    kept here: a draw in a ``__del__`` at interpreter exit can no longer import."""
    global _json, _code_at
    import json

    from seedlock.audit.callsite import code_at

    _json, _code_at = json, code_at


def _is_user(filename: str) -> bool:
    known = _user.get(filename)
    if known is None:
        from seedlock.audit.callsite import is_stdlib, is_third_party  # on the first call: start-up

        known = not (
            filename.startswith("<")
            or os.path.realpath(filename).startswith(_SEEDLOCK)
            or is_stdlib(filename)
            or is_third_party(filename)
        )
        _user[filename] = known
    return known


def _site(frame: FrameType | None, through: tuple[str, ...] = ()) -> FrameType | None:
    """The user's frame that made this call, walking out of our wrappers and the module's own
    plumbing (``through``: ``random.py`` between ``SystemRandom.randint`` and ``getrandbits``)."""
    while frame is not None and (frame.f_code.co_filename in through or frame.f_code.co_filename == _HERE):
        frame = frame.f_back
    if frame is None or not _is_user(frame.f_code.co_filename):
        return None
    return frame


def _path(filename: str) -> str:
    """Relative to the working directory at install (the runs' views mirror the user's), else absolute."""
    rel = os.path.relpath(filename, _cwd) if _cwd else filename
    return filename if rel.startswith("..") else rel


def _record(kind: str, frame: FrameType, source: str, value: str = "", steered: bool = False) -> None:
    if _code_at is None or _json is None:
        _load()
    assert _code_at is not None and _json is not None
    key = (kind, frame.f_code.co_filename, frame.f_lineno, source, value, steered)
    with _lock:
        n = _seen.get(key, 0)
        _seen[key] = n + 1
        if n:
            return
        if kind == "seed" and sum(k[:4] == key[:4] for k in _seen) > SEED_VALUES_PER_SITE:
            return
        rec = {
            "kind": kind,
            "what": _code_at(frame) or source,
            "source": source,
            "path": _path(frame.f_code.co_filename),
            "line": frame.f_lineno,
            "pid": os.getpid(),
        }
        if kind == "seed":
            rec["value"] = value
        if steered:
            rec["steered"] = True
        _records.append(rec)
        if _fd is not None:
            with contextlib.suppress(OSError):  # a full disk must not fail the script's draw
                os.write(_fd, (_json.dumps(rec) + "\n").encode())  # O_APPEND: whole lines from every process


def _seed_text(a: Any) -> str:
    text = str(a) if isinstance(a, int | float) else repr(a)
    return text if len(text) <= 60 else text[:57] + "..."


Mirror = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]


def _drawing(
    fn: Callable[..., Any],
    source: str | Callable[[FrameType], str],
    through: tuple[str, ...] = (),
    kind: str = "entropy",
    force: bool = False,
    mirror: Mirror | None = None,
    size: Callable[..., int] | None = None,
) -> Any:
    """``fn`` recording the user's call of it as an entropy draw (``force``: even when ``fn`` is a
    bound method of a function wrapped already, numpy's ``SystemRandom().getrandbits``).

    Under check (:mod:`seedlock.audit.draws`), the bytes the call draws come from the draws' stream,
    and run 2 returns ``mirror(value, args, kwargs)``; None: not steered (uuid1: the clock).
    ``size``: ``fn`` is a byte source itself (``os.urandom``), returning that many bytes."""
    if getattr(fn, "_seedlock_entropy", False) and not force:
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_tls, "busy", False):
            steered = size is not None and getattr(_tls, "call", None) is not None
            got = _steered_bytes(size(*args, **kwargs)) if steered and size is not None else None
            return got if got is not None else fn(*args, **kwargs)  # uuid4's own os.urandom(16)
        frame = _site(sys._getframe(1), through)
        if frame is None:
            return fn(*args, **kwargs)
        call = draws.begin(f"{_path(frame.f_code.co_filename)}:{frame.f_lineno}") if mirror else None
        n = _count(size(*args, **kwargs)) if call is not None and size is not None else None
        if call is not None and size is not None and n is None:
            call = None  # a bad size: the OS's own error
        name = source if isinstance(source, str) else source(sys._getframe(1))
        _record(kind, frame, name, steered=call is not None)
        if call is not None and n is not None:
            value: Any = call.take(n)
        else:
            _tls.busy, _tls.call = True, call
            try:
                value = fn(*args, **kwargs)
            finally:
                _tls.busy, _tls.call = False, None
        if call is not None and mirror is not None and draws.flipped():
            return mirror(value, args, kwargs)
        return value

    wrapper._seedlock_entropy = True  # type: ignore[attr-defined]
    return wrapper


def _bytes_mirror(value: bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    return draws.flip_bytes(value)


def _uuid_mirror(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return type(value)(bytes=draws.flip_bytes(value.bytes), version=4)


def _count(n: Any) -> int | None:
    """A size as the OS takes it (an int, numpy's too); None for one it refuses (it says why)."""
    try:
        n = operator.index(n)
    except TypeError:
        return None
    return n if 0 <= n <= draws.MOST else None


def _steered_bytes(n: Any) -> bytes | None:
    """Inside a steered call (uuid4's os.urandom, SystemRandom's _urandom): its next ``n`` bytes;
    None outside one, or for a size the OS would refuse."""
    call = getattr(_tls, "call", None)
    count = _count(n) if call is not None else None
    return call.take(count) if call is not None and count is not None else None


def _bits_mirror(value: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    k = operator.index(kwargs["k"] if "k" in kwargs else args[-1])  # getrandbits(self, k), randbits(k)
    return value ^ ((1 << k) - 1)


def _float_mirror(value: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
    return (2**53 - 1 - int(value * 2**53)) * 2.0**-53  # random(): 53 bits, 1 - x


def _below_mirror(value: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """``_randbelow(self, n)`` (randbelow, choice, shuffle, randrange): ``n - 1 - r``, a one-to-one
    map, so run 2's values are as uniform as run 1's. An odd ``n``'s middle value would be its
    own mirror: the three middle values go round (m-1 -> m -> m+1 -> m-1) instead."""
    n = operator.index(kwargs["n"] if "n" in kwargs else args[-1])
    m = (n - 1) // 2
    if n % 2 and n >= 3 and m - 1 <= value <= m + 1:
        return {m - 1: m, m: m + 1, m + 1: m - 1}[value]
    return n - 1 - value


def _urandom_size(n: int) -> int:
    return n


def _getrandom_size(size: int, flags: int = 0) -> int:
    return size if flags == 0 else -1  # a flag (GRND_NONBLOCK, or a bad one): the OS's call


def _patch_os() -> None:
    for name, size in (("urandom", _urandom_size), ("getrandom", _getrandom_size)):
        if hasattr(os, name):
            setattr(os, name, _drawing(getattr(os, name), f"os.{name}", mirror=_bytes_mirror, size=size))


def _patch_uuid(uuid: ModuleType) -> None:
    # uuid1 is the clock and a clock sequence from `random` (seeded): nothing of it is steered
    uuid.uuid1 = _drawing(uuid.uuid1, "uuid.uuid1")  # type: ignore[attr-defined]
    uuid.uuid4 = _drawing(uuid.uuid4, "uuid.uuid4", mirror=_uuid_mirror)  # type: ignore[attr-defined]


def _steerable(urandom: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """``random._urandom`` (SystemRandom's, so secrets' and numpy's seeds too): the steered call's
    bytes inside one."""
    if getattr(urandom, "_seedlock_entropy", False):
        return urandom

    def _urandom(n: int) -> bytes:
        got = _steered_bytes(n)
        return got if got is not None else urandom(n)  # the OS's entropy, or its error for a bad size

    _urandom._seedlock_entropy = True  # type: ignore[attr-defined]
    return _urandom


def _patch_random() -> None:
    import random

    secrets_file = os.path.join(os.path.dirname(random.__file__), "secrets.py")  # not imported: start-up
    plumbing = (random.__file__, secrets_file)

    def named(frame: FrameType) -> str:
        """``secrets.token_hex`` when secrets made the call, else ``random.SystemRandom``."""
        outer = None
        while frame is not None and frame.f_code.co_filename in plumbing + (_HERE,):
            if frame.f_code.co_filename == secrets_file:
                outer = frame.f_code.co_name
            frame = frame.f_back  # type: ignore[assignment]
        return f"secrets.{outer}" if outer else "random.SystemRandom"

    random._urandom = _steerable(random._urandom)  # type: ignore[attr-defined]
    cls = random.SystemRandom
    mirrors: dict[str, Mirror] = {
        "random": _float_mirror,
        "getrandbits": _bits_mirror,
        "randbytes": _bytes_mirror,
        "_randbelow": _below_mirror,  # outermost for randbelow, choice, shuffle: its rejection loop runs alike
    }
    for name, mirror in mirrors.items():
        if name in cls.__dict__:
            setattr(cls, name, _drawing(cls.__dict__[name], named, plumbing, mirror=mirror))
    original = random.Random.seed
    if getattr(original, "_seedlock_entropy", False):
        return

    @functools.wraps(original)
    def seed(self: random.Random, a: Any = None, *args: Any, **kwargs: Any) -> Any:
        frame = _site(sys._getframe(1), (random.__file__,))
        if frame is not None and a is None and not _strict:
            _record("unseeded", frame, "random.Random()")
        elif frame is not None and a is not None:
            _record("seed", frame, "random.seed", _seed_text(a))
        return original(self, a, *args, **kwargs)

    seed._seedlock_entropy = True  # type: ignore[attr-defined]
    random.Random.seed = seed  # type: ignore[method-assign]
    inst = getattr(random, "_inst", None)
    if inst is not None:  # random.seed was bound to the hidden instance at import
        random.seed = inst.seed


def _patch_numpy(random_pkg: ModuleType) -> None:
    bitgen = sys.modules.get("numpy.random.bit_generator")
    # Every unseeded numpy RNG asks randbits (Cython: no frame of numpy's between it and the caller).
    if (
        not _strict
        and bitgen is not None
        and hasattr(bitgen, "randbits")
        and not hasattr(bitgen, "_seedlock_entropy")
    ):
        # not steered: a generator seeded from flipped bits draws no mirror of what it drew before
        randbits = _drawing(bitgen.randbits, "numpy RNG without a seed", kind="unseeded", force=True)
        bitgen.randbits = randbits  # type: ignore[attr-defined]
        bitgen._seedlock_entropy = True  # type: ignore[attr-defined]
    for name in ("seed", "default_rng"):
        fn = getattr(random_pkg, name, None)
        if fn is None or getattr(fn, "_seedlock_entropy", False):
            continue
        setattr(random_pkg, name, _seeding(fn, f"np.random.{name}"))


def _seeding(fn: Callable[..., Any], source: str) -> Any:
    @functools.wraps(fn)
    def wrapper(seed: Any = None, *args: Any, **kwargs: Any) -> Any:
        if seed is not None:
            frame = _site(sys._getframe(1))
            if frame is not None:
                _record("seed", frame, source, _seed_text(seed))
        return fn(seed, *args, **kwargs)

    wrapper._seedlock_entropy = True  # type: ignore[attr-defined]
    return wrapper


def _forked() -> None:
    """A lock another thread held at the fork stays held in the child: a fresh one there."""
    global _lock
    _lock = threading.RLock()


def install(path: str | None, *, strict: bool = False, root: bool = False) -> None:
    """Record from now on; ``path``: append each record there. Call once, after seeding (and
    after ``--strict``'s install, whose seeding of unseeded RNGs then is not recorded). ``root``:
    the run's own process (for :func:`seedlock.audit.draws.configure`)."""
    global _installed, _strict, _fd, _cwd
    with _lock:
        if _installed:
            return
        _installed, _strict, _cwd = True, strict, os.getcwd()
        if path:
            try:
                _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError:
                _fd = None
    draws.configure(os.environ, root=root)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forked)
    _patch_os()
    _patch_random()
    hooks.when_imported("uuid", _patch_uuid)
    hooks.when_imported("numpy.random", _patch_numpy)


def install_from_env(*, audit: bool = False, strict: bool = False, root: bool = False) -> bool:
    """:func:`install` when ``$SEEDLOCK_ENTROPY`` names a file (a run of check) or under ``--audit``."""
    path = os.environ.get(ENV_ENTROPY)
    if not path and not audit:
        return False
    install(path, strict=strict, root=root)
    return True


def _describe(rec: dict[str, Any]) -> str:
    where = f"{rec['path']}:{rec['line']}"
    if rec["kind"] == "seed":
        return f"{rec['what']} at {where} seeded with {rec.get('value')}"
    did = "drew OS entropy" if rec["kind"] == "entropy" else "made an RNG without a seed (OS entropy)"
    return f"{rec['what']} at {where} {did} ({rec['source']})"


def explain() -> list[str]:
    """One line per entropy draw and unseeded RNG recorded in this process (``run --audit`` at exit)."""
    with _lock:
        recs = [r for r in _records if r["kind"] != "seed"]
    return [f"entropy: {_describe(r)}" for r in recs]
