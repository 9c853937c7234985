"""Errors that reach the user as one line: what is wrong, and how to fix it."""

from __future__ import annotations


class SeedlockError(Exception):
    """A problem the user can fix. The message says what is wrong and how to fix it.

    The CLI prints it as one line on stderr and exits with code 2; no traceback.
    """


class BadSeed(SeedlockError, ValueError):
    """A seed that is not an integer in [0, 2**32)."""


class BadArgument(SeedlockError, ValueError):
    """An argument other than a seed (``threads=``...) out of its range."""


class NoMasterSeed(SeedlockError, RuntimeError):
    """A derived seed was asked for before any master seed was set."""


class BadRngState(SeedlockError, ValueError):
    """Input to ``restore_rng_state`` that is not an RNG state ``rng_state`` wrote."""
