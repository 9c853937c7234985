"""Python's ``random`` and the str/bytes hash seed."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping
from types import ModuleType

from seedlock.config import ENV_HASHSEED
from seedlock.frameworks.base import Adapter, Config
from seedlock.report import SeedReport


def _wanted_hashseed(config: Config, environ: Mapping[str, str]) -> str:
    return environ.get(ENV_HASHSEED) or str(config.seed)


def env(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    # Only read at interpreter start: setting it in os.environ later (seeds 000-003) does nothing.
    # `seedlock repeat` forks its trials from one interpreter, so it fixes $SEEDLOCK_HASHSEED for all.
    return {"PYTHONHASHSEED": _wanted_hashseed(config, environ)}


def startup_hashseed() -> str | None:
    """PYTHONHASHSEED as it was when this interpreter started (None: not set, or unknowable).

    ``os.environ`` may have been changed since; Linux keeps the start-up environment
    in /proc/self/environ.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    for item in raw.split(b"\0"):
        if item.startswith(b"PYTHONHASHSEED="):
            return item.split(b"=", 1)[1].decode()
    return None


def apply(module: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    random.seed(config.seed)
    report.add("python.random", "seeded", f"random.seed({config.seed})")
    check_hashseed(config, report)


def check_hashseed(config: Config, report: SeedReport) -> None:
    at_start = startup_hashseed()
    wanted = _wanted_hashseed(config, os.environ)
    if at_start == wanted:
        report.add("python.hashseed", "verified", f"PYTHONHASHSEED={wanted} took effect at interpreter start")
    elif at_start is not None and at_start != "random":
        report.add(
            "python.hashseed",
            "warning",
            f"PYTHONHASHSEED was fixed at interpreter start to {at_start}, not {wanted}: str hashes and set "
            f"order are reproducible, but follow {at_start}; use `seedlock run --seed {wanted}`",
        )
    elif sys.flags.hash_randomization:
        report.add(
            "python.hashseed",
            "warning",
            "hash randomization is on (PYTHONHASHSEED was not set before the interpreter started): "
            "set and dict-of-str iteration order changes run to run; use `seedlock run`",
        )


ADAPTER = Adapter("python", "random", apply, env=env)
