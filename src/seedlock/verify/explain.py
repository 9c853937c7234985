"""``check --explain``: a fix that was tried, not only guessed.

When the runs differ, run the check again under each setting seedlock can change, cheapest
first, and report the first that makes the runs bitwise equal, with what it costs in time:
``verified fix: seedlock run --threads 1 (+38 % time)``. Each candidate spends three runs (two
equal runs of a race are too easily luck); how many at most is said before they are spent. Not
tried when a cause was seen at run time (OS entropy, the clock, a pool task on another worker):
no setting of seedlock's fixes those, and equal runs under one would be luck.

It runs on its own after a NOT whose first cause is not certain (not seen at run time) when the
script is short: each checked run took at most ``$SEEDLOCK_EXPLAIN`` seconds (default
:data:`BOUND_S`; 0: never), so the extra runs cost at most a few times that. ``--explain`` forces
it on a longer script, ``--no-explain`` turns it off; a longer one is told how to ask.

>>> [c.flag for c in candidates(plain=False)]
['--threads 1', '--strict', '--threads 1 --strict']
>>> candidates(plain=True)[0].flag
'(without --plain)'
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from seedlock.config import ENV_EXPLAIN
from seedlock.errors import SeedlockError
from seedlock.verify.entropy import TIMING_RANK

if TYPE_CHECKING:
    from seedlock.verify.verdict import CheckResult


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
# Automatic after a NOT when every checked run took at most this long: 9 extra runs at most, of
# 10 s each at most (a tiny torch script's run on 2 cores: 3.4 s alone, 4.5-7 s four at a time).
BOUND_S = 10.0
# An automatic rerun still going after this many times the slowest checked run (and 30 s) is
# stopped: that setting gets no verdict, and what was said before spending holds.
AUTO_TIMEOUT_FACTOR = 4


def bound_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``$SEEDLOCK_EXPLAIN``: the longest run (seconds) after which check explains on its own; 0: never.

    >>> bound_from_env({}), bound_from_env({"SEEDLOCK_EXPLAIN": "0"}), bound_from_env({"SEEDLOCK_EXPLAIN": "2.5"})
    (10.0, 0.0, 2.5)
    """
    raw = (os.environ if environ is None else environ).get(ENV_EXPLAIN, "").strip()
    if not raw:
        return BOUND_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise SeedlockError(
            f"${ENV_EXPLAIN}={raw!r} is not a number of seconds: set it to the longest run after which check "
            f"explains a NOT REPRODUCIBLE on its own (default {BOUND_S:g}), or 0 for never"
        )
    return value


def certain(result: CheckResult) -> bool:
    """Whether the first cause is certain: seen at run time (a draw, a differing seed, a pool task
    that moved) or checked (a printed time that --ignore-stdout makes equal), not guessed."""
    first = result.causes[0] if result.causes else None
    # A draw that only times a sleep perturbs the order it ranks below: it is no certain cause.
    return first is not None and first.source in ("runtime", "stdout") and first.rank != TIMING_RANK


def _slowest(result: CheckResult) -> float:
    return max((r.seconds for r in result.results), default=0.0)


def not_tried(result: CheckResult) -> str | None:
    """Why no setting is tried: a cause the runs showed at run time that only the code can fix (an
    unseeded generator, which --strict fixes, is still tried)."""
    seen = next(
        (c for c in result.causes if c.source == "runtime" and c.fixable == "code" and c.rank != TIMING_RANK),
        None,
    )
    if seen is None:
        return None
    return (
        "  --explain: no setting tried: a cause was seen at run time "
        f"({seen.message.split(':')[0]}), and no setting of seedlock's fixes it: the code must change"
    )


