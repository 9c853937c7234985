"""Live comparison (issue 21): how long after the divergent step the verdict comes, and what the
live reading costs the runs.

1. Time to verdict: `check --no-localize` of tests/scripts/live/long_loop.py diverge (100,000 steps
   of ~10 ms, parting at step 3; ~17 minutes a run). The divergent step's time is when the later
   run writes step 3 (the stagger plus a run's time to its step 3, measured by timing a traced run
   to its third record); target: the verdict at most 2 s after it.
2. Cost of the live reading: `check --steps 300` in this process, after a warm-up check (imports);
   the reading thread's CPU time (this process's, less a no-watch check's) against the runs' CPU
   time; target <= 1 %.

    python benchmarks/live_verdict.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import clean_env

ROOT = Path(__file__).resolve().parent.parent
LOOP = ROOT / "tests" / "scripts" / "live" / "long_loop.py"


def time_to_step_3(env: dict[str, str]) -> float:
    """Seconds from a traced run's start to its third step record."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "t.jsonl"
        t0 = time.monotonic()
        p = subprocess.Popen(
            [sys.executable, "-m", "seedlock", "run", "--trace", str(trace), str(LOOP)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                if trace.exists() and trace.read_text().count('"kind":"step"') >= 3:
                    return time.monotonic() - t0
                if p.poll() is not None:
                    raise SystemExit("the traced run ended before step 3")
                time.sleep(0.01)  # polling a file the run writes: measurement, not synchronisation
        finally:
            p.kill()
            p.wait()


def time_to_verdict(env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:  # the check's work directory goes there, not here
        t0 = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "seedlock", "check", "--json", "--no-localize", str(LOOP), "diverge"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        took = time.monotonic() - t0
    if p.returncode != 1 or not json.loads(p.stdout)["stopped_early"]:
        raise SystemExit(f"expected a live NOT, got exit {p.returncode}: {p.stdout[-500:]} {p.stderr[-500:]}")
    return took


def reading_cost(steps: int) -> tuple[float, float, float]:
    """(parent CPU s with the watcher, without, the runs' CPU s) for one bounded check."""
    from seedlock.verify import check as check_mod
    from seedlock.verify import live
    from seedlock.verify.runner import Target

    def once(watch: bool) -> tuple[float, float]:
        original = live.Watcher.start
        if not watch:  # the same check, the thread never started
            live.Watcher.start = lambda self, *a, **k: None  # type: ignore[method-assign]
        before_self = resource.getrusage(resource.RUSAGE_SELF)
        before_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                check_mod.check(Target(str(LOOP), []), steps=steps, workdir=Path(tmp) / "w", localize=False)
        finally:
            live.Watcher.start = original  # type: ignore[method-assign]
        after_self = resource.getrusage(resource.RUSAGE_SELF)
        after_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = lambda a, b: (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)  # noqa: E731
        return cpu(before_self, after_self), cpu(before_kids, after_kids)

    once(False)  # warm-up: the first check in a process pays its imports
    with_watch, kids = once(True)
    without, _ = once(False)
    return with_watch, without, kids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    env = clean_env(OMP_NUM_THREADS="1")
    os.environ.update(OMP_NUM_THREADS="1")
    from seedlock.verify.runner import STAGGER_S

    gaps = []
    for _ in range(args.reps):  # interleaved: the machine's noise hits both alike
        step3 = time_to_step_3(env)
        verdict = time_to_verdict(env)
        gaps.append(verdict - (STAGGER_S + step3))
        print(
            f"verdict {verdict:.2f} s; the later run's step 3 at ~{STAGGER_S + step3:.2f} s; gap {gaps[-1]:+.2f} s"
        )
    gap = statistics.median(gaps)
    print(
        f"time to verdict beyond the divergent step: median {gap:+.2f} s (target <= +2 s): {'OK' if gap <= 2 else 'MISSED'}"
    )
    with_watch, without, kids = reading_cost(300)
    share = max(0.0, with_watch - without) / kids if kids else float("nan")
    print(
        f"live reading: {with_watch:.2f} s CPU in seedlock with it, {without:.2f} s without, the runs {kids:.2f} s: "
        f"{share:.2%} of the runs' CPU (target <= 1 %): {'OK' if share <= 0.01 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
