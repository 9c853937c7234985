"""``check --explain``: a fix that was tried, not only guessed.

When the runs differ, run the check again under each setting seedlock can change, cheapest
first, and report the first that makes the runs bitwise equal, with what it costs in time:
``verified fix: seedlock run --threads 1 (+38 % time)``. Each candidate spends three runs (two
equal runs of a race are too easily luck); how many at most is said before they are spent. Not
tried when a cause was seen at run time (OS entropy, the clock, a pool task on another worker):
no setting of seedlock's fixes those, and equal runs under one would be luck.

>>> [c.flag for c in candidates(plain=False)]
['--threads 1', '--strict', '--threads 1 --strict']
>>> candidates(plain=True)[0].flag
'(without --plain)'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from seedlock.errors import SeedlockError

if TYPE_CHECKING:
    from seedlock.verify.check import CheckResult


class Candidate(NamedTuple):
    flag: str  # as the user would pass it to `seedlock run`
    changes: dict[str, Any]  # check()'s keyword arguments that make it so
    why: str


def candidates(plain: bool) -> list[Candidate]:
    """What to try, in order: seedlock's seeding itself for a --plain check; then one thread per
    framework (thread pools reduce in the order their threads finish), the unseeded RNGs derived
    from the seed (--strict), and both."""
    if plain:
        return [Candidate("(without --plain)", {"plain": False}, "seedlock's seeding")]
    return [
        Candidate("--threads 1", {"threads": 1}, "one thread per framework and OpenMP"),
        Candidate("--strict", {"strict": True}, "unseeded RNGs derived from the master seed"),
        Candidate("--threads 1 --strict", {"threads": 1, "strict": True}, "both"),
    ]


@dataclasses.dataclass
class Tried:
    flag: str
    equal: bool | None  # None: no verdict (a crash, nothing to compare)
    cost: float | None  # the runs' mean time over the checked runs', minus 1
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _seconds(result: CheckResult) -> float:
    return sum(r.seconds for r in result.results) / max(1, len(result.results))


RUNS = 3


def not_tried(result: CheckResult) -> str | None:
    """Why no setting is tried: a cause the runs showed at run time that only the code can fix (an
    unseeded generator, which --strict fixes, is still tried)."""
    seen = next((c for c in result.causes if c.source == "runtime" and c.fixable == "code"), None)
    if seen is None:
        return None
    return (
        "  --explain: no setting tried: the first cause was seen at run time "
        f"({seen.message.split(':')[0]}), and no setting of seedlock's fixes it: the code must change"
    )


def explain(
    result: CheckResult, recheck: Callable[..., CheckResult], workdir: Path, say: Callable[[str], None]
) -> list[Tried]:
    """Try each candidate with ``recheck(**changes, runs=..., workdir=...)`` until one makes the runs equal."""
    if not_tried(result) is not None:
        return []
    todo = candidates(result.plain)
    say(
        f"seedlock: --explain: trying up to {len(todo)} setting(s), {RUNS} runs each ({RUNS * len(todo)} runs at most)"
    )
    base = _seconds(result)
    tried: list[Tried] = []
    for i, cand in enumerate(todo, 1):
        try:
            again = recheck(**cand.changes, runs=RUNS, workdir=workdir / f"explain-{i}")
        except SeedlockError as exc:
            tried.append(Tried(cand.flag, None, None, str(exc).splitlines()[0]))
            continue
        cost = _seconds(again) / base - 1 if base > 0 else None
        tried.append(Tried(cand.flag, again.reproducible, cost, cand.why))
        if again.reproducible:
            break
    return tried


def describe(tried: list[Tried]) -> list[str]:
    """The lines check prints: the verified fix, or what was tried in vain."""
    fixed = next((t for t in tried if t.equal), None)
    if fixed is not None:
        if fixed.cost is None:
            cost = ""
        elif fixed.cost < 0.05:  # one pair of runs against another: small differences are noise
            cost = " (no measurable cost in time)"
        else:
            cost = f" ({fixed.cost:+.0%} time)"
        run = "seedlock run" if fixed.flag.startswith("(") else f"seedlock run {fixed.flag}"
        return [f"  verified fix: `{run}`{cost}: {RUNS} runs were bitwise equal with {fixed.note}"]
    out = ["  --explain: no setting tried made the runs equal; the code must change (see the causes above):"]
    for t in tried:
        out.append(f"    {t.flag}: " + ("still differs" if t.equal is False else f"no verdict ({t.note})"))
    return out
