"""Causes that are true: what the runs drew at run time (:mod:`seedlock.audit.entropy`), ranked above
what the static scan guesses, and the set-order cause told apart by what seedlock fixed.

Each run of ``check`` appends its entropy draws, unseeded RNGs and seeds to ``RUNDIR/entropy.jsonl``.
A draw recorded at file:line is the first cause of a divergence; a seed that differed between the
runs is too. A draw whose value only times the code (``time.sleep(jitter.random())``:
:mod:`seedlock.doctor.static.timing`) holds no result: it changes the order threads finish in,
and ranks below that order. A clock seed (SL104) withholds the verdict only when its line ran.
Every cause says who fixes it: seedlock (a flag) or the code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from seedlock.verify.causes import Cause, rank

if TYPE_CHECKING:
    from seedlock.verify.runner import RunResult

RUNTIME_RANK = -4  # above every static finding, --plain (-1) and SL505 (-2): it was seen to happen
# A draw that only times a sleep: below the orders it perturbs (SL203 2, SL201 3) and every source of
# values above them, which is where a result that differs took its difference from.
TIMING_RANK = 4
TIMING_FIX = (
    "make the results independent of the order things finish in (the order cause: gather them in "
    "submission order, each in its own slot, or sorted); a seeded jitter, random.Random(seedlock.derive("
    "'jitter')), makes the sleeps repeat, not the OS scheduler"
)
IDENTITY_FIX = (
    "iterate sorted(the_set, key=lambda o: o.name), by a value of the objects', or keep them in a list or "
    "a dict (insertion order); seedlock cannot fix an order of memory addresses"
)
_STRICT = "--strict (seedlock check --strict, seedlock run --strict) seeds it from its call site"
# What the draw was, and the seeded code that replaces it (the code must change: no seed reaches these).
DRAWS: dict[str, tuple[str, str]] = {
    "uuid.uuid4": (
        "a random UUID (OS entropy)",
        "make the ids from a seeded generator: ids = random.Random(seedlock.derive('ids')) once, then "
        "uuid.UUID(int=ids.getrandbits(128), version=4)",
    ),
    "uuid.uuid1": (
        "a UUID from the clock and a random clock sequence",
        "ids = random.Random(seedlock.derive('ids')) once, then uuid.UUID(int=ids.getrandbits(128), version=4)",
    ),
    "os.urandom": ("OS entropy", "random.Random(seedlock.derive('name')).randbytes(n)"),
    "os.getrandom": ("OS entropy", "random.Random(seedlock.derive('name')).randbytes(n)"),
    "random.SystemRandom": (
        "OS entropy (SystemRandom ignores seeds)",
        "random.Random(seedlock.derive('name')), which has the same methods",
    ),
}
SECRETS = (
    "OS entropy (secrets is for security tokens)",
    "for a value the computation uses, draw it from random.Random(seedlock.derive('name')): "
    "token_hex(n) -> .randbytes(n).hex(), randbelow(n) -> .randrange(n), choice(s) -> .choice(s)",
)
# SL104's calls whose runs the record sees (seedlock.audit.entropy wraps them): absent, the line did not run.
WATCHED = {
    "random.seed",
    "random.Random",
    "np.random.seed",
    "numpy.random.seed",
    "np.random.default_rng",
    "numpy.random.default_rng",
    "default_rng",
    "Random",
}


def read(results: list[RunResult]) -> list[list[dict[str, Any]]] | None:
    """Each run's records; None when a run kept none (the record was not installed)."""
    runs = []
    for r in results:
        path = r.trace.with_name("entropy.jsonl")
        try:
            text = path.read_text()
        except OSError:
            return None
        recs = []
        for line in text.splitlines():
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:  # a run killed mid-line
                continue
        runs.append(recs)
    return runs


def _key(path: str, line: int | str) -> tuple[str, int]:
    return os.path.realpath(path), int(line)


def _location(loc: str | None) -> tuple[str, int] | None:
    if not loc or ":" not in loc:
        return None
    path, _, line = loc.rpartition(":")
    return _key(path, line) if line.isdigit() else None


