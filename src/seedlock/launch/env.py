"""The child's environment: everything that must exist before the interpreter (or CUDA, XLA) starts."""

from __future__ import annotations

from collections.abc import Mapping

from seedlock.frameworks import ADAPTERS, Config
from seedlock.seeds import ENV_SEED

ENV_DETERMINISTIC = "SEEDLOCK_DETERMINISTIC"
ENV_THREADS = "SEEDLOCK_THREADS"
ENV_VERBOSE = "SEEDLOCK_VERBOSE"
ENV_ACTIVE = "SEEDLOCK_ACTIVE"  # set in processes started by `seedlock run`
ENV_TRACE = "SEEDLOCK_TRACE"  # record a trace here (auto-instrumentation)
ENV_GRANULARITY = "SEEDLOCK_GRANULARITY"
ENV_DIGEST = "SEEDLOCK_DIGEST"  # the trace's digest algorithm: auto, dh1 or xxh3_128
ENV_PLAIN = "SEEDLOCK_PLAIN"  # instrument, but do not seed: what the script does on its own
ENV_MANIFEST = "SEEDLOCK_MANIFEST"
ENV_STRICT = "SEEDLOCK_STRICT"
ENV_AUDIT = "SEEDLOCK_AUDIT"
ENV_AUDIT_FILE = "SEEDLOCK_AUDIT_FILE"


def child_env(config: Config, base: Mapping[str, str], *, verbose: bool = False) -> dict[str, str]:
    """``base`` plus seedlock's settings and every adapter's start-up variables."""
    env = dict(base)
    env[ENV_SEED] = str(config.seed)
    env[ENV_DETERMINISTIC] = "1" if config.deterministic else "0"
    env[ENV_ACTIVE] = "1"
    if config.threads is not None:
        env[ENV_THREADS] = str(config.threads)
    else:
        env.pop(ENV_THREADS, None)
    if verbose:
        env[ENV_VERBOSE] = "1"
    else:
        env.pop(ENV_VERBOSE, None)
    for adapter in ADAPTERS:
        if adapter.env is not None:
            env.update(adapter.env(config, env))
    return env


def config_from_env(environ: Mapping[str, str]) -> Config:
    from seedlock.seeds import validate_seed

    threads = environ.get(ENV_THREADS)
    return Config(
        seed=validate_seed(environ.get(ENV_SEED, "0"), source=f"${ENV_SEED}"),
        deterministic=environ.get(ENV_DETERMINISTIC, "1") != "0",
        threads=int(threads) if threads else None,
    )
