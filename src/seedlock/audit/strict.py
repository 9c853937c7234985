"""Strict mode: seed the RNGs that global seeding cannot reach, from their call site.

``seed_everything`` seeds global state. Some RNGs never read it: ``np.random.default_rng()``,
``np.random.SeedSequence()``, ``np.random.RandomState()`` and the bit generators
(``PCG64()``, ...) draw fresh OS entropy; ``random.Random()`` does too; an unseeded
``torch.Generator()`` starts from torch's fixed default seed, which ignores the master seed.
With ``seedlock run --strict`` (or :func:`install`) each of those gets
``derive(f"strict:{path}:{line}#{n}")``: a seed named by where it was created, ``n`` counting
the calls from that line, so a loop making RNGs gets distinct seeds that repeat run to run::

    $ cat train.py
    import numpy as np
    rng = np.random.default_rng()            # line 2
    print(rng.random())
    $ seedlock run --seed 42 --strict train.py   # the same number every run
    0.7795362043303221

and :func:`explain` says where it came from::

    strict: np.random.default_rng() at train.py:2 seeded from derive('strict:train.py:2#0') = 3543140933

That seed is the one to pass by hand for the same stream without strict mode:
``np.random.default_rng(3543140933)`` (likewise ``random.Random(seed)``,
``torch.Generator().manual_seed(seed)``).

Which call sites count. Sites in your code and in third-party packages are seeded. Sites in
the standard library are not (``tempfile`` makes its ``random.Random()`` for file names,
which must stay unpredictable), nor RNGs that numpy or torch make for themselves (unpickling,
``DataLoader``'s sampler, which seeds its generator right away). ``SystemRandom`` is left
alone. The path in the name is relative to the working directory at :func:`install`; outside it,
an installed package's file is named from its package (``sympy/core/random.py``) and other
files by their basename; numbering restarts at each ``seed_everything`` (so
``seedlock.reproducible()`` blocks repeat), as in a fresh process.

How. No numpy class is replaced: numpy asks one module-level function,
``numpy.random.bit_generator.randbits``, for every piece of unseeded entropy, so strict mode
swaps that function; objects stay genuine numpy objects (``isinstance``, pickling) and
``from numpy.random import default_rng`` done before or after install is covered alike.
``random.Random.seed`` is patched in place (the class stays the class). ``torch.Generator``
becomes a subclass whose ``isinstance`` checks defer to torch's class, installed when
``import torch`` finishes (``from torch import Generator`` after that gets it too).
Nothing is imported here: the numpy and torch patches wait for the user's imports.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any

from seedlock.audit.callsite import call_site, code_at, display_path, function_of, real
from seedlock.config import ENV_STRICT
from seedlock.frameworks import hooks
from seedlock.report import SeedReport, Status

SHOWN_PER_SITE = 3  # explain()/report lines per call site; the rest are summed up in one line


@dataclass
class Site:
    """One unseeded RNG that strict mode seeded."""

    file: str  # the code object's filename, as Python has it
    path: str  # as used in ``name``: see seedlock.audit.callsite.display_path
    line: int
    function: str
    what: str  # "np.random.default_rng()", "random.Random()", "torch.Generator()"
    name: str  # "strict:train.py:12#0", the name given to seedlock.derive
    seed: int
    n: int  # the how-manieth call from this line
    superseded: bool = False  # reseeded later (manual_seed, set_state): the strict seed went unused


# --------------------------------------------------------------------------- state

_lock = threading.RLock()
_installed = False
_report: SeedReport | None = None
_base: str | None = None  # the script's root, found at the first capture: see _script_root
_sites: list[Site] = []
_counts: dict[str, int] = {}
_epoch: object = None  # the api report the current numbering belongs to
_finished = False


def _sync_epoch() -> None:
    """Restart numbering when seed_everything ran again: as in a fresh process."""
    global _epoch
    from seedlock import api

    current = api.current_report()
    if current is not None and current is not _epoch:
        _epoch = current
        _counts.clear()


def _script_root() -> str:
    """What call-site paths are relative to: the script's directory, or for ``-m pkg.mod`` the
    directory that holds ``pkg``; so a script gives the same seeds from any working directory.
    The working directory only where there is no script file (a REPL, ``python -c``)."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if not isinstance(file, str) or file.startswith("<"):
        return os.getcwd()
    root = os.path.dirname(os.path.abspath(file))
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", "") or ""
    for _ in range(name.count(".")):
        root = os.path.dirname(root)  # out of the package: its files are named pkg/mod.py
    return root


def _capture(frame: FrameType, what: str) -> Site:
    from seedlock.seeds import derive

    global _base
    if (
        _base is None
    ):  # at the first capture, not at install: under the launcher the script is __main__ by now
        _base = _script_root()
    filename = frame.f_code.co_filename
    path = display_path(filename, _base)
    key = f"{path}:{frame.f_lineno}"
    with _lock:
        _sync_epoch()
        n = _counts.get(key, 0)
        _counts[key] = n + 1
    name = f"strict:{key}#{n}"
    site = Site(filename, path, frame.f_lineno, function_of(frame), what, name, derive(name), n)
    with _lock:
        _sites.append(site)
    return site


