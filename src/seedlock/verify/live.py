"""Live comparison: ``check`` reads the runs' traces as they are written and compares each record
as soon as every run has written it; at the first difference it stops every run.

A run's trace is its own file and, for a distributed job, one per rank (``trace.rank1.jsonl``):
each is compared with the same file of run 1. Only the records written during training (steps,
epochs, batches) are compared here; the runs' exit records and stdout, and the definitive
comparison, are check's own once the runs have ended, so a difference seen here is never the
verdict by itself. With ``seconds`` (``--time S``), once run 1 has run that long (and written a
training record), the runs are stopped when each has written as many records as run 1 had then.

>>> tail = Tail(Path("/nonexistent/trace.jsonl")); tail.read(); tail.records
[]
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedlock.launch.process import Live
from seedlock.trace.records import Record

if TYPE_CHECKING:
    from seedlock.trace.tracefile import Trace

TRAINING = ("step", "epoch", "batch")
POLL_S = 0.1  # how often the files are read: the verdict comes at most this long after the record


class Tail:
    """The complete records of a trace file that is still being written (the header skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._lines = 0
        self.records: list[Record] = []
        self._training: list[Record] = []

    def read(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for raw in lines:
            self._lines += 1
            if self._lines == 1:
                continue  # the header
            try:
                record = Record.from_json(json.loads(raw), self._lines)
            except ValueError:
                continue  # not a record: the final comparison says what it is
            self.records.append(record)
            if record.kind in TRAINING:
                self._training.append(record)

    def training(self) -> list[Record]:
        return self._training


def _same(a: Record, b: Record) -> bool:
    x, y = a.to_json(), b.to_json()
    return x == y


class Watcher:
    """Started by ``run_many`` with the runs' directories; stops them through ``live``."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self.diverged: tuple[str, int] | None = None  # (trace file name, training record index)
        self.cut: int | None = None  # --time: the records run 1 had written after `seconds`
        self.stopped = False  # the watcher stopped the runs (a divergence, or the time was up)
        self.compared = 0
        self._upto: dict[tuple[str, int], int] = {}  # (file, run): the records already compared
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, live: Live, rundirs: list[Path], started: float) -> None:
        self._thread = threading.Thread(target=self._loop, args=(live, rundirs, started), daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self, live: Live, rundirs: list[Path], started: float) -> None:
        tails: dict[tuple[int, str], Tail] = {}
        while not self._done.wait(POLL_S):
            for i, d in enumerate(rundirs):
                for path in [d / "trace.jsonl", *sorted(d.glob("trace.rank*.jsonl"))] if d.is_dir() else []:
                    tails.setdefault((i, path.name), Tail(path)).read()
            if self._compare(tails, len(rundirs)) or self._time_up(tails, started):
                self.stopped = True
                live.stop()
                return

    def _compare(self, tails: dict[tuple[int, str], Tail], runs: int) -> bool:
        names = {name for i, name in tails if i == 0}
        compared = 0
        for name in sorted(names):
            base = tails[(0, name)].training()
            for k in range(1, runs):
                other = tails.get((k, name))
                if other is None:
                    continue
                mine = other.training()
                n = min(len(base), len(mine))
                for j in range(self._upto.get((name, k), 0), n):  # only what came since the last look
                    if not _same(base[j], mine[j]):
                        self.diverged = (name, j)
                        return True
                self._upto[(name, k)] = n
                compared = max(compared, n)
        self.compared = compared
        return False

    def _time_up(self, tails: dict[tuple[int, str], Tail], started: float) -> bool:
        if self.seconds is None:
            return False
        if self.cut is None:
            if time.monotonic() - started < self.seconds:
                return False
            first = tails.get((0, "trace.jsonl"))
            done = len(first.training()) if first is not None else 0
            if done == 0:
                return False  # still starting (imports): the bound begins with its first record
            self.cut = done
        # every run has reached the cut (or ended: check sees a short trace as "missing")
        return all(len(t.training()) >= self.cut for (i, name), t in tails.items() if name == "trace.jsonl")


def first_training(trace: Trace, n: int) -> Trace:
    """A stopped run's trace: its first ``n`` training records (0: all it wrote), no exit records."""
    records = [r for r in trace.records if r.kind in TRAINING]
    return dataclasses.replace(trace, records=tuple(records[:n] if n else records))


def limit_of(
    steps: int | None, epochs: int | None, seconds: float | None, watcher: Watcher
) -> dict[str, Any] | None:
    if steps is not None:
        return {"steps": steps}
    if epochs is not None:
        return {"epochs": epochs}
    if seconds is not None and watcher.cut is not None:
        return {"seconds": seconds, "records": watcher.cut}
    return None


def no_verdict_if_unconfirmed(watcher: Watcher, divergence: object) -> None:
    """The live comparison stopped the runs at a difference the final comparison does not find:
    never a verdict on that (the runs' partial traces are all there is)."""
    if watcher.diverged is not None and divergence is None:
        from seedlock.errors import SeedlockError

        name, index = watcher.diverged
        raise SeedlockError(
            f"no verdict: the runs were stopped when {name}'s training record {index + 1} looked different "
            "as it was written, but compared in full their traces agree; rerun the check"
        )


def describe_limit(limit: dict[str, Any] | None) -> str:
    """``"for the first 50 steps"``: what a limited REPRODUCIBLE is about.

    >>> describe_limit({"steps": 50}), describe_limit({"seconds": 30.0, "records": 12}), describe_limit(None)
    (' for the first 50 steps', ' for the first 30 s of run 1 (its first 12 training records)', '')
    """
    if not limit:
        return ""
    if "seconds" in limit:
        return (
            f" for the first {limit['seconds']:g} s of run 1 (its first {limit['records']} training records)"
        )
    (unit, n), *_ = limit.items()
    return f" for the first {n} {unit}"


def stop_env(steps: int | None, epochs: int | None) -> dict[str, str]:
    """The runs' variable that makes them exit after N steps or epochs (:mod:`seedlock.trace.instrument`)."""
    from seedlock.config import ENV_STOP_AFTER

    if steps is not None:
        return {ENV_STOP_AFTER: f"step:{steps}"}
    if epochs is not None:
        return {ENV_STOP_AFTER: f"epoch:{epochs}"}
    return {}


def validate(steps: int | None, epochs: int | None, seconds: float | None) -> None:
    from seedlock.errors import SeedlockError

    given = [f for f, v in (("--steps", steps), ("--epochs", epochs), ("--time", seconds)) if v is not None]
    if len(given) > 1:
        raise SeedlockError(f"{' and '.join(given)} both bound the runs; pass one of them")
    for flag, v in (("--steps", steps), ("--epochs", epochs)):
        if v is not None and v < 1:
            raise SeedlockError(f"{flag} must be at least 1, got {v}; pass e.g. {flag} 50")
    if seconds is not None and not seconds > 0:
        raise SeedlockError(
            f"--time must be a positive number of seconds, got {seconds:g}; pass e.g. --time 60"
        )


def unused(traces: list[Trace | None], steps: int | None) -> str | None:
    """Why a bound gives no verdict: --steps on a script that writes no step records."""
    if steps is not None and not any(r.kind == "step" for t in traces if t is not None for r in t):
        return (
            "no verdict: --steps counts optimizer steps, and the runs wrote no step records (a torch "
            "optimizer's steps are recorded; for Keras, bound the runs with --epochs N)"
        )
    return None
