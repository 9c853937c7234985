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
    # Re-made on first use from Python's `random`, which is seeded, as keras.utils.set_random_seed
    # leaves it (Keras 3.15). One path whether seeded on import or after it: an eager
    # SeedGenerator(seed) after it made other numbers, and on import would start the backend.
    global_state.set_global_attribute("global_seed_generator", None)
    report.add(
        "keras", "seeded", f"keras {version_of(keras)} ({backend} backend): global seed and SeedGenerator"
    )


def reset(keras: ModuleType, report: SeedReport) -> None:
    keras.backend.clear_session()
    report.add("keras", "switched", "keras.backend.clear_session()")


ADAPTER = Adapter("keras", "keras", apply, reset=reset)
