"""pytest plugin: each test starts from a random state of its own, whatever ran before it.

Before every test, seedlock reseeds Python's ``random``, NumPy and every framework that is or
gets imported (as :func:`seedlock.seed_everything` does) with a seed derived from the session
seed and the test's node id. A test draws the same numbers when run alone, with ``-k``, in
another order or on an xdist worker; a failure that depends on random numbers replays with
the seed the header printed::

    $ pytest
    seedlock: session seed 1234 (replay with --seedlock-seed 1234)
    $ pytest --seedlock-seed 1234 tests/test_model.py::test_fit

A failing test's report ends with that line, ready to paste (``-q`` hides the header, not it)::

    ------------------------------ seedlock replay -------------------------------
    pytest --seedlock-seed 1234 tests/test_model.py::test_fit

Options: ``--seedlock-seed N`` (``last``: the previous session's), ``--seedlock-deterministic``
(also switch frameworks to deterministic kernels, which a plain reseeder must not do to a
whole session). ``-p no:seedlock`` turns the plugin off.

The phases get different seeds (``derive(nodeid)`` for the test body, ``derive(nodeid +
" [setup]")`` and ``" [teardown]"`` for fixtures), so a fixture and the test do not draw the
same numbers. The plugin leaves ``os.environ`` as it found it: ``seed_everything`` sets
``$SEEDLOCK_SEED``, which is put back at once, so processes a test starts see the session's
environment. After each test seedlock's own master seed is put back too, and the variables
deterministic kernels need (``CUBLAS_WORKSPACE_CONFIG``, ``XLA_FLAGS``), and
``$PL_SEED_WORKERS`` (``seed_everything(workers=True)``).

A failing ``seedlock_reproducible`` shows the test's line and the message: seedlock's own
frames are hidden from the traceback (``__tracebackhide__``), as pytest hides its own.

Fixtures: ``seedlock_seed`` (the test body's seed) and ``seedlock_reproducible``:

>>> def test_training_is_reproducible(seedlock_reproducible):      # doctest: +SKIP
...     seedlock_reproducible(lambda: train(epochs=1))               # runs it twice, compares
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from seedlock import seeds

if TYPE_CHECKING:
    from seedlock.fingerprint import Fingerprint

SEED_KEY = pytest.StashKey[int]()
DETERMINISTIC_KEY = pytest.StashKey[bool]()
_STATE_KEY = pytest.StashKey[tuple[Any, ...]]()
_CACHE_KEY = "seedlock/seed"


def _seed_arg(text: str) -> int | str:
    if text == "last":
        return text
    try:
        return seeds.validate_seed(text, source="--seedlock-seed")
    except seeds.BadSeed as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seedlock", "seedlock: reseed every RNG before each test")
    group.addoption(
        "--seedlock-seed",
        dest="seedlock_seed",
        metavar="N",
        type=_seed_arg,
        default=None,
        help="Session seed each test's seed is derived from; 'last' reuses the previous session's. "
        "Default: a new random one, printed in the header.",
    )
    group.addoption(
        "--seedlock-deterministic",
        dest="seedlock_deterministic",
        action="store_true",
        help="Also switch frameworks to deterministic kernels for the whole session.",
    )


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    value = config.getoption("seedlock_seed")
    if worker is not None and "seedlock_seed" in worker:
        value = worker["seedlock_seed"]  # an xdist worker: the controller's session seed
    elif value == "last":
        cached = cache.get(_CACHE_KEY, None) if cache is not None else None
        if cached is None:
            raise pytest.UsageError("--seedlock-seed last: no previous session seed is cached; pass a number")
        value = seeds.validate_seed(cached, source="the cached seed")
    elif value is None:
        value = secrets.randbelow(seeds.SEED_MAX + 1)  # not `random`: the session must not touch its state
    config.stash[SEED_KEY] = int(value)
    config.stash[DETERMINISTIC_KEY] = bool(config.getoption("seedlock_deterministic"))
    if worker is None and cache is not None:
        cache.set(_CACHE_KEY, int(value))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the controller's session seed to each worker."""
    node.workerinput["seedlock_seed"] = node.config.stash[SEED_KEY]


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[SEED_KEY]
    det = ", deterministic kernels on" if config.stash[DETERMINISTIC_KEY] else ""
    return f"seedlock: session seed {seed} (replay with --seedlock-seed {seed}){det}"


