"""The child's environment: everything that must exist before the interpreter (or CUDA, XLA) starts."""

from __future__ import annotations

import os
from collections.abc import Mapping

from seedlock.config import ENV_ACTIVE, ENV_DETERMINISTIC, ENV_ROOT, ENV_THREADS, ENV_VERBOSE, Settings
from seedlock.frameworks import ADAPTERS, Config
from seedlock.seeds import ENV_SEED

# Its sitecustomize seeds every Python interpreter started beneath a run (seedlock.launch.child).
SITEDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sitedir")


def child_env(
    config: Config, base: Mapping[str, str], *, verbose: bool = False, root: bool = True
) -> dict[str, str]:
    """``base`` plus seedlock's settings, every adapter's start-up variables, and ``SITEDIR``
    first on ``PYTHONPATH``. ``root``: the process started with it is seedlock's boot, which sets
    itself up (``False`` for ``seedlock run -- COMMAND``: the command's interpreter is a child)."""
    env = dict(base)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITEDIR]
    env["PYTHONPATH"] = os.pathsep.join([SITEDIR, *paths])
    if root:
        env[ENV_ROOT] = "1"
    else:
        env.pop(ENV_ROOT, None)
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
    """The adapters' :class:`Config` from the variables :func:`child_env` set."""
    settings = Settings.from_env(environ)
    return Config(seed=settings.seed, deterministic=settings.deterministic, threads=settings.threads)
