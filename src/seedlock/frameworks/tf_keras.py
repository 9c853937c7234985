"""tf-keras (Keras 2). Its initializers and dropout draw op seeds from TensorFlow's global seed."""

from __future__ import annotations

from types import ModuleType

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport


def apply(tf_keras: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    # tf_keras imports tensorflow first, so the TensorFlow adapter has already set the seeds.
    report.add("tf_keras", "seeded", f"tf-keras {version_of(tf_keras)}: through TensorFlow's global seed")


def reset(tf_keras: ModuleType, report: SeedReport) -> None:
    tf_keras.backend.clear_session()
    report.add("tf_keras", "switched", "tf_keras.backend.clear_session()")


ADAPTER = Adapter("tf_keras", "tf_keras", apply, reset=reset)
