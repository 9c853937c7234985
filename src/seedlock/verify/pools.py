"""Pool tasks that drew random numbers: the cause of a divergence, or a reason for no verdict.

Each worker of a pool is seeded from its identity, so a task that draws from its worker's RNG
gets numbers that depend on which worker ran it, and after which other tasks: the OS scheduler's
choice. From the runs' ``pools.jsonl`` (:mod:`seedlock.launch.pools`): when the runs differ and
their pools gave such tasks to other workers, that is the cause; when the runs are equal, their
equality proves nothing: the scheduler may have handed out the tasks alike, or to workers seeded
alike (a pool initializer), by luck.

>>> a = [{"kind": "pool", "worker": "1", "job": 0, "i": 0, "drew": True},
...      {"kind": "pool", "worker": "2", "job": 0, "i": 1, "drew": True}]
>>> b = [dict(a[0], worker="2"), dict(a[1], worker="2")]  # task 0 on worker 2, then task 1 after it
>>> moved(a, b)
[('pool', 0, 0), ('pool', 0, 1)]
"""

from __future__ import annotations

from typing import Any

from seedlock.errors import SeedlockError
from seedlock.launch.pools import LOG_NAME
from seedlock.verify.causes import Cause
from seedlock.verify.runner import RunResult, read_jsonl

Key = tuple[str, Any, Any]
FIX = (
    "seed each task from its input, not its worker: e.g. rng = np.random.default_rng("
    "seedlock.derive('task', rank=i)) inside the task, or pass each task its own seed"
)


def records(result: RunResult) -> list[dict[str, Any]]:
    """A run's task records; a line cut by a kill is skipped."""
    return read_jsonl(result.trace.with_name(LOG_NAME))


def _tasks(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in recs if "pool" not in r]


def _placed(recs: list[dict[str, Any]]) -> dict[Key, list[str]]:
    """Each task's worker and the tasks that worker ran before it: what its draws depend on."""
    before: dict[str, list[Key]] = {}
    out: dict[Key, list[str]] = {}
    for r in _tasks(recs):
        key = (r["kind"], r["job"], r["i"])
        done = before.setdefault(r["worker"], [])
        out[key] = [r["worker"], *(str(k) for k in done)]
        done.append(key)
    return out


def moved(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[Key]:
    """The tasks that drew random numbers and ran on another worker, or after other tasks, in ``b``."""
    drew = {(r["kind"], r["job"], r["i"]) for r in _tasks(a + b) if r["drew"]}
    pa, pb = _placed(a), _placed(b)
    return sorted((k for k in drew if pa.get(k) != pb.get(k)), key=str)


def _shared(recs: list[dict[str, Any]]) -> bool:
    """Whether tasks that drew ran in a pool of more than one worker (else nothing can move): a
    pool made with room for several, even if one worker happened to take every task."""
    tasks = _tasks(recs)
    drew = {r["kind"] for r in tasks if r["drew"]}
    sizes = [r["pool"] for r in recs if "pool" in r and r["kind"] in drew]
    return any(n > 1 for n in sizes) or len({r["worker"] for r in tasks if r["kind"] in drew}) > 1


def _name(key: Key) -> str:
    kind, job, i = key
    what = "Pool" if kind == "pool" else "ProcessPoolExecutor"
    return f"{what} task {job}" + (f" (chunk {i})" if i is not None else "")


def cause(results: list[RunResult]) -> Cause | None:
    """The pool cause of a divergence between run 1 and another run, if tasks that drew moved."""
    return cause_of([records(r) for r in results])


def cause_of(runs: list[list[dict[str, Any]]]) -> Cause | None:
    for n, other in enumerate(runs[1:], start=2):
        keys = moved(runs[0], other)
        if keys:
            return Cause(
                "runtime",
                0,
                f"{len(keys)} process-pool task(s) drew random numbers and ran on another worker (or after "
                f"other tasks) in run {n} than in run 1, first {_name(keys[0])}: each worker is "
                "seeded by its identity, and which worker takes which task is the OS scheduler's choice",
                FIX,
            )
    return None


def no_verdict_if_luck(results: list[RunResult]) -> None:
    """Equal runs prove nothing when tasks drew in a shared pool and the scheduler happened to
    hand them out alike: another run may hand them out otherwise."""
    luck([records(r) for r in results])


def luck(runs: list[list[dict[str, Any]]]) -> None:
    first = runs[0]
    if not _shared(first):
        return
    n = sum(r["drew"] for r in _tasks(first))
    raise SeedlockError(
        f"no verdict: the runs were bitwise equal, but {n} process-pool task(s) drew random numbers from "
        "their worker's RNG in a pool of several workers, and which worker takes which task (after which "
        "others) is the scheduler's choice: the runs may have matched by luck. Make the tasks independent "
        f"of their worker: {FIX}"
    )
