"""Seed validation, the master seed, and named sub-seeds.

Named sub-seeds follow the idea behind Theano's per-op ``RandomStreams``: every random
component gets its own stream, derived from the master seed and a stable hash of its
*name*, so adding a component never shifts the streams of the others.

>>> import seedlock
>>> seedlock.seeds.set_master_seed(42)
42
>>> a = seedlock.derive("dropout")
>>> a == seedlock.derive("dropout")
True
>>> a != seedlock.derive("augment")
True
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from seedlock.errors import BadSeed, NoMasterSeed

if TYPE_CHECKING:
    import numpy as np

SEED_MAX = 2**32 - 1  # NumPy's legacy seed and PYTHONHASHSEED both stop here
ENV_SEED = "SEEDLOCK_SEED"
ENV_LIGHTNING_SEED = "PL_GLOBAL_SEED"  # set by lightning.seed_everything(N)

_master: int | None = None


def validate_seed(seed: object, *, source: str = "seed") -> int:
    """Return ``seed`` as an int in ``[0, 2**32)``, or raise :class:`BadSeed` saying how to fix it.

    Strings of decimal digits are accepted (they come from the command line and the environment).

    >>> validate_seed("7")
    7
    >>> validate_seed(-1)
    Traceback (most recent call last):
    ...
    seedlock.errors.BadSeed: seed must be between 0 and 4294967295 (2**32 - 1), got -1; pick a seed in that range
    """
    value: int
    if isinstance(seed, bool):
        raise BadSeed(f"{source} must be an integer, got {seed!r}; pass e.g. 42")
    if isinstance(seed, int):
        value = seed
    elif isinstance(seed, str):
        text = seed.strip()
        # ASCII digits only: int() also takes "+7", "1_000" and other scripts' digits ("٣")
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()):
            raise BadSeed(f"{source} must be an integer, got {seed!r}; pass e.g. 42")
        value = int(text, 10)
    elif hasattr(seed, "__index__"):  # numpy integers, one-element integer tensors
        try:
            value = int(seed.__index__())
        except (TypeError, ValueError, RuntimeError):  # a float tensor, a tensor of many
            raise BadSeed(
                f"{source} must be an integer, got {seed!r} ({type(seed).__name__}); pass e.g. 42"
            ) from None
    else:
        raise BadSeed(f"{source} must be an integer, got {seed!r} ({type(seed).__name__}); pass e.g. 42")
    if not 0 <= value <= SEED_MAX:
        raise BadSeed(
            f"{source} must be between 0 and {SEED_MAX} (2**32 - 1), got {value}; pick a seed in that range"
        )
    return value


def set_master_seed(seed: int) -> int:
    """Set the master seed that :func:`derive` and the framework adapters use."""
    global _master
    _master = validate_seed(seed)
    os.environ[ENV_SEED] = str(_master)  # child processes (DataLoader workers, Ray) see it too
    return _master


def master_seed() -> int:
    """The current master seed: the last one set, else ``$SEEDLOCK_SEED``, else ``$PL_GLOBAL_SEED``.

    ``$PL_GLOBAL_SEED`` is what Lightning's ``seed_everything(N)`` leaves behind: a script that
    called it first gets the same seed from ``seedlock.seed_everything()``.
    Raises :class:`NoMasterSeed` (with the fix) when none exists.
    """
    if _master is not None:
        return _master
    for var in (ENV_SEED, ENV_LIGHTNING_SEED):
        env = os.environ.get(var)
        if env is not None:
            return validate_seed(env, source=f"${var}")
    raise NoMasterSeed(
        "no master seed is set; call seedlock.seed_everything(SEED) first, "
        "or run the script with `seedlock run --seed SEED script.py`"
    )


_picking = threading.Lock()


def stream_seed() -> int:
    """The master seed for :func:`derive`, :func:`rng` and ``jax_key``: as :func:`master_seed`, but
    a script run with plain ``python`` and no seed set gets one picked at random, said once on
    stderr so that the run can be replayed (as pytest-randomly does), instead of an error.

    The picked seed becomes the master seed, in ``$SEEDLOCK_SEED`` too: every later stream of the
    process, and the processes it starts, derive from it. One pick per process, whatever the threads.
    """
    with _picking:
        try:
            return master_seed()
        except NoMasterSeed:
            import secrets
            import sys

            picked = set_master_seed(secrets.randbelow(SEED_MAX + 1))
            print(
                f"seedlock: no seed set; using seed {picked} for seedlock.derive/rng/jax_key "
                f"(replay with SEEDLOCK_SEED={picked}, or `seedlock run --seed {picked} SCRIPT`)",
                file=sys.stderr,
                flush=True,
            )
            return picked


def _name_key(name: str) -> int:
    import hashlib

    # blake2b, not hash(): hash() of a str changes with PYTHONHASHSEED, this must not.
    # surrogatepass: a name with a lone surrogate (from a filename, say) is still a name
    return int.from_bytes(
        hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def _check_name(name: object) -> None:
    if not isinstance(name, str):  # None would silently give the master seed's own stream
        raise TypeError(f"name must be a str, got {name!r}; use e.g. derive('dropout')")


def seed_sequence(
    name: str | None = None, *, rank: int | None = None, seed: int | None = None
) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` behind :func:`derive` and :func:`rng`."""
    import numpy as np

    root = validate_seed(seed) if seed is not None else stream_seed()
    key: list[int] = []
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}; use e.g. derive('dropout')")
        key.append(_name_key(name))
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValueError(f"rank must be a non-negative int, got {rank!r}")
        key.append(rank)
    return np.random.SeedSequence(entropy=root, spawn_key=tuple(key))


def derive(name: str, *, rank: int | None = None, seed: int | None = None) -> int:
    """A 32-bit seed for the component ``name``, derived from the master seed.

    Stable across processes, machines and Python versions (the name is hashed with
    BLAKE2b, not ``hash()``), and independent of every other name: adding
    ``derive("augment")`` to a script leaves ``derive("dropout")`` unchanged.
    ``rank`` gives each process or worker its own stream.

    >>> derive("dropout", seed=0) == derive("dropout", seed=0)
    True
    >>> derive("dropout", seed=0, rank=0) != derive("dropout", seed=0, rank=1)
    True
    """
    _check_name(name)
    return int(seed_sequence(name, rank=rank, seed=seed).generate_state(1, dtype="uint32")[0])


def rng(name: str, *, rank: int | None = None, seed: int | None = None) -> np.random.Generator:
    """A :class:`numpy.random.Generator` of its own for the component ``name``.

    >>> float(rng("noise", seed=1).random()) == float(rng("noise", seed=1).random())
    True
    """
    import numpy as np

    _check_name(name)
    return np.random.Generator(np.random.PCG64(seed_sequence(name, rank=rank, seed=seed)))