def replay_command(item: pytest.Item) -> str:
    """The command that reruns one test with its seeds: the session seed and the node id (its
    path made relative to where pytest was started, so the line can be pasted as it is)."""
    config = item.config
    path, sep, rest = item.nodeid.partition("::")
    start = config.invocation_params.dir
    if path and start != config.rootpath:
        path = os.path.relpath(config.rootpath / path, start)
    det = " --seedlock-deterministic" if config.stash[DETERMINISTIC_KEY] else ""
    return f"pytest --seedlock-seed {config.stash[SEED_KEY]}{det} {shlex.quote(path + sep + rest)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # A report section, not the header: -q and -qq hide the header, not a failure's sections
    # (only --show-capture=no or --tb=no does), and the section comes last in the failure's report.
    report = yield
    if report.failed:
        report.sections.append(("seedlock replay", replay_command(item)))
    return report


def seed_for(item: pytest.Item, phase: str = "call") -> int:
    """The seed of one phase of a test: ``derive(nodeid)`` for the body, with the phase appended
    for setup and teardown."""
    name = item.nodeid if phase == "call" else f"{item.nodeid} [{phase}]"
    return seeds.derive(name, seed=item.config.stash[SEED_KEY])


def _reseed(item: pytest.Item, phase: str) -> None:
    from seedlock.api import seed_everything

    before = os.environ.get(seeds.ENV_SEED)
    try:
        seed_everything(seed_for(item, phase), deterministic=item.config.stash[DETERMINISTIC_KEY])
    finally:
        _restore_env(seeds.ENV_SEED, before)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# What seed_everything writes to os.environ: the master seed, for deterministic kernels
# cuBLAS's workspace and XLA's GPU flag (which would make a later JAX backend deterministic),
# and with workers=True Lightning's worker-seeding switch.
_ENV = (seeds.ENV_SEED, "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS", "PL_SEED_WORKERS")


def _snapshot() -> tuple[Any, ...]:
    from seedlock import api

    return (seeds._master, api._config, api._report, {name: os.environ.get(name) for name in _ENV})


def _restore(state: tuple[Any, ...]) -> None:
    """seedlock's own state back as it was: the master seed, and the variables any
    ``seed_everything`` the test made set, so that later tests and their subprocesses do not
    inherit them."""
    from seedlock import api

    seeds._master, api._config, api._report = state[:3]
    for name, value in state[3].items():
        _restore_env(name, value)


@contextlib.contextmanager
def _state_restored() -> Iterator[None]:
    state = _snapshot()
    try:
        yield
    finally:
        _restore(state)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_STATE_KEY] = _snapshot()
    _reseed(item, "setup")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _reseed(item, "call")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _reseed(item, "teardown")
    try:
        return (yield)
    finally:
        state = item.stash.get(_STATE_KEY, None)
        if state is not None:
            _restore(state)


@pytest.fixture
def seedlock_seed(request: pytest.FixtureRequest) -> int:
    """The seed the test body runs with (replay it in a script with ``seedlock.seed_everything``)."""
    return seed_for(request.node)


@pytest.fixture
def seedlock_reproducible(seedlock_seed: int) -> Callable[..., Fingerprint]:
    """``check(fn, seed=None, *, runs=2, deterministic=True)``: :func:`assert_reproducible`, with
    the test's seed by default."""

    def check(
        fn: Callable[[], Any], seed: int | None = None, *, runs: int = 2, deterministic: bool = True
    ) -> Fingerprint:
        __tracebackhide__ = True  # a failure shows the test's line and the message, not seedlock's code
        return assert_reproducible(
            fn, seedlock_seed if seed is None else seed, runs=runs, deterministic=deterministic
        )

    return check


