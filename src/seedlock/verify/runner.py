"""Launching the runs that ``seedlock check`` compares: fresh processes, traced, in parallel."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from seedlock.config import (
    ENV_AUDIT_FILE,
    ENV_CHILDREN,
    ENV_DRAWS,
    ENV_ENTROPY,
    ENV_GRANULARITY,
    ENV_MANIFEST,
    ENV_PLAIN,
    ENV_TRACE,
    without_settings,
)
from seedlock.errors import SeedlockError
from seedlock.frameworks.base import Config
from seedlock.launch import workspace
from seedlock.launch.env import child_env
from seedlock.launch.process import FreshProcess, Live, boot_argv, own_rendezvous, wait_or_kill
from seedlock.launch.process import free_port as free_port  # where the tests and benchmarks import it

if TYPE_CHECKING:
    from seedlock.verify.live import Watcher

STDERR_TAIL = 4000


@dataclass
class Target:
    """What to run: a script path or a module, with its arguments."""

    path: str
    args: list[str] = field(default_factory=list)
    module: bool = False
    command: bool = (
        False  # `check -- COMMAND ARGS`: a program (its path), whose Python processes are children
    )

    def boot_argv(self) -> list[str]:
        if self.command:
            return [self.path, *self.args]
        return boot_argv(self.path, self.args, module=self.module)

    def display(self) -> str:
        if self.command:
            return " ".join(["--", os.path.basename(self.path), *self.args])
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


def run_env(
    config: Config,
    rundir: Path,
    *,
    plain: bool,
    granularity: str,
    extra: dict[str, str] | None = None,
    command: bool = False,
) -> dict[str, str]:
    base = without_settings(os.environ)
    if plain:
        env = base
        env[ENV_PLAIN] = "1"
    else:
        env = child_env(config, base, root=not command)
    rundir = rundir.absolute()  # the script may chdir: its trace's .npz and its manifest must not follow
    env[ENV_TRACE] = str(rundir / "trace.jsonl")
    env[ENV_MANIFEST] = str(rundir / "manifest.json")
    env[ENV_GRANULARITY] = granularity
    env[ENV_AUDIT_FILE] = str(rundir / "audit.json")
    env[ENV_ENTROPY] = str(rundir / "entropy.jsonl")  # seedlock.audit.entropy: each draw, as it happens
    env[ENV_CHILDREN] = str(rundir / "children.txt")
    own_rendezvous(env, base)
    env.update(extra or {})
    return env


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """A record file a run appends JSON lines to (pools, checkpoints): a line cut by a kill, or
    not an object, is skipped; a missing file is no records."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def children(result: RunResult) -> int:
    """How many seeded child processes a run started (torchrun's ranks, multiprocessing workers...)."""
    try:
        return len(result.trace.with_name("children.txt").read_text().splitlines())
    except OSError:
        return 0


def run_once(
    index: int,
    target: Target,
    env: dict[str, str],
    rundir: Path,
    timeout: float | None,
    live: Live | None = None,
    view: workspace.View | None = None,
) -> RunResult:
    """One run in a fresh process of its own session: a timeout kills the script's children too.
    With a ``view``, the run starts there and its stdout reads as if it had run in the user's directory."""
    rundir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    out_path, err_path = rundir / "stdout.txt", rundir / "stderr.txt"
    cwd = None if view is None else view.cwd
    proc = FreshProcess(target.boot_argv(), env, cwd, out_path, err_path)
    if live is not None:
        live.add(proc)
    try:
        code, timed_out = wait_or_kill(proc, timeout)
    finally:
        if live is not None:
            live.discard(proc)
    # surrogateescape: two different invalid bytes must not both become U+FFFD
    out = out_path.read_bytes().decode(errors="surrogateescape")
    if view is not None:
        out = view.unview(out)
        workspace.settle(view)
    err = err_path.read_bytes().decode(errors="replace")
    return RunResult(
        index,
        code,
        out,
        err[-STDERR_TAIL:],
        Path(env[ENV_TRACE]),
        Path(env[ENV_MANIFEST]),
        time.perf_counter() - start,
        timed_out,
    )


