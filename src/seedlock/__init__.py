"""seedlock: make deep-learning training runs reproducible, and prove it.

>>> import seedlock
>>> report = seedlock.seed_everything(42)        # every RNG, now and on later imports
>>> seed = seedlock.derive("augment")            # a named, independent sub-seed
>>> gen = seedlock.rng("noise")                  # a numpy Generator of its own

``import seedlock`` imports no framework: adapters act when your code imports one.
"""

from seedlock.api import current_report, jax_key, reproducible, reset_state, seed_everything
from seedlock.errors import SeedlockError
from seedlock.frameworks.torch import generator as torch_generator
from seedlock.frameworks.torch import worker_init_fn
from seedlock.report import SeedReport
from seedlock.seeds import derive, master_seed, rng

__version__ = "0.1.0"

__all__ = [
    "SeedReport",
    "SeedlockError",
    "current_report",
    "derive",
    "jax_key",
    "master_seed",
    "reproducible",
    "reset_state",
    "rng",
    "seed_everything",
    "torch_generator",
    "worker_init_fn",
]