def runtime_causes(runs: list[list[dict[str, Any]]]) -> list[Cause]:
    """The draws of OS entropy and unseeded RNGs the runs made, and seeds that differed between them."""
    out: dict[tuple[str, str, int], Cause] = {}
    for recs in runs:
        for rec in recs:
            where = f"{rec.get('path')}:{rec.get('line')}"
            key = (str(rec.get("source")), str(rec.get("path")), int(rec.get("line") or 0))
            kind = rec.get("kind")
            if kind in ("unseeded", "entropy") and key not in out and (timed := _timing(rec)) is not None:
                out[key] = timed
            elif kind == "unseeded" and key not in out:
                out[key] = Cause(
                    "runtime",
                    RUNTIME_RANK,
                    f"{rec.get('what')} made an RNG without a seed at run time: it draws OS entropy, "
                    "different numbers in every run",
                    f"{_STRICT}; or pass a seed: seedlock.rng('name'), random.Random(seedlock.derive('name'))",
                    where,
                    fixable="seedlock",
                )
            elif kind == "entropy" and key not in out:
                source = str(rec.get("source"))
                what, fix = (
                    SECRETS if source.startswith("secrets.") else DRAWS.get(source, ("OS entropy", ""))
                )
                out[key] = Cause(
                    "runtime",
                    RUNTIME_RANK,
                    f"{rec.get('what')} drew {what} at run time ({source}): different in every run",
                    fix or "draw it from random.Random(seedlock.derive('name'))",
                    where,
                    fixable="code",
                )
    out.update(_differing(_seed_values(runs)))
    return list(out.values())


def seeds_that_differed(runs: list[list[dict[str, Any]]]) -> list[Cause]:
    """The seeds the user's code gave at a line that seeds once per run, not the same in every run
    (the clock, the pid)."""
    values = _seed_values(runs)
    # Only a line that gave one seed per run (a run's seed): a line seeding each task from its input
    # gives many, and a pool's worker may end before its last records are written.
    single = {k: v for k, v in values.items() if all(len(set(per)) == 1 for per in v)}
    return list(_differing(single).values())


def _seed_values(runs: list[list[dict[str, Any]]]) -> dict[tuple[str, str, int], list[list[str]]]:
    """(source, path, line) of each seeding call -> the seeds it was given, run by run."""
    values: dict[tuple[str, str, int], list[list[str]]] = {}
    for n, recs in enumerate(runs):
        for rec in recs:
            if rec.get("kind") == "seed":
                key = (str(rec.get("source")), str(rec.get("path")), int(rec.get("line") or 0))
                values.setdefault(key, [[] for _ in runs])[n].append(str(rec.get("value")))
    return values


def _differing(values: dict[tuple[str, str, int], list[list[str]]]) -> dict[tuple[str, str, int], Cause]:
    out: dict[tuple[str, str, int], Cause] = {}
    for key, per_run in values.items():
        seen = [sorted(v) for v in per_run]
        differ = next((i for i, v in enumerate(seen[1:], 2) if v != seen[0]), None)
        if differ is None:
            continue
        source, path, line = key
        a, b = ", ".join(seen[0]) or "none", ", ".join(seen[differ - 1]) or "none"
        out[key] = Cause(
            "runtime",
            RUNTIME_RANK,
            f"{source}() was given a different seed in each run ({a} in run 1, {b} in run {differ}): "
            "a seed from the clock, the process id or OS entropy",
            "use a fixed seed: seedlock.derive('name') (from the master seed: seedlock run --seed N)",
            f"{path}:{line}",
            fixable="code",
        )
    return out


def _timing(rec: dict[str, Any]) -> Cause | None:
    """The cause for a draw whose value, in the file as written, goes only to a sleep; None for
    one that may reach a result."""
    from seedlock.doctor.static.timing import only_timing_in

    path, line, what = str(rec.get("path")), int(rec.get("line") or 0), rec.get("what")
    sleep = only_timing_in(path, line, what if isinstance(what, str) else None)
    if sleep is None:
        return None
    source = str(rec.get("source"))
    drew = "made an RNG without a seed" if rec.get("kind") == "unseeded" else f"drew {_what(source)}"
    return Cause(
        "runtime",
        TIMING_RANK,
        f"{what} {drew} at run time ({source}), and its value goes only to {sleep}(): it changes how long "
        "the code waits, so the order threads or tasks finish in, not a value a result holds; a result "
        "that differs took its difference through that order",
        TIMING_FIX,
        f"{path}:{line}",
        fixable="code",
    )


def _what(source: str) -> str:
    return (SECRETS if source.startswith("secrets.") else DRAWS.get(source, ("OS entropy", "")))[0]


def timed_static(c: Cause) -> Cause:
    """SL101 at a generator whose draws go only to a sleep: it times the code, it holds no result."""
    from seedlock.doctor.static.timing import only_timing_in

    at = c.location.rpartition(":") if c.rule == "SL101" and c.location else None
    sleep = only_timing_in(at[0], int(at[2])) if at and at[2].isdigit() else None
    if sleep is None:
        return c
    return dataclasses.replace(
        c,
        rank=TIMING_RANK,
        message=f"{c.message}; its draws go only to {sleep}(): they time the code, no result holds them",
        fix=TIMING_FIX,
        fixable="code",
    )


