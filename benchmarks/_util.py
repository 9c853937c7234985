"""Shared bits for the benchmark scripts: clean environments and interleaved timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDLOCK_") and k != "PYTHONHASHSEED"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    env.update(extra)
    return env


def wall(cmd: Sequence[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def reported(cmd: Sequence[str], env: dict[str, str], key: str) -> float:
    """Run cmd and return the float it prints after `key:`."""
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.split(f"{key}:")[1].split()[0])


def interleaved(configs: dict[str, object], reps: int, measure) -> dict[str, float]:
    """Median of `reps` measurements per config, configs interleaved so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(reps):
        for name, cfg in configs.items():
            samples[name].append(measure(cfg))
    return {name: statistics.median(v) for name, v in samples.items()}


PY = sys.executable
