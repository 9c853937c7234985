"""The driver of ``seedlock repeat``: claim seeds, run trials, record each as it ends.

Each trial is written through :meth:`Store.finish_trial` (one transaction) as soon as it ends,
so an interrupted run loses only the trials in flight, recorded as ``interrupted``; running the
same command again skips the seeds that finished (``--retry-failed`` reruns the failed ones).
Several processes may share a store: seeds are claimed (:mod:`seedlock.repeat.claims`) so none
runs twice at once. With the fork-server, one seed is also run cold (a fresh process) and its
fingerprint compared with the forked trial's; until that passes, forked results are held back,
and if it fails every trial is rerun in a fresh process.

>>> default_name("train.py", []), default_name("train.py", ["--lr", "0.1"])
('train', 'train-7cd33a')
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat.claims import Claims
from seedlock.repeat.executors import Executor
from seedlock.repeat.progress import Progress
from seedlock.repeat.store import DEFAULT_STORE, Experiment, Store
from seedlock.repeat.storefile import FAILED
from seedlock.repeat.trial import TrialResult, TrialSpec, trial_env, zygote_env

VERIFY_TRIES = 3


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


def default_name(script: str, args: list[str], command: bool = False) -> str:
    """The script's stem, plus a short hash of its arguments when it has any; for a command
    (``torchrun ... train.py``), the stem of the first ``.py`` it is given, else the program's.

    >>> default_name("train.py", []), default_name("/bin/torchrun", ["--nproc-per-node", "2", "t.py"], True)
    ('train', 't-107a89')
    """
    if command:
        script = next((a for a in args if a.endswith(".py")), script)
    stem = Path(script.rstrip("/")).stem or "script"
    if not args:
        return stem
    return f"{stem}-{hashlib.sha256(json.dumps(args).encode()).hexdigest()[:6]}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


class Driver:
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
        # Verification of the fork-server: None (not forking), pending, passed, failed.
        self.verify: str | None = "pending" if executor.mode == "fork" else None
        self.check_seed: int | None = None
        self.cold: TrialResult | None = None
        self.forked: TrialResult | None = None
        self.held: list[TrialResult] = []
        self.tries = 0
        # A cold run failed as its forked twin did: failures are the script's, not the fork's, and
        # are recorded as they come (held, a script that always failed had every trial "interrupted").
        self.failures_confirmed = False
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

    def submit_check(self, seed: int) -> None:
        self.check_seed, self.cold, self.forked = seed, None, None
        self.tries += 1
        self.ex.submit(self.spec(seed, "check"))

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

    def handle(self, r: TrialResult) -> None:
        if r.role == "check":
            if self.verify == "pending" and r.seed == self.check_seed:
                self.cold = r
                self.compare()
            return
        if r.mode == "fork" and self.verify == "failed" and r.status != "interrupted":
            self.retry.append(r.seed)  # still claimed: run it again, fresh
        elif (
            r.mode == "fork"
            and self.verify == "pending"
            and r.status != "interrupted"
            and not (self.failures_confirmed and r.status != "ok" and r.seed != self.check_seed)
        ):
            self.held.append(r)
            if r.seed == self.check_seed:
                self.forked = r
                self.compare()
        else:
            self.record(r)

    def compare(self) -> None:
        """The cold and forked runs of the check seed are both in: decide."""
        cold, forked = self.cold, self.forked
        if cold is None or forked is None:
            return
        say = self.progress.say
        if cold.status == forked.status == "ok" and cold.fingerprint == forked.fingerprint:
            what = "stdout and metrics" if str(cold.fingerprint).startswith("stdout+metrics:") else "stdout"
            only = (
                (
                    f" - {what} only: no Keras or torch model was fingerprinted at exit (none, or the script ended "
                    "with os._exit)"
                )
                if str(cold.fingerprint).startswith("stdout")
                else ""
            )
            say(
                f"verified: seed {cold.seed} forked equals a cold run bitwise (fingerprint "
                f"{str(cold.fingerprint)[:16]}){only}"
            )
            self.release_held("passed")
        elif cold.status == forked.status != "ok" and self.tries < VERIFY_TRIES and self.signal is None:
            self.failures_confirmed = True
            failed = [r for r in self.held if r.status != "ok"]
            self.held = [r for r in self.held if r.status == "ok"]
            for r in failed:
                self.record(r)
            nxt = next((r.seed for r in self.held if r.status == "ok" and r.seed != cold.seed), None)
            if nxt is None:
                self.forked = None
                self.check_seed = None  # the next forked trial that ends ok gets the check
            else:
                self.submit_check(nxt)
                self.forked = next(r for r in self.held if r.seed == nxt)
        elif cold.status == forked.status != "ok":
            say(f"could not verify the fork-server: seed {cold.seed} {cold.status} both forked and cold")
            self.release_held("passed")
        else:
            how = (
                f"fingerprint {forked.fingerprint} vs {cold.fingerprint}"
                if cold.status == forked.status
                else f"{forked.status} forked vs {cold.status} cold"
            )
            # The forked trial's directory is kept aside: its seed now runs again, fresh, in its place.
            forked_dir = Path(self.spec(cold.seed).rundir)
            kept = forked_dir.with_name(forked_dir.name + ".forked")
            shutil.rmtree(kept, ignore_errors=True)
            with contextlib.suppress(OSError):
                forked_dir.rename(kept)
            traces = " ".join(
                shlex.quote(str(Path(d) / "trace.jsonl"))
                for d in (kept, self.spec(cold.seed, "check").rundir)
            )
            say(
                f"warning: seed {cold.seed} forked differs from a cold run ({how}); rerunning every trial in a "
                f"fresh process (where they differ: seedlock diff {traces})"
            )
            self.verify = "failed"
            self.ex.fall_back(f"a forked trial differed from a cold run of seed {cold.seed}")
            self.retry.extend(r.seed for r in self.held)
            self.held.clear()

    def release_held(self, outcome: str) -> None:
        self.verify = outcome
        held, self.held = self.held, []
        for r in held:
            self.record(r)

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


def _make_executor(opts: Options, driver_spec: TrialSpec, rundirs: Path) -> Executor:
    fork = opts.fork and hasattr(os, "fork")
    if opts.executor == "ray":
        from seedlock.repeat.ray_exec import RayExecutor, RaySettings
        from seedlock.repeat.ship import DEFAULT_LIMIT_MIB

        settings = RaySettings(
            workers=opts.workers,
            address=opts.address,
            cpus_per_trial=opts.cpus_per_trial,
            gpus_per_trial=opts.gpus_per_trial,
            excludes=[*opts.excludes, *_store_excludes(opts.store, rundirs)],
            ship_limit_mib=DEFAULT_LIMIT_MIB if opts.ship_limit_mib is None else opts.ship_limit_mib,
        )
        # A command's own script is its first .py argument: that is what must be shipped.
        shipped = next((a for a in opts.args if a.endswith(".py")), None) if opts.command else opts.script
        executor = RayExecutor(
            settings,
            script=opts.script if fork and not opts.command else None,
            shipped=shipped,
            cwd=os.getcwd(),
            hashseed=opts.hashseed,
            rundirs=str(rundirs),
        )
        if not opts.workers:  # --workers not given with --address: every slot of the cluster
            opts.workers = max(1, executor.slots)
        return executor
    from seedlock.repeat.executors import LocalExecutor

    return LocalExecutor(
        opts.workers,
        script=opts.script if fork else None,
        cwd=os.getcwd(),
        zygote_env=zygote_env(driver_spec, os.environ),
        log=str(rundirs / f"forkserver-{os.getpid()}.log"),
    )


def _store_excludes(store: str, rundirs: Path) -> list[str]:
    """The store and its run directories, where they lie inside the shipped working directory
    (``--store results.db``: no node needs the results of other trials)."""
    here = Path.cwd().resolve()
    out = []
    for path, suffix in ((Path(store).resolve(), "*"), (rundirs.resolve().parent, "")):
        if here in path.parents:
            out.append("/" + path.relative_to(here).as_posix() + suffix)
    return out


def _manifest(opts: Options, name: str) -> dict[str, Any]:
    """One manifest per run (building one costs ~200 ms); each trial's copy gets its seed."""
    from seedlock.doctor import manifest

    settings = {
        "deterministic": True,
        "threads": None,
        "plain": False,
        "strict": False,
        "audit": False,
        "hashseed": opts.hashseed,
    }
    return manifest.build(None, [opts.script, *opts.args], settings, {"experiment": name})


