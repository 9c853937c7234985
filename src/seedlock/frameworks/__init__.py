"""Framework adapters, in the order they are applied."""

from __future__ import annotations

from seedlock.frameworks import jax, keras, numpy, pytensor, python, tensorflow, tf_keras, torch
from seedlock.frameworks.base import Adapter, Config

# TensorFlow before the Kerases: tf_keras/keras reset after TF has its seed.
ADAPTERS: tuple[Adapter, ...] = (
    python.ADAPTER,
    numpy.ADAPTER,
    tensorflow.ADAPTER,
    tf_keras.ADAPTER,
    keras.ADAPTER,
    torch.ADAPTER,
    jax.ADAPTER,
    pytensor.ADAPTER,
)

__all__ = ["ADAPTERS", "Adapter", "Config"]
