"""Keras 3 on any backend: its global seed and global ``SeedGenerator``."""

from __future__ import annotations

from types import ModuleType

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport


def apply(keras: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    # keras.utils.set_random_seed would also do this, but it imports TensorFlow whenever TF is
    # installed (tf.available), which a torch- or JAX-backend program must not pay for.
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_random_seed", config.seed)
    backend = keras.backend.backend()
    if explicit and backend == "jax":
        # What keras.utils.set_random_seed does for JAX, which has no global RNG state.
        from keras.src.random.seed_generator import SeedGenerator

        global_state.set_global_attribute("global_seed_generator", SeedGenerator(config.seed))
    else:
        # Re-made on first use from Python's `random`, which is seeded.
        global_state.set_global_attribute("global_seed_generator", None)
    report.add("keras", "seeded", f"keras {version_of(keras)} ({backend} backend): global seed and SeedGenerator")


def reset(keras: ModuleType, report: SeedReport) -> None:
    keras.backend.clear_session()
    report.add("keras", "switched", "keras.backend.clear_session()")


ADAPTER = Adapter("keras", "keras", apply, reset=reset)