def _summary(
    opts: Options, store: Store, exp: Experiment, driver: Driver | None, seconds: float, mode: str
) -> None:
    runs = next(r for r in store.runs() if r.experiment.id == exp.id)
    ok = runs.counts.get("ok", 0)
    bad = {s: n for s, n in sorted(runs.counts.items()) if s not in ("ok", "running")}
    ran = sum(driver.counts.values()) if driver else 0
    text = f"{exp.name}: {ok} ok"
    if bad:
        text += f", {sum(bad.values())} not ok ({', '.join(f'{n} {s}' for s, n in bad.items())})"
    text += f" of {runs.total} trials; {ran} ran now in {seconds:.1f} s"
    if ran:
        text += f" ({mode}, {opts.workers} worker{'s' if opts.workers > 1 else ''})"
    names = set(store.metric_names(exp))
    if opts.metrics and ok:
        from seedlock.repeat.power import ci_halfwidth

        for m in opts.metrics:
            if m in names:
                raw = list(store.metric_values(exp, m).values())
                values = [v for v in raw if math.isfinite(v)]  # as `seedlock stats` summarises them
                if not values:
                    text += f"; {m}: no finite value"
                    continue
                mean = math.fsum(values) / len(values)
                dropped = f", {len(raw) - len(values)} NaN/inf left out" if len(raw) > len(values) else ""
                text += f"; {m} {mean:.4g} ± {ci_halfwidth(values):.2g} (95% CI, n={len(values)}{dropped})"
    print(text, flush=True)
    where = "" if Path(opts.store) == DEFAULT_STORE else f" --store {shlex.quote(opts.store)}"
    print(f"next: seedlock stats {shlex.quote(exp.name)}{where}", flush=True)


