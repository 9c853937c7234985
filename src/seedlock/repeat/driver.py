"""The loop of ``seedlock repeat``: claim seeds, run trials, record each as it ends.

Each trial is written through :meth:`Store.finish_trial` (one transaction) as soon as it ends,
so an interrupted run loses only the trials in flight, recorded as ``interrupted``. Several
processes may share a store: seeds are claimed (:mod:`seedlock.repeat.claims`) so none runs
twice at once. With the fork-server, results pass through :mod:`seedlock.repeat.forkcheck`
first.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from seedlock.repeat.claims import Claims
from seedlock.repeat.executors import Executor
from seedlock.repeat.forkcheck import ForkCheck
from seedlock.repeat.progress import Progress
from seedlock.repeat.records import Experiment
from seedlock.repeat.store import Store
from seedlock.repeat.storefile import FAILED
from seedlock.repeat.trial import TrialResult, TrialSpec, trial_env


@dataclass
class Options:
    """What ``seedlock repeat`` was asked; checked by the CLI before it gets here."""

    script: str
    args: list[str]
    seeds: list[int]
    store: str
    name: str | None = None
    metrics: list[str] = field(default_factory=list)
    workers: int = 1
    timeout: float | None = None
    executor: str = "local"
    address: str | None = None
    cpus_per_trial: float = 1.0  # --executor ray: what each trial holds on its node
    gpus_per_trial: float = 0.0
    excludes: list[str] = field(default_factory=list)  # --address: left out of the shipped directory
    ship_limit_mib: float | None = None
    retry_failed: bool = False
    until_ci: float | None = None
    min_seeds: int = 2
    fork: bool = True
    hashseed: int = 0
    command: bool = False  # `repeat -- COMMAND`: ``script`` is a program, each trial a fresh one
    all_ranks: bool = False  # store every rank's metrics, not rank 0's alone


class Driver(ForkCheck):
    def __init__(
        self,
        opts: Options,
        store: Store,
        exp: Experiment,
        executor: Executor,
        manifest: dict[str, Any],
        rundirs: Path,
        progress: Progress,
    ) -> None:
        self.o, self.store, self.exp, self.ex = opts, store, exp, executor
        self.manifest, self.rundirs, self.progress = manifest, rundirs, progress
        self.claims = Claims(store.path)
        self.counts: dict[str, int] = {}
        self.retry: list[int] = []  # claimed seeds to run again (fresh): the fork-server failed its check
        self.signal: int | None = None
        self.target_reached = False
        self.no_metric = False
        self.busy_elsewhere = 0
        self.init_fork_check(executor.mode == "fork")
        self._failed_key: tuple[int, ...] | None = None
        self._failed: set[int] = set()

    # -- specs and claims ------------------------------------------------------------------------

    def spec(self, seed: int, role: str = "trial") -> TrialSpec:
        suffix = ".check" if role == "check" else ""
        # The fork-server's check pair is traced per epoch: if they differ, `seedlock diff` says where.
        pair = self.verify == "pending" and seed == self.check_seed
        return TrialSpec(
            seed=seed,
            script=self.o.script,
            args=self.o.args,
            cwd=os.getcwd(),
            rundir=str(self.rundirs / f"seed-{seed}{suffix}"),
            timeout=self.o.timeout,
            hashseed=self.o.hashseed,
            role=role,
            granularity="epoch" if pair else "exit",
            command=self.o.command,
            all_ranks=self.o.all_ranks,
        )

    def claim(self, seed: int) -> bool:
        """Take the seed for this process; False if it is done, failed before, or running elsewhere."""
        if not self.claims.take(self.exp.id, seed):
            self.busy_elsewhere += 1
            return False
        failed = not self.o.retry_failed and seed in self.failed_seeds()
        if failed or not self.store.start_trial(self.exp, seed):  # start_trial: False if it finished ok
            self.claims.release(self.exp.id, seed)
            return False
        return True

    def failed_seeds(self) -> set[int]:
        """Seeds that failed, timed out or were killed, here or in another process. Re-read only when
        the counts change: reading trials parses their manifests, too slow to do for every seed."""
        counts = next((r.counts for r in self.store.runs() if r.experiment.id == self.exp.id), {})
        key = tuple(counts.get(s, 0) for s in FAILED)
        if key != self._failed_key:
            self._failed_key = key
            self._failed = {t.seed for s in FAILED for t in self.store.trials(self.exp, s)}
        return self._failed

    # -- results ---------------------------------------------------------------------------------

    def record(self, r: TrialResult) -> None:
        from seedlock.doctor.environment import as_started_with

        # The audit was taken once, in this process: the trial's own variables (its seed, the
        # hash seed, determinism settings) are those its interpreter started with.
        started = trial_env(self.spec(r.seed, r.role), os.environ)
        manifest = {
            **self.manifest,
            "seed": r.seed,
            "environment": as_started_with(self.manifest.get("environment", {}), started),
            "determinism": {**self.manifest.get("determinism", {}), "executor": r.mode},
        }
        self.store.finish_trial(
            self.exp,
            r.seed,
            r.status,
            exit_code=r.exit_code,
            reason=r.reason,
            duration_s=r.duration_s,
            stderr_tail=r.stderr_tail or None,
            fingerprint=r.fingerprint,
            manifest=manifest,
            metrics=r.metrics,
            node=r.node,
        )
        self.claims.release(self.exp.id, r.seed)
        self.counts[r.status] = self.counts.get(r.status, 0) + 1
        self.progress.trial(r.seed, r.status, r.duration_s, r.reason)
        if r.status == "ok":
            self.check_target()

    def check_target(self) -> None:
        """--until-ci: stop once every metric's CI half-width is at most the target."""
        if self.o.until_ci is None or self.target_reached:
            return
        from seedlock.repeat.power import ci_halfwidth

        names = set(self.store.metric_names(self.exp))
        if any(m not in names for m in self.o.metrics):
            # Ok trials that did not report it: an error after the run, and no point running more.
            self.no_metric = bool(self.counts.get("ok")) or bool(self.store.done_seeds(self.exp))
            return
        # NaN and inf (a diverged seed) are left out of the interval: so from the count too.
        values = [
            [v for v in self.store.metric_values(self.exp, m).values() if math.isfinite(v)]
            for m in self.o.metrics
        ]
        widths = [ci_halfwidth(v) for v in values]
        if min(len(v) for v in values) >= self.o.min_seeds and all(w <= self.o.until_ci for w in widths):
            self.target_reached = True
            shown = ", ".join(f"{m} ±{w:.4g}" for m, w in zip(self.o.metrics, widths, strict=True))
            self.progress.say(
                f"--until-ci {self.o.until_ci:g} reached after {min(len(v) for v in values)} ok seeds "
                f"with finite values: {shown}"
            )

    # -- the loop --------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signum

    def loop(self, todo: list[int]) -> None:
        todo = list(todo)
        if self.verify == "pending" and todo and self.claim(first := todo.pop(0)):
            self.submit_check(first)  # a fresh process: it runs while the zygote imports
            self.ex.submit(self.spec(first))
        interrupted = False
        while True:
            if self.signal is not None and not interrupted:
                interrupted = True
                self.progress.say("interrupted: stopping the trials in flight")
                self.ex.interrupt()
            if self.verify == "pending" and self.ex.mode != "fork":  # the zygote refused or died
                self.verify = None
                self.retry.extend(r.seed for r in self.held)
                self.held.clear()
            stop = interrupted or self.target_reached or self.no_metric
            while not stop and self.ex.in_flight() < self.o.workers and (self.retry or todo):
                if self.retry:  # already claimed
                    self.ex.submit(self.spec(self.retry.pop(0)))
                elif self.claim(seed := todo.pop(0)):
                    self.ex.submit(self.spec(seed))
            if self.ex.in_flight() == 0 and (stop or not (self.retry or todo)):
                break
            for r in self.ex.wait(0.2):
                self.handle(r)
            if (
                self.verify == "pending"
                and self.check_seed is None
                and self.signal is None
                and (ok := next((r for r in self.held if r.status == "ok"), None)) is not None
            ):
                self.submit_check(ok.seed)
                self.forked = ok
            for line in self.ex.notes():
                self.progress.say(line)
            self.progress.set_running(self.ex.in_flight())
        for r in self.held:  # finished forked before the fork-server was verified: run again later
            self.record(
                replace(
                    r,
                    status="interrupted",
                    fingerprint=None,
                    reason="finished before the fork-server was verified; run the same command again",
                )
            )
        self.held.clear()
        for seed in self.retry:  # claimed, never rerun
            self.store.finish_trial(
                self.exp, seed, "interrupted", reason="interrupted before it could be rerun"
            )
            self.claims.release(self.exp.id, seed)
        self.retry.clear()


def install_signals(driver: Driver) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, driver._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def restore_signals(saved: dict[int, Any]) -> None:
    for s, handler in saved.items():
        signal.signal(s, handler)
