"""Framework adapters: each seeds one framework and switches it to deterministic kernels when the
user's code imports it (post-import hooks); third-party RNGs join them through ``register_rng``.

>>> [a.name for a in adapters()][:3]
['python', 'numpy', 'tensorflow']
"""

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
_registered: dict[str, Adapter] = {}  # by name, in registration order (seedlock.register_rng)


def adapters() -> tuple[Adapter, ...]:
    """The built-in adapters in their order, then the registered RNGs in the order registered."""
    return ADAPTERS + tuple(_registered.values())


def register(adapter: Adapter) -> None:
    """Add (or, under the same name, replace) a third-party adapter; see ``seedlock.register_rng``."""
    _registered.pop(adapter.name, None)
    _registered[adapter.name] = adapter


__all__ = ["ADAPTERS", "Adapter", "Config", "adapters", "register"]