def _set_order(cause: Cause, plain: bool) -> Cause:
    """SL201 as it is: under seedlock every run has one hash seed, so a set of str, bytes or numbers
    keeps its order; one whose order still changed holds objects hashed by identity (an address).
    When the scan saw what the set holds (:mod:`seedlock.doctor.static.identity`), it says so."""
    from seedlock.doctor.static.identity import IDENTITY

    if IDENTITY in cause.message:
        return dataclasses.replace(cause, fix=IDENTITY_FIX, fixable="code")
    if plain:
        return Cause(
            cause.source,
            cause.rank,
            f"{cause.message} (PYTHONHASHSEED) for a set of str or bytes, and with the memory addresses for "
            "a set of objects hashed by identity",
            "drop --plain: seedlock fixes PYTHONHASHSEED, and so the order of a set of str or bytes; a set of "
            "objects hashed by identity needs sorted(the_set, key=...) by a value of theirs",
            cause.location,
            cause.rule,
            "seedlock",
        )
    return Cause(
        cause.source,
        cause.rank,
        f"{cause.message.split(':')[0]}: the runs shared one hash seed (seedlock fixes PYTHONHASHSEED), which keeps the "
        "order of a set of str, bytes or numbers; if this set is what differs, it holds objects hashed by "
        "identity (the default __hash__: their memory address), whose order changes in every run",
        IDENTITY_FIX,
        cause.location,
        cause.rule,
        "code",
    )


def _fixable(c: Cause) -> str | None:
    if c.fixable is not None:
        return c.fixable
    if c.source in ("plain", "stdout") or c.rule in ("SL101", "SL102", "SL103", "SL505"):
        return "seedlock"  # seeding, --strict, --ignore-stdout
    return "code" if c.source in ("static", "audit", "runtime") else None


def true_causes(found: list[Cause], results: list[RunResult], plain: bool) -> list[Cause]:
    """``found`` (check's causes) with the runtime record's first, the static findings at the same
    lines dropped (the record says more), SL201 told apart, and who fixes each."""
    runs = read(results)
    runtime = runtime_causes(runs) if runs else []
    at = {_location(c.location): i for i, c in enumerate(runtime)}
    out = list(runtime)
    for c in found:
        if c.source == "static" and _location(c.location) in at:  # the record says it ran; the rule says why
            i = at[_location(c.location)]
            said = f"{out[i].message} ({c.rule}: {c.message})" if c.rule == "SL104" else out[i].message
            out[i] = dataclasses.replace(
                out[i], message=said, rule=out[i].rule or c.rule
            )  # where it came from
            continue
        if c.rule == "SL201":
            c = _set_order(c, plain)
        out.append(timed_static(c))
    return rank([c if c.fixable else _with_fixable(c) for c in out])


def _with_fixable(c: Cause) -> Cause:
    return Cause(c.source, c.rank, c.message, c.fix, c.location, c.rule, _fixable(c))


def clock_seeds_that_ran(hits: list[Cause], results: list[RunResult]) -> list[Cause]:
    """The SL104 hits that withhold a verdict: those whose line the record saw run, and those the
    record cannot see (a call it does not watch: ``tf.random.set_seed``, ``seed=`` keywords)."""
    runs = read(results)
    if runs is None:
        return hits
    ran = {
        _key(str(r.get("path")), r.get("line") or 0) for recs in runs for r in recs if r.get("kind") == "seed"
    }
    return [h for h in hits if h.message.split("(")[0].strip() not in WATCHED or _location(h.location) in ran]


def drawn(results: list[RunResult]) -> list[dict[str, str]]:
    """What the record saw drawn that the master seed did not fix, for equal runs: the draw did not
    reach what was compared, or agreed by chance, which a REPRODUCIBLE must say rather than hide.
    (Check's runs 1 and 2 draw mirror images, :mod:`seedlock.audit.draws`: a result taking bits of
    a draw differs every time, but a hash or a symmetric function of it may still agree.)"""
    runs = read(results)
    return [
        {
            "location": str(c.location),
            "message": _drew(c.message) + (" (--strict seeds it)" if c.fixable == "seedlock" else ""),
        }
        for c in runtime_causes(runs or [])
    ]


def identity_sets(static: list[Cause]) -> list[dict[str, str]]:
    """The scan's sets of objects hashed by identity, for equal runs: ordered by memory address,
    which a small set often repeats by chance, so equal runs prove little about them."""
    from seedlock.doctor.static.identity import IDENTITY

    return [
        {"location": str(c.location), "message": c.message}
        for c in static
        if c.rule == "SL201" and IDENTITY in c.message
    ]


def _drew(message: str) -> str:
    """A cause's message up to what it drew ("uuid.uuid4() drew a random UUID ... at run time"), not
    its claim that the runs differ."""
    head, at, _ = message.partition(" at run time")
    return head + at