def captured() -> list[Site]:
    """Every RNG strict mode seeded so far, in creation order (one :class:`Site` per call)."""
    with _lock:
        return list(_sites)


def explain() -> list[str]:
    """One line per seeded RNG, for the report at exit; a loop's site is summed up after a few.

    >>> explain()  # nothing captured in this process
    ['strict: no unseeded RNG was created']
    """
    sites = captured()
    if not sites:
        return ["strict: no unseeded RNG was created"]
    groups: dict[tuple[str, int], list[Site]] = {}
    for site in sites:
        groups.setdefault((site.path, site.line), []).append(site)
    lines: list[str] = []
    for (path, line), group in groups.items():
        for site in group[:SHOWN_PER_SITE]:
            text = f"strict: {site.what} at {path}:{line} seeded from derive({site.name!r}) = {site.seed}"
            if site.superseded:
                text += " (then reseeded by the script: strict seed unused)"
            lines.append(text)
        if len(group) > SHOWN_PER_SITE:
            rest = group[SHOWN_PER_SITE:]
            lines.append(
                f"strict: ... and {len(rest)} more from {path}:{line} "
                f"(#{rest[0].n}..#{rest[-1].n}, seeds from derive('strict:{path}:{line}#N'))"
            )
    return lines


def finish() -> None:
    """Add :func:`explain`'s lines to the report given to :func:`install` (once; also at exit)."""
    global _finished
    if _finished or _report is None:
        return
    _finished = True
    if _sites:
        for line in explain():
            _report.add("strict", "switched", line.removeprefix("strict: "))


# --------------------------------------------------------------------------- numpy


def _patch_numpy(random_pkg: ModuleType) -> None:
    """Swap numpy's entropy source: every unseeded numpy RNG asks it, and only they do."""
    bitgen = sys.modules.get("numpy.random.bit_generator")
    original = getattr(bitgen, "randbits", None)
    if bitgen is None or original is None:
        _note("failed", "numpy: numpy.random.bit_generator.randbits not found; numpy RNGs not covered")
        return
    if getattr(original, "_seedlock", False):
        return
    # numpy/random/__init__.py -> numpy/: numpy's own Python code (unpickling) is not a user site.
    owner = os.path.dirname(os.path.dirname(real(random_pkg.__file__))) if random_pkg.__file__ else None

    def randbits(bits: int) -> int:
        frame = call_site(sys._getframe(1), owner=owner)
        if frame is None:
            return int(original(bits))
        # The derived seed *is* the entropy: default_rng() becomes default_rng(seed) exactly.
        return _capture(frame, code_at(frame) or "numpy RNG without a seed").seed

    randbits._seedlock = True  # type: ignore[attr-defined]
    bitgen.randbits = randbits  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- random


def _patch_random() -> None:
    import random

    if getattr(random.Random.seed, "_seedlock", False):
        return
    original = random.Random.seed
    init_code = random.Random.__init__.__code__
    random_file = random.__file__

    def through(frame: FrameType) -> bool:
        return frame.f_code.co_filename == random_file

    @functools.wraps(original)
    def seed(self: random.Random, a: Any = None, version: int = 2) -> None:
        if a is None:
            caller = sys._getframe(1)
            frame = call_site(caller, through=through)
            if frame is not None:
                cls = "random.Random" if type(self) is random.Random else type(self).__qualname__
                if caller.f_code is init_code:
                    what = f"{cls}()"
                elif self is getattr(random, "_inst", None):
                    what = "random.seed()"
                else:
                    what = f"{cls}.seed()"
                a = _capture(frame, what).seed
        original(self, a, version)

    seed._seedlock = True  # type: ignore[attr-defined]
    random.Random.seed = seed  # type: ignore[method-assign]
    # random.seed was bound to the hidden instance at import: rebind it to the patched method.
    inst = getattr(random, "_inst", None)
    if inst is not None:
        random.seed = inst.seed


# --------------------------------------------------------------------------- torch


