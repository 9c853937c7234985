"""seedlock: make deep-learning training runs reproducible, and prove it.

>>> import seedlock
>>> report = seedlock.seed_everything(42)        # every RNG, now and on later imports
>>> seed = seedlock.derive("augment")            # a named, independent sub-seed
>>> gen = seedlock.rng("noise")                  # a numpy Generator of its own

``import seedlock`` imports no framework: adapters act when your code imports one. The
names below are loaded on first use, so that ``seedlock run`` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lazy_loader

from seedlock._version import __version__

# The public API, in one place: module -> the names it gives ``seedlock``. ``__all__`` and
# ``dir(seedlock)`` derive from it; the TYPE_CHECKING block below repeats it for type checkers,
# and tests/test_layout.py keeps the two equal.
_PUBLIC = {
    "api": ["seed_everything", "reproducible", "reset_state", "current_report", "jax_key", "register_rng"],
    "seeds": ["derive", "rng", "master_seed"],
    "trace.metrics": ["log_metric"],
    "report": ["SeedReport"],
    "errors": ["SeedlockError"],
    "frameworks.torch": ["worker_init_fn", "torch_generator"],
    "resume.state": ["rng_state", "restore_rng_state"],
}
# ``seedlock.NAME`` for these loads the submodule, as ``import seedlock.NAME`` would.
_SUBMODULES = [
    "api",
    "audit",
    "cli",
    "config",
    "devicehash",
    "doctor",
    "errors",
    "fingerprint",
    "frameworks",
    "integrations",
    "keras",
    "launch",
    "lightning",
    "pytest_plugin",
    "repeat",
    "report",
    "resume",
    "seeds",
    "strict",
    "trace",
    "trace_compare",
    "verify",
]
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=_SUBMODULES, submod_attrs=_PUBLIC)
__all__ = [name for names in _PUBLIC.values() for name in names]  # not the submodules: `import *` stays light


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext seedlock``: the ``%seedlock`` and ``%%reproducible`` magics (see :mod:`seedlock.integrations.ipython`)."""
    from seedlock.integrations.ipython import load_ipython_extension as load

    load(ipython)


if TYPE_CHECKING:
    from seedlock.api import current_report, jax_key, register_rng, reproducible, reset_state, seed_everything
    from seedlock.errors import SeedlockError
    from seedlock.frameworks.torch import torch_generator, worker_init_fn
    from seedlock.report import SeedReport
    from seedlock.resume.state import restore_rng_state, rng_state
    from seedlock.seeds import derive, master_seed, rng
    from seedlock.trace.metrics import log_metric