def default_jobs(runs: int) -> int:
    """Parallel runs: one per core, at most ``runs``."""
    return max(1, min(runs, os.cpu_count() or 1))


# Runs started in one second read one time: a script seeded with int(time.time()) repeated
# itself, and check said REPRODUCIBLE. Starts this far apart read different seconds (within half
# a second of jitter); coarser clocks are left to the static rule SL104 (see check.py).
STAGGER_S = 1.5


def run_many(
    target: Target,
    runs: int,
    config: Config,
    workdir: Path,
    *,
    plain: bool,
    granularity: str,
    jobs: int | None = None,
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
    tag: str = "run",
    watcher: Watcher | None = None,
) -> list[RunResult]:
    """Run the target ``runs`` times in fresh processes, ``jobs`` at a time, starting
    :data:`STAGGER_S` seconds apart. Once a run fails (an exit code, a timeout), the runs not yet
    started are not: a failed run is no verdict, and each would spend up to the timeout again."""
    lock = threading.Lock()
    next_start = [time.monotonic()]
    live = Live()
    key = secrets.token_hex(8)  # this check's draws (audit.draws): run 2's OS entropy flips run 1's
    failed = threading.Event()

    def one(i: int) -> RunResult | None:
        with lock:
            now = time.monotonic()
            start = max(now, next_start[0])
            next_start[0] = start + STAGGER_S
        if live.stopped.wait(start - now) or failed.is_set():  # waits for a later wall-clock second
            return None
        rundir = workdir / f"{tag}-{i + 1}"
        env = run_env(
            config, rundir, plain=plain, granularity=granularity, extra=extra_env, command=target.command
        )
        env[ENV_DRAWS] = f"{key}:{i}:"
        view = workspace.build(rundir / "view", here, before)
        env.update(view.env(rundir / "files.txt"))
        result = run_once(i, _in_view(target), env, rundir, timeout, live, view)
        if not result.ok and not live.stopped.is_set():  # not a run the watcher stopped
            failed.set()
        return result

    # Each run starts in a private view of the working directory as it is now (launch.workspace).
    here = os.getcwd()
    before = workspace.snapshot(here, skip=[workdir])
    pool = ThreadPoolExecutor(max_workers=jobs or default_jobs(runs))
    if watcher is not None:  # live comparison: stops every run at the first divergence
        watcher.start(live, [workdir / f"{tag}-{i + 1}" for i in range(runs)], time.monotonic())
    try:
        with _sigterm_exits():
            results = list(pool.map(one, range(runs)))
    except BaseException:  # Ctrl-C, SIGTERM: no run outlives seedlock
        live.stop()
        raise
    finally:
        pool.shutdown(wait=True)
        if watcher is not None:
            watcher.finish()
    done = [r for r in results if r is not None]
    records = [workdir / f"{tag}-{i + 1}" / "files.txt" for i in range(runs)]
    reason = workspace.shared_reason(here, before, workspace.snapshot(here, skip=[workdir]), records)
    if reason is not None:
        raise NotIsolated(reason)
    return done


class NotIsolated(SeedlockError):
    """The runs could see each other's files after all: no verdict, naming the file."""


def _in_view(target: Target) -> Target:
    """A script path two levels up (``../../train.py``) as an absolute one: the view mirrors one
    level above the working directory (``../train.py`` is there), not the user's whole tree."""
    if target.module or target.command or os.path.isabs(target.path):
        return target
    if os.path.normpath(target.path).startswith(os.path.join(os.pardir, os.pardir, "")):
        return Target(os.path.abspath(target.path), target.args)
    return target


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM as SystemExit(143) in the main thread, so that the runs are killed on the way out
    (by default python dies at once, and the runs, in sessions of their own, live on)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        print("seedlock: terminated; stopping the runs", file=sys.stderr)
        raise SystemExit(128 + signum)

    saved = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved)