def repeat(opts: Options) -> int:
    """Run ``opts.script`` once per seed into the store; the exit code for the CLI (SeedlockError
    for bad input). 0 done, 1 no trial finished ok, 128 + signal when interrupted."""
    from seedlock.launch.command import check_script

    if not opts.command:
        check_script(opts.script)
    if opts.executor == "ray":
        from seedlock.repeat.ray_exec import check_available

        check_available(opts.address)
    # --all-ranks stores other metrics: an experiment of its own, not the seeds of one without it
    name = opts.name or default_name(opts.script, opts.args, opts.command) + (
        "-all-ranks" if opts.all_ranks else ""
    )
    t0 = time.monotonic()
    with Store(opts.store) as store:
        config = {
            "hashseed": opts.hashseed,
            "executor": opts.executor,
            "workers": opts.workers,
            "timeout": opts.timeout,
        }
        exp = store.experiment(name, script=os.path.normpath(opts.script), args=opts.args, config=config)
        before = {t.seed: t.status for t in store.trials(exp)}
        todo = [
            s
            for s in opts.seeds
            if before.get(s) != "ok" and (opts.retry_failed or before.get(s) not in FAILED)
        ]
        progress = Progress(name, total=len(todo))
        done = sum(before.get(s) == "ok" for s in opts.seeds)
        failed = sum(before.get(s) in FAILED for s in opts.seeds)
        if done or failed:
            progress.say(
                f"{name}: {done} of these seeds already finished ok"
                + (
                    f", {failed} failed ({'rerunning them' if opts.retry_failed else '--retry-failed reruns them'})"
                    if failed
                    else ""
                )
                + "; skipping what is done"
            )
        driver: Driver | None = None
        mode = opts.executor
        if todo:
            # Absolute: a Ray worker (and the trial it starts) has a working directory of its own.
            rundirs = (store.path.parent / "runs" / f"{exp.id}-{_safe(name)}").absolute()
            rundirs.mkdir(parents=True, exist_ok=True)
            executor = _make_executor(
                opts,
                replace(
                    TrialSpec(todo[0], opts.script, opts.args, os.getcwd(), str(rundirs)),
                    hashseed=opts.hashseed,
                ),
                rundirs,
            )
            driver = Driver(opts, store, exp, executor, {}, rundirs, progress)
            saved = install_signals(driver)
            try:
                driver.manifest = _manifest(opts, name)
                driver.check_target()  # --until-ci: the store may have enough already
                if not driver.target_reached and driver.signal is None:
                    driver.loop(todo)
                mode = {"fork": "fork-server", "fresh": "fresh processes", "ray": "Ray"}[driver.ex.mode]
            finally:
                restore_signals(saved)
                executor.close()
                driver.claims.close()
        progress.close()
        if driver is not None and driver.busy_elsewhere:
            progress.say(
                f"{driver.busy_elsewhere} seeds were being run by another `seedlock repeat`: left to it"
            )
        _summary(opts, store, exp, driver, time.monotonic() - t0, mode)
        if driver is not None and driver.signal is not None:
            left = len(todo) - sum(driver.counts.get(s, 0) for s in ("ok", *FAILED))
            print(
                f"seedlock: interrupted; {left} seeds left: run the same command again to finish them",
                file=sys.stderr,
                flush=True,
            )
            return 128 + driver.signal
        names = store.metric_names(exp)
        missing = [m for m in opts.metrics if m not in names]
        if missing:
            there = ", ".join(repr(n) for n in names) if names else "none"
            raise SeedlockError(
                f"no ok trial of {name!r} reported metric {missing[0]!r}; metrics there: {there} "
                "(report one with seedlock.log_metric(), a JSON line on stdout, or Keras fit)"
            )
        if opts.until_ci is not None and driver is not None and not driver.target_reached:
            progress.say(
                f"warning: --until-ci {opts.until_ci:g} not reached: the interval is still wider after "
                f"{len(store.done_seeds(exp))} ok seeds (at most {len(opts.seeds)}: --max-seeds)"
            )
        if driver is not None and driver.counts and not driver.counts.get("ok"):
            ok, total = len(store.done_seeds(exp)), len(store.trials(exp))
            ran = sum(driver.counts.values())
            if not ok:
                progress.say(f"no trial finished ok; see `seedlock runs {shlex.quote(name)}`")
                return 1
            # Retried seeds that failed again: the experiment's earlier ok trials still stand.
            progress.say(
                f"none of the {ran} seeds run now finished ok; {ok} of {total} trials of {name} are ok "
                f"(see `seedlock runs {shlex.quote(name)}`)"
            )
    return 0
