"""PyTensor (Theano's successor; Theano itself no longer installs on current Python).

PyTensor keeps no global RNG: ``RandomStream(seed=None)`` and a random variable made
without an ``rng`` draw fresh OS entropy through ``np.random.SeedSequence(None)``. We give
each of them, in creation order, a seed derived from the master seed, as Theano's
``RandomStreams.seed()`` did for its ops.
"""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport

_patched = False
_counter = itertools.count()


def _next_seed(kind: str) -> int | None:
    from seedlock import seeds

    try:
        return seeds.derive(f"pytensor.{kind}#{next(_counter)}")
    except seeds.NoMasterSeed:
        return None


def _patch() -> None:
    global _patched
    if _patched:
        return
    from pytensor.tensor.random import utils, variable

    stream_init = utils.RandomStream.__init__

    def __init__(self: Any, seed: int | None = None, *args: Any, **kwargs: Any) -> None:
        stream_init(self, _next_seed("RandomStream") if seed is None else seed, *args, **kwargs)

    utils.RandomStream.__init__ = __init__  # type: ignore[method-assign]
    original = variable.shared_rng
    unset = variable.UNSET

    def shared_rng(value: Any = None, *, seed: Any = unset, **kwargs: Any) -> Any:
        if value is None and seed is None:
            seed = _next_seed("shared_rng")
        return original(value, seed=seed, **kwargs)

    variable.shared_rng = shared_rng
    _patched = True


def apply(pytensor: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    global _counter
    _patch()
    _counter = itertools.count()  # each (re)seed restarts the creation-order numbering
    report.add(
        "pytensor",
        "seeded",
        f"pytensor {version_of(pytensor)}: unseeded RandomStream/shared_rng get derived seeds",
    )


ADAPTER = Adapter("pytensor", "pytensor", apply)
