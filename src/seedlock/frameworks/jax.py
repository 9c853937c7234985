"""JAX: no global RNG state. Keys come from :func:`key`; GPU ops are made deterministic through XLA_FLAGS."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport

DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def _with_flag(flags: str) -> str:
    if "xla_gpu_deterministic_ops" in flags:
        return flags
    return f"{flags} {DETERMINISTIC_FLAG}".strip()


def env(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    if not config.deterministic:
        return {}
    return {"XLA_FLAGS": _with_flag(environ.get("XLA_FLAGS", ""))}  # appended, not replaced


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # private API: assume the worst
        return True


def apply(jax: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    report.add("jax", "seeded", f"jax {version_of(jax)}: no global RNG; keys from seedlock.jax_key(name)")
    if not config.deterministic:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops=true" in flags:
        report.add("jax.xla", "verified", f"XLA_FLAGS has {DETERMINISTIC_FLAG}")
    elif not _backend_started():
        os.environ["XLA_FLAGS"] = _with_flag(flags)
        report.add(
            "jax.xla", "switched", f"{DETERMINISTIC_FLAG} added to XLA_FLAGS before the backend started"
        )
    else:
        report.add(
            "jax.xla",
            "warning",
            "XLA backend already started without deterministic GPU ops; use `seedlock run`",
        )


def key(name: str | None = None, *, rank: int | None = None) -> Any:
    """A ``jax.random`` key derived from the master seed (and ``name``, if given).

    >>> import jax, seedlock
    >>> _ = seedlock.seed_everything(0)
    >>> k_init = seedlock.jax_key("init")
    >>> k_drop = seedlock.jax_key("dropout")             # independent of k_init
    >>> bool((jax.random.key_data(k_init) != jax.random.key_data(k_drop)).any())
    True
    """
    import jax

    from seedlock import seeds

    seed = seeds.derive(name, rank=rank) if name is not None else seeds.stream_seed()
    return jax.random.key(seed)


ADAPTER = Adapter("jax", "jax", apply, env=env)
