"""Launching the runs that ``seedlock check`` compares: fresh processes, traced, in parallel."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from seedlock.frameworks.base import Config
from seedlock.launch.env import ENV_AUDIT_FILE, ENV_GRANULARITY, ENV_MANIFEST, ENV_PLAIN, ENV_TRACE, child_env
from seedlock.launch.process import FreshProcess, boot_argv, wait_or_kill

STDERR_TAIL = 4000


@dataclass
class Target:
    """What to run: a script path or a module, with its arguments."""

    path: str
    args: list[str] = field(default_factory=list)
    module: bool = False

    def boot_argv(self) -> list[str]:
        return boot_argv(self.path, self.args, module=self.module)

    def display(self) -> str:
        return " ".join([*(["-m"] if self.module else []), self.path, *self.args])


@dataclass
class RunResult:
    index: int
    returncode: int
    stdout: str
    stderr_tail: str
    trace: Path
    manifest: Path
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_env(config: Config, rundir: Path, *, plain: bool, granularity: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEEDLOCK_")}
    if plain:
        env = base
        env[ENV_PLAIN] = "1"
    else:
        env = child_env(config, base)
    env[ENV_TRACE] = str(rundir / "trace.jsonl")
    env[ENV_MANIFEST] = str(rundir / "manifest.json")
    env[ENV_GRANULARITY] = granularity
    env[ENV_AUDIT_FILE] = str(rundir / "audit.json")
    env.update(extra or {})
    return env


def run_once(index: int, target: Target, env: dict[str, str], rundir: Path, timeout: float | None) -> RunResult:
    """One run in a fresh process of its own session: a timeout kills the script's children too."""
    rundir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    out_path, err_path = rundir / "stdout.txt", rundir / "stderr.txt"
    code, timed_out = wait_or_kill(FreshProcess(target.boot_argv(), env, None, out_path, err_path), timeout)
    # surrogateescape: two different invalid bytes must not both become U+FFFD
    out = out_path.read_bytes().decode(errors="surrogateescape")
    err = err_path.read_bytes().decode(errors="replace")
    return RunResult(index, code, out, err[-STDERR_TAIL:], Path(env[ENV_TRACE]), Path(env[ENV_MANIFEST]),
                     time.perf_counter() - start, timed_out)


def default_jobs(runs: int) -> int:
    """Parallel runs: one per core, at most ``runs``."""
    return max(1, min(runs, os.cpu_count() or 1))


def run_many(target: Target, runs: int, config: Config, workdir: Path, *, plain: bool, granularity: str,
             jobs: int | None = None, timeout: float | None = None, extra_env: dict[str, str] | None = None,
             tag: str = "run") -> list[RunResult]:
    """Run the target ``runs`` times in fresh processes, ``jobs`` at a time."""

    def one(i: int) -> RunResult:
        rundir = workdir / f"{tag}-{i + 1}"
        env = run_env(config, rundir, plain=plain, granularity=granularity, extra=extra_env)
        return run_once(i, target, env, rundir, timeout)

    with ThreadPoolExecutor(max_workers=jobs or default_jobs(runs)) as pool:
        return list(pool.map(one, range(runs)))
