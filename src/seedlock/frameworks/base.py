"""The small protocol every framework adapter follows.

An adapter is a handful of functions behind a name, like pytest-randomly's reseeders:

* ``env(config)``: variables that must exist before the interpreter (or CUDA/XLA) starts;
  the launcher puts them in the child's environment.
* ``apply(module, config, report, explicit)``: seed the framework and switch its
  determinism. Called when the framework is imported (``explicit=False``) or when the
  user calls ``seed_everything``/``reproducible`` (``explicit=True``).
* ``reset(module, report)``: drop framework state that carries over in one process
  (sessions, graphs, op-seed counters) before ``reproducible`` reseeds.
* ``get_state()``/``set_state(value)``: a registered RNG's state as a JSON-able value, for
  ``seedlock.rng_state`` (the built-in frameworks' states are read in ``seedlock.resume.state``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import NamedTuple

from seedlock.report import SeedReport


class Config(NamedTuple):
    """What the user asked for."""

    seed: int
    deterministic: bool = True
    threads: int | None = None


EnvFn = Callable[[Config, Mapping[str, str]], dict[str, str]]
ApplyFn = Callable[[ModuleType, Config, SeedReport, bool], None]
ResetFn = Callable[[ModuleType, SeedReport], None]


class Adapter(NamedTuple):
    name: str
    module: str  # the import that triggers it
    apply: ApplyFn
    env: EnvFn | None = None
    reset: ResetFn | None = None
    get_state: Callable[[], object] | None = None
    set_state: Callable[[object], object] | None = None


def version_of(module: ModuleType) -> str:
    return str(getattr(module, "__version__", "?"))