def explain(
    result: CheckResult,
    recheck: Callable[..., CheckResult],
    workdir: Path,
    say: Callable[[str], None],
    why: str = "--explain: ",
    timeout: float | None = None,
    wall: float | None = None,
    ours: bool = False,
) -> list[Tried]:
    """Try each candidate with ``recheck(**changes, runs=..., workdir=...)`` until one makes the
    runs equal, having said how many runs that may spend (``why``: what the line starts with;
    ``timeout``: each rerun's, for the automatic explanation, ``ours`` when the user gave none
    that low; ``wall``: how long the check took, from which the time is estimated)."""
    if not_tried(result) is not None:
        return []
    todo = candidates(result.plain)
    most = RUNS * len(todo)
    each = wall * max(1.0, RUNS / max(1, result.runs)) if wall else RUNS * _slowest(result)
    say(
        f"seedlock: {why}will spend up to {most} extra runs (trying up to {len(todo)} setting(s), {RUNS} runs "
        f"each, until one makes the runs equal; about {len(todo) * each:.0f} s if every setting is tried)"
    )
    base = _seconds(result)
    tried: list[Tried] = []
    limit = {"timeout": timeout} if timeout is not None else {}
    for i, cand in enumerate(todo, 1):
        try:
            again = recheck(**cand.changes, **limit, runs=RUNS, workdir=workdir / f"explain-{i}")
        except SeedlockError as exc:
            note = str(exc).splitlines()[0]
            if ours and timeout is not None:  # the user gave no such --timeout: say whose limit it was
                note = note.replace(
                    f"after --timeout {timeout:g} s",
                    f"after {timeout:g} s (an automatic explanation's limit: {AUTO_TIMEOUT_FACTOR}x the slowest "
                    "run, at least 30 s)",
                )
            tried.append(Tried(cand.flag, None, None, note))
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
    if any(t.equal is None for t in tried):  # a setting that gave no verdict proves nothing
        out = [
            "  --explain: no setting tried made the runs equal, but some gave no verdict, so whether one would is not known:"
        ]
    else:
        out = [
            "  --explain: no setting tried made the runs equal; the code must change (see the causes above):"
        ]
    for t in tried:
        out.append(f"    {t.flag}: " + ("still differs" if t.equal is False else f"no verdict ({t.note})"))
    return out


def after_not(
    result: CheckResult,
    asked: bool | None,
    bound: float,
    recheck: Callable[..., CheckResult],
    say: Callable[[str], None],
    timeout: float | None = None,
    wall: float | None = None,
) -> list[str]:
    """After a NOT REPRODUCIBLE: explain when asked (``--explain``: True), or on its own when the
    first cause is not certain and every run took at most ``bound`` seconds; the lines to print
    after the causes. ``asked`` False (``--no-explain``) or a bound of 0: nothing. ``timeout``:
    the user's, for each run; an automatic rerun gets at most a few times the slowest run.
    ``wall``: how long the check took (the estimate said before spending)."""
    if asked is False or (asked is None and (bound <= 0 or certain(result))):
        return []
    skipped = not_tried(result)
    if skipped is not None:  # the cause seen at run time says what to change
        if asked:
            result.explained = []
            return [skipped]
        return []
    workdir = Path(result.workdir)
    if asked:
        found = explain(result, recheck, workdir, say, wall=wall)
    else:
        slowest = _slowest(result)
        todo = len(candidates(result.plain))
        ask = (
            f"`seedlock check --explain ...` tries {todo} setting(s), {RUNS} runs each, and says which makes "
            "the runs equal"
        )
        if result.stopped_early:
            return [f"  the runs were stopped at the divergence, so how long one takes is not known: {ask}"]
        if slowest > bound:
            return [
                f"  a run took {slowest:.1f} s, over the {bound:g} s within which check explains a NOT on its "
                f"own (${ENV_EXPLAIN}): {ask}"
            ]
        why = (
            f"no cause is certain, and each run took at most {slowest:.1f} s (within {bound:g} s: "
            f"${ENV_EXPLAIN}; --no-explain skips this), so check explains on its own: "
        )
        limit = max(30.0, AUTO_TIMEOUT_FACTOR * slowest)
        ours = timeout is None or limit < timeout
        found = explain(
            result, recheck, workdir, say, why=why, timeout=min(limit, timeout or limit), wall=wall, ours=ours
        )
    result.explained = [t.to_json() for t in found]
    return describe(found)
