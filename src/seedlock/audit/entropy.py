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

>>> _describe({"kind": "entropy", "what": "uuid.uuid4()", "source": "uuid.uuid4", "path": "t.py", "line": 3})
'uuid.uuid4() at t.py:3 drew OS entropy (uuid.uuid4)'
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any

from seedlock.config import ENV_ENTROPY
from seedlock.frameworks import hooks

SEED_VALUES_PER_SITE = 4  # a loop reseeding with many values: the first few tell runs apart

_lock = threading.Lock()
_tls = threading.local()  # inside a wrapped draw: the draws it makes itself (uuid4's urandom) are its own
_installed = False
_strict = False
_fd: int | None = None
_cwd = ""
_seen: dict[tuple[str, str, int, str, str], int] = {}  # (kind, file, line, source, value) -> calls
_records: list[dict[str, Any]] = []
_user: dict[str, bool] = {}
_HERE = os.path.abspath(__file__)
_SEEDLOCK = (
    os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
)  # callsite's is_seedlock: audit/ only


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


def _record(kind: str, frame: FrameType, source: str, value: str = "") -> None:
    import contextlib
    import json

    from seedlock.audit.callsite import code_at

    key = (kind, frame.f_code.co_filename, frame.f_lineno, source, value)
    with _lock:
        n = _seen.get(key, 0)
        _seen[key] = n + 1
        if n:
            return
        if kind == "seed" and sum(k[:4] == key[:4] for k in _seen) > SEED_VALUES_PER_SITE:
            return
        rec = {
            "kind": kind,
            "what": code_at(frame) or source,
            "source": source,
            "path": _path(frame.f_code.co_filename),
            "line": frame.f_lineno,
            "pid": os.getpid(),
        }
        if kind == "seed":
            rec["value"] = value
        _records.append(rec)
        if _fd is not None:
            with contextlib.suppress(OSError):  # a full disk must not fail the script's draw
                os.write(_fd, (json.dumps(rec) + "\n").encode())  # O_APPEND: whole lines from every process


def _seed_text(a: Any) -> str:
    text = str(a) if isinstance(a, int | float) else repr(a)
    return text if len(text) <= 60 else text[:57] + "..."


def _drawing(
    fn: Callable[..., Any],
    source: str | Callable[[FrameType], str],
    through: tuple[str, ...] = (),
    kind: str = "entropy",
    force: bool = False,
) -> Any:
    """``fn`` recording the user's call of it as an entropy draw (``force``: even when ``fn`` is a
    bound method of a function wrapped already, numpy's ``SystemRandom().getrandbits``)."""
    if getattr(fn, "_seedlock_entropy", False) and not force:
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_tls, "busy", False):
            return fn(*args, **kwargs)
        frame = _site(sys._getframe(1), through)
        if frame is not None:
            _record(kind, frame, source if isinstance(source, str) else source(sys._getframe(1)))
        _tls.busy = True
        try:
            return fn(*args, **kwargs)
        finally:
            _tls.busy = False

    wrapper._seedlock_entropy = True  # type: ignore[attr-defined]
    return wrapper


def _patch_os() -> None:
    for name in ("urandom", "getrandom"):
        if hasattr(os, name):
            setattr(os, name, _drawing(getattr(os, name), f"os.{name}"))


def _patch_uuid(uuid: ModuleType) -> None:
    for name in ("uuid1", "uuid4"):
        setattr(uuid, name, _drawing(getattr(uuid, name), f"uuid.{name}"))


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

    cls = random.SystemRandom
    for name in ("random", "getrandbits", "randbytes"):
        if name in cls.__dict__:
            setattr(cls, name, _drawing(cls.__dict__[name], named, plumbing))
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
        bitgen.randbits = _drawing(bitgen.randbits, "numpy RNG without a seed", kind="unseeded", force=True)  # type: ignore[attr-defined]
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


def install(path: str | None, *, strict: bool = False) -> None:
    """Record from now on; ``path``: append each record there. Call once, after seeding (and
    after ``--strict``'s install, whose seeding of unseeded RNGs then is not recorded)."""
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
    _patch_os()
    _patch_random()
    hooks.when_imported("uuid", _patch_uuid)
    hooks.when_imported("numpy.random", _patch_numpy)


def install_from_env(*, audit: bool = False, strict: bool = False) -> bool:
    """:func:`install` when ``$SEEDLOCK_ENTROPY`` names a file (a run of check) or under ``--audit``."""
    path = os.environ.get(ENV_ENTROPY)
    if not path and not audit:
        return False
    install(path, strict=strict)
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
