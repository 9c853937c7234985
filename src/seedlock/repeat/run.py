"""``seedlock repeat`` from end to end: :func:`repeat` opens the store, picks the seeds left, starts
the executor and the :class:`~seedlock.repeat.driver.Driver` (claim seeds, run trials, record each
as it ends; the fork-server's check: :mod:`seedlock.repeat.forkcheck`), then sums up.

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

import hashlib
import json
import math
import os
import re
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat.driver import Driver, Options, install_signals, restore_signals
from seedlock.repeat.executors import Executor
from seedlock.repeat.progress import Progress
from seedlock.repeat.records import Experiment
from seedlock.repeat.store import DEFAULT_STORE, Store
from seedlock.repeat.storefile import FAILED
from seedlock.repeat.trial import TrialSpec, zygote_env


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
