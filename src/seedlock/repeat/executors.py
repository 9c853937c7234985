"""Where trials run: forked from the zygote or in fresh processes on this machine (or Ray tasks,
:mod:`seedlock.repeat.ray_exec`), all behind one small interface the driver loop uses.

>>> ex = LocalExecutor(2, script=None, cwd=".", zygote_env={}, log="")  # doctest: +SKIP
>>> ex.submit(spec); results = ex.wait(0.2); ex.close()                # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Protocol

from seedlock.launch.process import Live
from seedlock.repeat.forkserver import ForkServer, ForkServerGone
from seedlock.repeat.trial import (
    FreshProc,
    Proc,
    TrialResult,
    TrialSpec,
    enter_view,
    fresh_rundir,
    run,
    trial_env,
)


class Executor(Protocol):
    """What the driver needs from an executor. ``mode``: fork, fresh or ray."""

    mode: str

    def submit(self, spec: TrialSpec) -> None:
        """Start the trial (or queue it); its result comes back from :meth:`wait`."""

    def wait(self, timeout: float) -> list[TrialResult]:
        """Results of trials that ended, waiting up to ``timeout`` seconds for the first."""

    def in_flight(self) -> int:
        """Trials submitted whose result has not been returned yet."""

    def interrupt(self) -> None:
        """Kill every trial in flight; they come back from :meth:`wait` as ``interrupted``."""

    def fall_back(self, reason: str) -> None:
        """Run the trials still to come in fresh processes, saying why (no-op where they already are)."""

    def notes(self) -> list[str]:
        """Messages for the user since the last call (what the executor decided, and why)."""

    def close(self) -> None:
        """Release processes, threads, clusters."""


def lost(spec: TrialSpec, mode: str, why: str) -> TrialResult:
    """The result of a trial that seedlock itself could not run or hear back from."""
    return TrialResult(spec.seed, spec.role, "failed", None, f"seedlock could not run it: {why}", 0.0, mode)


class LocalExecutor:
    """Up to ``workers`` trials at once on this machine.

    With a ``script``, trials are forked from a zygote that imported its frameworks once; without,
    or when the zygote finds forking unsafe or dies, each trial is a fresh process. Verification
    runs (``role="check"``) are always fresh processes.
    """

    def __init__(
        self,
        workers: int,
        *,
        script: str | None,
        cwd: str,
        zygote_env: dict[str, str],
        log: str,
        base: dict[str, str] | None = None,
    ) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="seedlock-trial")
        self._futures: dict[Future[TrialResult], TrialSpec] = {}
        self._live = Live()  # its `stopped`: interrupted, every trial in flight killed
        self._lock = threading.Lock()
        self._notes: list[str] = []
        self._base = dict(os.environ) if base is None else base  # the trials' environment, seed aside
        self._announced = False
        self.server: ForkServer | None = None
        self.mode = "fresh"
        if script is not None:
            self.server = ForkServer(script, zygote_env, cwd, log)
            self.mode = "fork"

    def _note(self, line: str) -> None:
        with self._lock:
            self._notes.append(line)

    def notes(self) -> list[str]:
        with self._lock:
            out, self._notes = self._notes, []
        return out

    def fall_back(self, reason: str) -> None:
        with self._lock:
            server, self.server = self.server, None
            self.mode = "fresh"
        if server is not None:
            self._note(f"running every trial in a fresh process instead of forking: {reason}")
            server.close()

    def _forking(self) -> bool:
        """Whether this trial may be forked: waits for the zygote's imports the first time."""
        server = self.server
        if server is None:
            return False
        try:
            info = server.ready()
        except ForkServerGone as exc:
            self.fall_back(str(exc))
            return False
        if info["unsafe"]:
            self.fall_back("; ".join(info["unsafe"]))
            return False
        with self._lock:
            first, self._announced = not self._announced, True
        if first:
            what = ", ".join(info["imported"]) or "nothing heavy"
            self._note(
                f"fork-server: imported {what} once in {info['seconds']:.1f} s; each trial is forked from it"
            )
        return True

    def _fork_start(self, spec: TrialSpec) -> Proc:
        server = self.server
        if server is None:
            raise ForkServerGone("fell back to fresh processes")
        fresh_rundir(spec)
        env = trial_env(spec, self._base)
        cwd = enter_view(spec, env)
        return self._live.add(
            server.spawn(
                env,
                cwd,
                [spec.script, *spec.args],
                str(spec.file("stdout.txt")),
                str(spec.file("stderr.txt")),
            )
        )

    def _fresh_start(self, spec: TrialSpec) -> Proc:
        return self._live.add(FreshProc(spec, trial_env(spec, self._base)))

    def run_one(self, spec: TrialSpec) -> TrialResult:
        """Run one trial here and now (forked if it may be, else fresh), in the calling thread."""
        try:
            if spec.role == "trial" and self._forking():
                try:
                    result = run(spec, self._fork_start, mode="fork", interrupted=self._live.stopped.is_set)
                    if result.exit_code is not None or self._live.stopped.is_set():
                        return result
                    self.fall_back(f"the fork server died while running seed {spec.seed}")  # rerun it fresh
                except ForkServerGone as exc:
                    self.fall_back(str(exc))
            return run(spec, self._fresh_start, mode="fresh", interrupted=self._live.stopped.is_set)
        finally:
            self._live.prune()  # a Ray node calls this alone, never wait(): forget what ended

    def submit(self, spec: TrialSpec) -> None:
        self._futures[self._pool.submit(self.run_one, spec)] = spec

    def wait(self, timeout: float) -> list[TrialResult]:
        if not self._futures:
            return []
        done, _ = wait_futures(list(self._futures), timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            spec = self._futures.pop(future)
            try:
                out.append(future.result())
            except Exception as exc:  # a bug or an OS error around the trial, not the trial itself
                out.append(lost(spec, self.mode, f"{type(exc).__name__}: {exc}"))
        self._live.prune()
        return out

    def in_flight(self) -> int:
        return len(self._futures)

    def interrupt(self) -> None:
        self._live.stop()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.server is not None:
            self.server.close()
            self.server = None
