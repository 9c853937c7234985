"""seedlock: make deep-learning training runs reproducible, and prove it.

>>> import seedlock
>>> report = seedlock.seed_everything(42)        # every RNG, now and on later imports
>>> seed = seedlock.derive("augment")            # a named, independent sub-seed
>>> gen = seedlock.rng("noise")                  # a numpy Generator of its own

``import seedlock`` imports no framework: adapters act when your code imports one. The
names below are loaded on first use, so that ``seedlock run`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "seed_everything": ("seedlock.api", "seed_everything"),
    "reproducible": ("seedlock.api", "reproducible"),
    "reset_state": ("seedlock.api", "reset_state"),
    "current_report": ("seedlock.api", "current_report"),
    "jax_key": ("seedlock.api", "jax_key"),
    "log_metric": ("seedlock.metrics", "log_metric"),
    "derive": ("seedlock.seeds", "derive"),
    "rng": ("seedlock.seeds", "rng"),
    "master_seed": ("seedlock.seeds", "master_seed"),
    "SeedReport": ("seedlock.report", "SeedReport"),
    "SeedlockError": ("seedlock.errors", "SeedlockError"),
    "worker_init_fn": ("seedlock.frameworks.torch", "worker_init_fn"),
    "torch_generator": ("seedlock.frameworks.torch", "generator"),
}

__all__ = [
    "SeedReport",
    "SeedlockError",
    "current_report",
    "derive",
    "jax_key",
    "log_metric",
    "master_seed",
    "reproducible",
    "reset_state",
    "rng",
    "seed_everything",
    "torch_generator",
    "worker_init_fn",
]


def __getattr__(name: str) -> Any:
    entry = _EXPORTS.get(name)
    if entry is None:
        # A submodule (seedlock.seeds, seedlock.fingerprint...), as if `import seedlock.NAME` had run.
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module 'seedlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(entry[0]), entry[1])
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext seedlock``: the ``%seedlock`` and ``%%reproducible`` magics (see :mod:`seedlock.ipython`)."""
    from seedlock.ipython import load_ipython_extension as load

    load(ipython)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from seedlock.api import current_report, jax_key, reproducible, reset_state, seed_everything
    from seedlock.errors import SeedlockError
    from seedlock.frameworks.torch import generator as torch_generator
    from seedlock.frameworks.torch import worker_init_fn
    from seedlock.metrics import log_metric
    from seedlock.report import SeedReport
    from seedlock.seeds import derive, master_seed, rng
