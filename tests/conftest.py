"""Shared test helpers: real subprocesses, real frameworks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a plain run: no seedlock or hash-seed variables leaking in from pytest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDLOCK_")}
    # PL_GLOBAL_SEED: Lightning's seed_everything, called in the pytest process by an earlier test,
    # sets it there; a fresh run would then take it as its master seed.
    leaked = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")
    for var in ("PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS", *leaked):
        env.pop(var, None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.update(extra)
    return env


def run_py(
    args: list[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a fresh process."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env or clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_seedlock(
    args: list[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`seedlock ARGS` in a fresh process (through `python -m seedlock`). A `check` gets
    `SEEDLOCK_EXPLAIN=0` unless ``env`` sets it: no NOT is explained on its own (up to 9 more runs
    each, minutes over the suite; tests/test_explain.py tests it without)."""
    if args[:1] == ["check"]:
        env = {"SEEDLOCK_EXPLAIN": "0", **(env if env is not None else clean_env())}
    return run_py(["-m", "seedlock", *args], cwd=cwd, env=env, timeout=timeout, stdin=stdin)


def run_together(
    *calls: Callable[[], subprocess.CompletedProcess[str]],
) -> list[subprocess.CompletedProcess[str]]:
    """Independent runs (``lambda: run_py(...)``) at once, results in call order: a test that
    needs four cold framework processes waits for the slowest, not for the sum."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.fixture
def scripts() -> Path:
    return SCRIPTS
