"""The verdicts ``seedlock check`` refuses to give, each a :class:`~seedlock.errors.SeedlockError`:
nothing to compare, equal runs that prove nothing (a seed from the clock), stdout that differs
only in which process printed first, and digests no two runs can be compared by. (The others
sit with what they read: ``live``, ``pools``, ``unseen``.)"""

from __future__ import annotations

import re

from seedlock.errors import SeedlockError
from seedlock.verify import causes as causes_mod
from seedlock.verify import entropy
from seedlock.verify.divergence import compared_lines
from seedlock.verify.runner import RunResult
from seedlock.verify.verdict import RunDivergence


def no_verdict_if_nothing_compared(records: int, first: RunResult) -> None:
    """Equal runs that recorded nothing and printed nothing: nothing to compare is never a verdict."""
    if records == 0 and not first.stdout.strip():
        raise SeedlockError(
            "nothing to compare: the script printed nothing and trained no model seedlock could see; "
            "print a result, or record one with seedlock.trace.record(step, name=array)"
        )


def no_verdict_if_clock_seeded(static: list[causes_mod.Cause], results: list[RunResult]) -> None:
    """Equal runs of a script seeded from the clock prove nothing: runs an hour (or a day) apart
    would differ. SL104 finds such seeds (time, pid, entropy) in the scan's findings ``static``;
    its hits whose line ran leave check with no verdict."""
    hits = [c for c in static if c.rule == "SL104"]
    hits = entropy.clock_seeds_that_ran(hits, results)  # a line in a branch not taken seeds nothing
    if hits:
        raise SeedlockError(
            f"no verdict: the runs were bitwise equal, but {hits[0].location}: {hits[0].message}; where "
            "that line runs, runs at another time give other results. Use a fixed seed (seedlock run --seed N; "
            "seedlock.derive('name') for sub-seeds); if it does not run here (a branch not taken), mark it "
            "`# seedlock: ignore[SL104]`"
        )


def no_verdict_if_seeds_differed(results: list[RunResult]) -> None:
    """Equal runs whose code was given a different seed in each (the record saw it: a seed from the
    clock, the pid, OS entropy, through code the scan cannot follow) prove nothing: they agreed by
    chance, or the seed reaches nothing compared; neither is known."""
    differed = entropy.seeds_that_differed(entropy.read(results) or [])
    if differed:
        c = differed[0]
        raise SeedlockError(
            f"no verdict: the runs were bitwise equal, but {c.location}: {c.message}; equal runs with "
            "different seeds agreed by chance or the seed reaches nothing compared, which is not known. "
            "Use a fixed seed (seedlock run --seed N; seedlock.derive('name') for sub-seeds)"
        )


def no_verdict_if_interleaved(
    results: list[RunResult], ignore: re.Pattern[str] | None, exact: bool, started: int
) -> None:
    """No verdict when stdout differs only in the order of its lines and several processes wrote
    it: which process writes first is the OS's scheduling, not the computation."""
    lines = [sorted(compared_lines(r.stdout, ignore, exact)) for r in results]
    if all(x == lines[0] for x in lines[1:]):
        raise SeedlockError(
            f"no verdict: the runs printed the same stdout lines in another order, and each run had "
            f"{1 + started} processes writing to it, whose order "
            "is the OS's scheduling, not the computation; print from one process (if rank == 0: ...), "
            "or record results with seedlock.log_metric or seedlock.trace.record"
        )


def no_verdict_if_incomparable(divergence: RunDivergence) -> None:
    """Digests by different algorithms (a tensor on a GPU in one run only): no verdict either way."""
    if divergence.trace is not None and divergence.trace.reason == "incomparable":
        raise SeedlockError(
            f"no verdict: runs {divergence.runs[0]} and {divergence.runs[1]} cannot be "
            f"compared: {divergence.summary}"
        )