def _patch_torch(torch: ModuleType) -> None:
    """Replace ``torch.Generator`` with a subclass that seeds itself from its call site.

    Runs once torch has finished importing: torch's own import registers and documents
    ``torch._C.Generator``, which stays torch's class. ``isinstance(torch.default_generator,
    torch.Generator)`` still holds (the metaclass defers to torch's class) and instances pickle
    as ``torch.Generator``, so they load with or without strict mode.
    """
    base = getattr(torch, "Generator", None)
    if base is None or getattr(base, "_seedlock_strict", False):
        return
    owner = os.path.dirname(real(torch.__file__)) if torch.__file__ else None

    def instancecheck(cls: type, obj: object) -> bool:
        return isinstance(obj, base)

    def subclasscheck(cls: type, sub: type) -> bool:
        return issubclass(sub, base)

    # type(base) is torch's OpaqueBaseMeta: a metaclass must derive from its base's.
    meta = type(
        "_StrictGeneratorMeta",
        (type(base),),
        {"__instancecheck__": instancecheck, "__subclasscheck__": subclasscheck},
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._seedlock_site = None
        frame = call_site(sys._getframe(1), owner=owner)
        if frame is None:
            return
        device = args[0] if args else kwargs.get("device")
        what = "torch.Generator()" if str(device) in ("None", "cpu") else f"torch.Generator({str(device)!r})"
        site = _capture(frame, what)
        try:
            base.manual_seed(self, site.seed)
        except RuntimeError:  # a device that takes no seed: keep torch's default
            site.superseded = True
            return
        self._seedlock_site = site

    def superseding(method: str) -> Callable[..., Any]:
        original = getattr(base, method)

        @functools.wraps(original)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            site = getattr(self, "_seedlock_site", None)
            if site is not None:  # the script seeds it itself: say the strict seed went unused
                site.superseded = True
            return original(self, *args, **kwargs)

        return call

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": base.__doc__,
        "__module__": "torch",
        "__qualname__": "Generator",
        "_seedlock_strict": True,
    }
    for method in ("manual_seed", "set_state", "seed", "__setstate__"):
        if hasattr(base, method):
            namespace[method] = superseding(method)
    torch.Generator = meta("Generator", (base,), namespace)  # type: ignore[attr-defined]


def _rearm_torch(torch_c: ModuleType) -> None:
    """torch is importing now: make sure :func:`_patch_torch` still runs when that import ends.

    A ``seed_everything`` call between :func:`install` and ``import torch`` clears every hook
    on "torch" (its adapters' modules), ours included. ``hooks.when_imported`` cannot re-add it
    now (torch is in ``sys.modules`` mid-import, so it would run at once, too early); so append
    to the list that the hooked torch loader runs at its end. The torch adapter's own hook,
    re-added by that ``seed_everything``, is why torch's loader is hooked.
    """
    registry: dict[str, list[hooks.Callback]] | None = getattr(hooks, "_callbacks", None)
    if registry is None:
        return
    with hooks._lock:
        waiting = registry.get("torch")
        if waiting is not None and _torch_callback not in waiting:
            waiting.append(_torch_callback)


# --------------------------------------------------------------------------- install


def _note(status: Status, detail: str) -> None:
    if _report is not None:
        _report.add("strict", status, detail)


def _guarded(name: str, patch: Callable[[ModuleType], None]) -> hooks.Callback:
    def callback(module: ModuleType) -> None:
        try:
            patch(module)
        except Exception as exc:  # an unknown framework version: say so, never break the import
            _note("failed", f"{name}: {type(exc).__name__}: {exc}")

    return callback


_torch_callback = _guarded("torch", _patch_torch)


def install(report: SeedReport) -> None:
    """Switch strict mode on for the rest of the process: call once, after ``seed_everything``.

    Patches ``random`` now, numpy and torch when the script imports them (or now, if it already
    has). Sites go to :func:`captured`; at exit (:func:`finish`) their lines go into ``report``.
    A second call only changes the report.

    >>> import seedlock, seedlock.strict                     # doctest: +SKIP
    >>> seedlock.strict.install(seedlock.seed_everything(42))  # doctest: +SKIP
    >>> import numpy as np
    >>> np.random.default_rng().random()  # the same value every run # doctest: +SKIP
    """
    global _installed, _report, _base, _epoch
    with _lock:
        _report = report
        if _installed:
            return
        _installed = True
        _base = None
        from seedlock import api

        _epoch = api.current_report()
    report.add(
        "strict",
        "switched",
        "unseeded numpy RNGs, random.Random() and torch.Generator() are seeded from their call site",
    )
    try:
        _patch_random()
    except Exception as exc:  # pragma: no cover - a Python whose random module we do not know
        _note("failed", f"random: {type(exc).__name__}: {exc}")
    # "numpy.random", not "numpy": seed_everything clears the hooks of its adapters' modules.
    hooks.when_imported("numpy.random", _guarded("numpy", _patch_numpy))
    hooks.when_imported("torch", _torch_callback)
    hooks.when_imported("torch._C", _rearm_torch)  # survives seed_everything clearing "torch"
    import atexit

    atexit.register(finish)


def install_from_env(report: SeedReport, environ: Mapping[str, str] | None = None) -> bool:
    """:func:`install` when ``$SEEDLOCK_STRICT`` is ``1``; says whether it did."""
    env = os.environ if environ is None else environ
    if env.get(ENV_STRICT) == "1":
        install(report)
        return True
    return False
