"""The public API: seed everything, reset everything, derive named streams."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import Any

from seedlock import seeds
from seedlock.errors import BadArgument
from seedlock.frameworks import Adapter, Config, adapters, hooks, register
from seedlock.frameworks.torch import seed_workers
from seedlock.report import SeedReport

_config: Config | None = None
_report: SeedReport | None = None
# (adapter, module) pairs with an import hook waiting; it reads the config when it fires
_armed: set[tuple[str, str]] = set()


def _apply(adapter: Adapter, module: ModuleType, explicit: bool) -> None:
    """Run one adapter against the *current* config; record, never raise into user code."""
    if _config is None or _report is None:
        return
    try:
        adapter.apply(module, _config, _report, explicit)
    except Exception as exc:  # a framework version we do not know: say so, keep going
        _report.add(adapter.name, "failed", f"{type(exc).__name__}: {exc}")


def _on_import(adapter: Adapter) -> hooks.Callback:
    def callback(module: ModuleType) -> None:
        # The adapter registered under this name now (register_rng may have replaced it since),
        # if it still waits for this module.
        current = next((a for a in adapters() if a.name == adapter.name), adapter)
        if current.module == adapter.module:
            _apply(current, module, explicit=False)
        # Stay armed: a later seed_everything() applies to already-imported modules directly.

    return callback


def seed_everything(
    seed: int | str | None = None,
    *,
    deterministic: bool = True,
    threads: int | None = None,
    workers: bool = False,
) -> SeedReport:
    """Seed every RNG that is imported now, and every framework the moment it is imported later.

    Seeds Python's ``random``, NumPy's global state (and so scikit-learn's
    ``random_state=None``), TensorFlow (eager and graph mode, and the global
    ``tf.random.Generator``), Keras 3 on any backend, tf-keras, PyTorch on CPU and every CUDA
    device, and PyTensor. JAX has no global state: take keys from :func:`jax_key`. With
    ``deterministic=True`` it also switches on deterministic ops (TensorFlow op determinism,
    ``torch.use_deterministic_algorithms``, cuDNN, cuBLAS, XLA's GPU flag). ``threads=N`` pins
    thread pools (TF, torch, OpenMP/MKL), which costs speed: only ask when you need it.
    PyTorch DataLoader workers are seeded whatever ``workers`` says (each from the seeded
    generator and its worker id).

    No framework is imported here. PYTHONHASHSEED only works if set before the interpreter
    starts: the report says whether it was, and ``seedlock run`` does it for you.

    Args:
        seed: an int in ``[0, 2**32)``; ``None`` keeps the master seed this process already has
            (:func:`seedlock.master_seed`), else takes ``$SEEDLOCK_SEED``, else ``$PL_GLOBAL_SEED``
            (Lightning's ``seed_everything``), else 0.
        deterministic: switch frameworks to deterministic kernels.
        threads: pin thread pools to this many threads.
        workers: as in Lightning's ``seed_everything``: also set ``$PL_SEED_WORKERS=1``, so that
            Lightning seeds each DataLoader worker from the seed, its worker id and global rank
            (see :func:`seedlock.frameworks.torch.seed_workers`).

    Returns:
        A :class:`SeedReport` of what was seeded, switched, verified, and what could not be;
        ``int(report)`` is the seed, as Lightning's ``seed_everything`` returns it.

    Example:
        >>> import seedlock
        >>> report = seedlock.seed_everything(42)
        >>> report.seed
        42
        >>> import random; a = random.random()
        >>> _ = seedlock.seed_everything(42)
        >>> a == random.random()
        True
    """
    global _config, _report
    if seed is None:
        try:
            value = seeds.master_seed()
        except seeds.NoMasterSeed:
            value = 0
    else:
        value = seeds.validate_seed(seed)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise BadArgument(f"threads must be a positive int, got {threads!r}; pass e.g. threads=1")
    seed_workers(workers)
    seeds.set_master_seed(value)
    _config = Config(seed=value, deterministic=deterministic, threads=threads)
    _report = SeedReport(seed=value, deterministic=deterministic, threads=threads)
    for adapter in adapters():
        _apply_or_arm(adapter, _report)
    if deterministic:
        _explain_refusals()
    return _report


_explaining = False


def _explain_refusals() -> None:
    """Once per process: when deterministic mode, which seedlock switched on, makes a framework
    refuse an op, one line says so before the framework's traceback (which says "you set"), with
    the op, the user's line and the two ways out (:mod:`seedlock.audit.refusals`)."""
    global _explaining
    if _explaining:
        return
    _explaining = True
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        # Exceptions only: any work here on a KeyboardInterrupt (an import) cost python its exit by
        # SIGINT (130 became 1). An explanation must never hide the error itself.
        if isinstance(value, Exception):
            with contextlib.suppress(Exception):
                _say_refused(value, tb)
        previous(kind, value, tb)

    sys.excepthook = excepthook
    import threading

    previous_thread = threading.excepthook

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, Exception):
            with contextlib.suppress(Exception):
                _say_refused(args.exc_value, args.exc_traceback)
        previous_thread(args)

    threading.excepthook = thread_excepthook


def _say_refused(value: BaseException, tb: TracebackType | None) -> None:
    from seedlock.audit import refusals
    from seedlock.config import ENV_ACTIVE

    audit = sys.modules.get("seedlock.audit.ops")  # under --audit, refusals are recorded instead
    if _config is not None and _config.deterministic and not getattr(audit, "_installed", False):
        line = refusals.explain(value, tb, launcher=os.environ.get(ENV_ACTIVE) == "1")
        if line is not None:
            print(line, file=sys.stderr, flush=True)


def _apply_or_arm(adapter: Adapter, report: SeedReport) -> None:
    """Apply ``adapter`` now if its module is imported, else when it is (a hook, armed once)."""
    module = sys.modules.get(adapter.module)
    if module is not None:
        _apply(adapter, module, explicit=True)
        return
    if (adapter.name, adapter.module) not in _armed:
        _armed.add((adapter.name, adapter.module))
        hooks.when_imported(adapter.module, _on_import(adapter))
    report.add(adapter.name, "pending", "not imported yet: seeded on import")


def current_report() -> SeedReport | None:
    """The report of the last :func:`seed_everything`, with what adapters did on later imports."""
    return _report


def current_config() -> Config | None:
    return _config


def reset_state() -> None:
    """Drop state that carries over in one process (Keras sessions, TF graphs and op-seed counters)."""
    report = _report if _report is not None else SeedReport(seed=-1, deterministic=False)
    for adapter in reversed(adapters()):
        module = sys.modules.get(adapter.module)
        if module is not None and adapter.reset is not None:
            try:
                adapter.reset(module, report)
            except Exception as exc:
                report.add(adapter.name, "failed", f"reset: {type(exc).__name__}: {exc}")


def register_rng(
    name: str,
    seed: Callable[[int], object],
    *,
    reset: Callable[[], object] | None = None,
    module: str | None = None,
    get_state: Callable[[], object] | None = None,
    set_state: Callable[[Any], object] | None = None,
) -> None:
    """Have seedlock seed a random number generator of your own, or a library's, with the others.

    ``seed(n)`` is called with the master seed by every :func:`seed_everything` (so by
    ``seedlock run``, ``check`` and ``repeat``) and every :func:`reproducible` block;
    ``reset()``, if given, by :func:`reset_state` before the reseed. Registered after seeding,
    the generator is seeded at once. With ``module``, seedlock waits until that module is
    imported, as it does for the frameworks, and never imports it itself. A second registration
    under the same name replaces the first. The report lists it under ``name``.
    With ``get_state``/``set_state`` (a JSON-able value: numbers, strings, lists, dicts), its
    state travels with checkpoints: :func:`seedlock.rng_state` reads it, and
    :func:`seedlock.restore_rng_state` puts it back (docs/resume.md).

    A library registers its generator when seedlock is installed::

        try:
            import seedlock
        except ImportError:
            pass
        else:
            seedlock.register_rng("mylib", mylib.random.seed)

    Example:
        >>> import random, seedlock
        >>> mine = random.Random()                      # OS entropy: no global seed reaches it
        >>> seedlock.register_rng("mine", mine.seed)
        >>> _ = seedlock.seed_everything(3); a = mine.random()
        >>> _ = seedlock.seed_everything(3); a == mine.random()
        True
        >>> seedlock.register_rng("numpy", mine.seed)
        Traceback (most recent call last):
        ...
        seedlock.errors.BadArgument: 'numpy' is a framework seedlock seeds itself; register your generator under a name of its own, e.g. register_rng('mylib', ...)
    """
    from seedlock.frameworks import ADAPTERS

    if not isinstance(name, str) or not name.strip():
        raise BadArgument(
            f"name must be a non-empty str, got {name!r}; e.g. register_rng('mylib', mylib.seed)"
        )
    if any(a.name == name for a in ADAPTERS):
        raise BadArgument(
            f"{name!r} is a framework seedlock seeds itself; register your generator under a "
            "name of its own, e.g. register_rng('mylib', ...)"
        )
    if not callable(seed) or (reset is not None and not callable(reset)):
        raise BadArgument(
            f"seed (and reset) must be callable, got {seed!r}; pass e.g. register_rng({name!r}, rng.seed)"
        )
    if (get_state is None) != (set_state is None) or not all(
        f is None or callable(f) for f in (get_state, set_state)
    ):
        raise BadArgument(
            f"get_state and set_state go together, both callable; got {get_state!r} and {set_state!r}; "
            f"pass e.g. register_rng({name!r}, mylib.seed, get_state=mylib.get_state, set_state=mylib.set_state)"
        )
    if module is not None and (not isinstance(module, str) or not module):
        raise BadArgument(f"module must be a module's import name, got {module!r}; e.g. module='mylib'")
    label = getattr(seed, "__qualname__", None) or repr(seed)

    def apply(_module: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
        seed(config.seed)
        report.add(name, "seeded", f"{label}({config.seed}) (registered with seedlock.register_rng)")

    def reset_adapter(_module: ModuleType, report: SeedReport) -> None:
        if reset is not None:
            reset()

    # No module: "builtins", which every interpreter has imported, so it applies at once.
    adapter = Adapter(
        name,
        module or "builtins",
        apply,
        reset=reset_adapter if reset is not None else None,
        get_state=get_state,
        set_state=set_state,
    )
    register(adapter)
    if _report is not None:
        _apply_or_arm(adapter, _report)


class reproducible(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Reset all state and reseed before a block, so it gives the same result every time.

    The notebook problem (seed 003): fitting a model twice in one process continues the RNG
    streams of the first fit, so the weights differ. Inside ``reproducible(seed)`` the block
    starts from the state of a fresh process: Keras/tf-keras sessions cleared, TensorFlow's
    graph and op-seed counters reset, every RNG reseeded.

    On exit seedlock's own seed is put back: the master seed (:func:`derive`, and what
    frameworks imported later are seeded with) is the one from before the block, so a notebook
    cell run with ``%%reproducible 7`` does not change the notebook's seed. The RNGs are not
    rewound: they go on from where the block left them.

    Use it as a context manager or as a decorator:

    >>> import seedlock
    >>> with seedlock.reproducible(7):
    ...     import random; a = random.random()
    >>> @seedlock.reproducible(7)
    ... def draw():
    ...     return random.random()
    >>> draw() == a == draw()
    True
    """

    def __init__(
        self, seed: int | str | None = None, *, deterministic: bool = True, threads: int | None = None
    ):
        self.seed = seed
        self.deterministic = deterministic
        self.threads = threads
        self.report: SeedReport | None = None
        self._saved: list[tuple[Any, ...]] = []

    def __enter__(self) -> reproducible:
        # A stack: as a decorator one instance is entered again by a recursive or nested call.
        self._saved.append((seeds._master, _config, _report, os.environ.get(seeds.ENV_SEED)))
        reset_state()
        self.report = seed_everything(self.seed, deterministic=self.deterministic, threads=self.threads)
        return self

    def __exit__(self, *exc: object) -> None:
        global _config, _report
        seeds._master, _config, _report, env = self._saved.pop()
        if env is None:
            os.environ.pop(seeds.ENV_SEED, None)
        else:
            os.environ[seeds.ENV_SEED] = env


def jax_key(name: str | None = None, *, rank: int | None = None) -> Any:
    """A JAX PRNG key from the master seed, or from ``derive(name)`` when a name is given.

    >>> seedlock.seed_everything(0)                     # doctest: +SKIP
    >>> params = init(seedlock.jax_key("init"), x)      # doctest: +SKIP
    """
    from seedlock.frameworks.jax import key

    return key(name, rank=rank)