def assert_reproducible(
    fn: Callable[[], Any], seed: int = 0, *, runs: int = 2, deterministic: bool = True
) -> Fingerprint:
    """Run ``fn()`` ``runs`` times, each inside ``seedlock.reproducible(seed)`` (state reset,
    everything reseeded), and assert that what it returns is bitwise the same every time.
    seedlock's master seed and ``$SEEDLOCK_SEED`` are put back afterwards.

    ``fn`` returns what it computed: arrays, a dict or list of them, a Keras or torch model...
    anything :func:`seedlock.fingerprint.fingerprint` reads. Returns the fingerprint; raises AssertionError
    naming the tensors that differ. Frameworks' deterministic-kernel switches are put back
    afterwards, so the rest of a test session runs as it would have.

    >>> import numpy as np
    >>> fp = assert_reproducible(lambda: {"noise": np.random.rand(3)}, seed=1)
    >>> assert_reproducible(lambda: {"noise": np.frombuffer(os.urandom(8), np.uint8)})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: <lambda>() is not reproducible: run 1 and run 2 from seed 0 differ in 1 of 1 tensors: noise (sum ...)
    """
    __tracebackhide__ = True  # as pytest's own helpers: the failing test's line, not this frame
    from seedlock.api import reproducible
    from seedlock.errors import SeedlockError
    from seedlock.fingerprint import UnsupportedObject, fingerprint

    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise SeedlockError(f"runs must be an int >= 2 to compare anything, got {runs!r}; pass e.g. runs=2")
    name = getattr(fn, "__name__", None) or repr(fn)
    prints: list[Fingerprint] = []
    with _state_restored(), _determinism_restored():
        for _ in range(runs):
            with reproducible(seed, deterministic=deterministic):
                result = fn()
                if result is None:
                    raise SeedlockError(
                        f"{name}() returned None, so there is nothing to compare; "
                        "return what it computed (arrays, a dict of them, a model)"
                    )
                try:
                    prints.append(fingerprint(result))  # now: a later run's reset may change a live model
                except UnsupportedObject as exc:
                    raise SeedlockError(
                        f"{name}() returned {type(result).__name__}, which cannot be fingerprinted "
                        f"({exc}); return arrays, a dict of them, or a model"
                    ) from None
    first = prints[0]
    for i, other in enumerate(prints[1:], start=2):
        if other != first:
            raise AssertionError(_difference(name, seed, first, other, i))
    return first


def _difference(name: str, seed: int, a: Fingerprint, b: Fingerprint, run: int) -> str:
    from seedlock.repeat.summary import fmt

    changed = [n for n in a.tensors if n in b.tensors and a.tensors[n].digest != b.tensors[n].digest]
    only_a = [n for n in a.tensors if n not in b.tensors]
    only_b = [n for n in b.tensors if n not in a.tensors]
    parts = []
    if changed:
        shown = ", ".join(
            f"{n} (sum {fmt(a.tensors[n].sum, 8)} vs {fmt(b.tensors[n].sum, 8)})" for n in changed[:10]
        )
        more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        parts.append(f"differ in {len(changed)} of {len(a.tensors)} tensors: {shown}{more}")
    if only_a or only_b:
        parts.append(
            f"have different tensors (only in run 1: {only_a[:10]}; only in run {run}: {only_b[:10]})"
        )
    return f"{name}() is not reproducible: run 1 and run {run} from seed {seed} " + "; ".join(parts)


@contextlib.contextmanager
def _determinism_restored() -> Iterator[None]:
    """Put torch's and TensorFlow's deterministic-kernel switches back as they were (off for a
    framework first imported inside the block)."""
    torch_was = _torch_flags()
    tf_was = _tf_flag()
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None and hasattr(torch, "use_deterministic_algorithms"):
            on, warn_only, cudnn_det, bench = torch_was or (False, False, False, False)
            torch.use_deterministic_algorithms(on, warn_only=warn_only)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_det, bench
        if "tensorflow" in sys.modules and _tf_flag() != bool(tf_was):
            from tensorflow.python.framework import config as tf_config

            (tf_config.enable_op_determinism if tf_was else tf_config.disable_op_determinism)()


def _torch_flags() -> tuple[bool, bool, bool, bool] | None:
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "are_deterministic_algorithms_enabled"):
        return None
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        bool(torch.backends.cudnn.deterministic),
        bool(torch.backends.cudnn.benchmark),
    )


def _tf_flag() -> bool | None:
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())
