"""Why two runs differ: static findings, audit records and environment differences, most likely first."""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One likely reason two runs differ, and the fix to try.

    >>> c = Cause("static", 1, "np.random.default_rng() without a seed", "pass seedlock.rng('name')", "t.py:3", "SL101")
    >>> c.to_json()["location"], sorted(c.to_json())
    ('t.py:3', ['fix', 'fixable', 'location', 'message', 'rank', 'rule', 'source'])
    """

    source: str  # "runtime", "static", "audit", "environment", "plain": what found it
    rank: int  # most likely first: lower ranks first
    message: str
    fix: str | None = None
    location: str | None = None  # "file:line", when known
    rule: str | None = None  # the doctor rule that found it (static causes)
    fixable: str | None = (
        None  # who fixes it: "seedlock" (a flag, seeding) or "code" (the script must change)
    )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "rule": self.rule,
            "rank": self.rank,
            "location": self.location,
            "message": self.message,
            "fix": self.fix,
            "fixable": self.fixable,
        }
        if self.rule is None:
            del out["rule"]
        return out

    def fix_text(self) -> str:
        """The fix as shown, saying who makes it.

        >>> Cause("static", 1, "m", "iterate sorted(s)", fixable="code").fix_text()
        'the code must change: iterate sorted(s)'
        """
        who = {"seedlock": "seedlock fixes it: ", "code": "the code must change: "}.get(
            self.fixable or "", ""
        )
        return who + (self.fix or "")


# Static rules, most likely cause of a run-to-run divergence first. Unseeded entropy and
# order from sets/threads change every run; the others change results across machines or
# only with worker processes or GPUs.
_RULE_RANK = {
    "SL104": 0,
    "SL101": 1,
    "SL102": 1,
    "SL103": 1,
    "SL203": 2,
    "SL201": 3,
    "SL202": 4,
    "SL301": 5,
    "SL302": 5,
    "SL403": 5,
    "SL402": 6,
    "SL502": 6,
    "SL303": 7,
    "SL401": 8,
    "SL503": 9,
    "SL504": 9,
    "SL501": 10,
    # Under --plain, the script's own seeding is all there is: tf.random.set_seed not reaching
    # Keras 3 is then the true cause, above "nothing was seeded" (-1).
    "SL505": -2,
}
_STRICT_RULES = {"SL101", "SL102", "SL103"}
# Rules that cannot be a cause when seedlock seeded the run (it seeds Keras 3 itself).
_PLAIN_ONLY = {"SL505"}


def static_causes(files: list[str], *, plain: bool = False) -> list[Cause]:
    """The static scan's findings as causes; ``plain``: the runs were not seeded by seedlock."""
    from seedlock.doctor.static import scan
    from seedlock.doctor.static.rules_random import IGNORES_SEEDS

    out = []
    for f in scan(files):
        if f.status not in ("warn", "error", "info") or (f.id in _PLAIN_ONLY and not plain):
            continue
        fix, who = f.fix, None
        if f.id in _STRICT_RULES and IGNORES_SEEDS in f.title:  # SystemRandom: --strict leaves it alone
            fix, who = "use random.Random(seedlock.derive('name')), which has the same methods", "code"
        elif f.id in _STRICT_RULES:
            fix = f"{fix} Or run with `seedlock run --strict` / `seedlock check --strict`, which derives it from the master seed."
        out.append(
            Cause(
                "static",
                _RULE_RANK.get(f.id, 20) + (0 if f.status != "info" else 10),
                f.title,
                fix,
                f"{f.file}:{f.line}",
                f.id,
                who,
            )
        )
    return out


def audit_records(paths: list[Path]) -> list[dict[str, Any]]:
    """The runtime audit's records (``--audit``) of every run, once per op, device and line;
    ``count`` is the most any one run saw."""
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for path in paths:
        try:
            body = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for rec in body if isinstance(body, list) else body.get("records", []):
            where = f"{rec.get('path')}:{rec.get('line')}"
            key = (str(rec.get("framework")), str(rec.get("op")), str(rec.get("device")), where)
            seen = merged.setdefault(key, {**rec, "location": where, "count": 0})
            seen["count"] = max(seen["count"], int(rec.get("count") or 0))
    return list(merged.values())


def audit_causes(records: list[dict[str, Any]]) -> list[Cause]:
    """Nondeterministic ops the runtime audit saw, once per op and location."""
    return [
        Cause(
            "audit",
            1,
            f"nondeterministic op {rec.get('op')} ({rec.get('framework')}, {rec.get('device')}) ran "
            f"{rec.get('count')}x",
            rec.get("alternative") or "use a deterministic alternative, or accept the variation",
            rec.get("location"),
        )
        for rec in records
    ]


def environment_causes(manifests: list[Path]) -> list[Cause]:
    """What differs between the runs' environments (should be nothing within one `check`)."""
    from seedlock.doctor import manifest

    loaded = [manifest.load(p) for p in manifests if p.exists()]
    out = []
    for other in loaded[1:]:
        for d in manifest.diff(loaded[0], other):
            out.append(Cause("environment", 0, d["message"], "run both with the same environment"))
    return out


# A time as scripts print them: "1.53s", "12 ms", "0:01:02"; the word before it anchors the regex.
_TIME = re.compile(
    r"(?<![\w.])(?:\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds|min|mins|minutes|h|hours)"
    r"|\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)(?![\w.])"
)


def timing_regex(a: str, b: str) -> str | None:
    """A regex that blanks the printed time where lines ``a`` and ``b`` first differ, if blanking it
    makes them equal: what ``--ignore-stdout`` needs for a line that differs only in a time.

    >>> timing_regex("epoch 1 took 1.53s, loss 0.25", "epoch 1 took 1.61s, loss 0.25")
    'took [0-9.:]+s'
    >>> timing_regex("loss 0.25 took 1s", "loss 0.26 took 1s") is None
    True
    """
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    times = [m for m in _TIME.finditer(a) if m.start() <= start <= m.end()]
    if not times:
        return None
    token = times[0]
    before = a[: token.start()]
    word = before.rstrip().split()[-1:]
    space = before[len(before.rstrip()) :]  # between the word and the time, as printed
    unit = re.sub(r"[\d.:\s]", "", token.group())
    regex = (
        (re.escape(word[0]) + space if word else "")
        + "[0-9.:]+"
        + (" " if " " in token.group() else "")
        + unit
    )
    return regex if re.sub(regex, "", a) == re.sub(regex, "", b) else None  # else more differs


def stdout_timing_cause(line: int, a: str, b: str, regex: str) -> Cause:
    """The cause for a stdout line whose only difference is a printed time (``regex`` from
    :func:`timing_regex`, checked by the caller to make the runs' whole stdout equal)."""
    shown = shlex.quote(regex)
    return Cause(
        "stdout",
        -1,
        f"stdout line {line} differs only in a printed time (e.g. {a!r} vs {b!r}): wall-clock times "
        "differ in every run",
        f"if it is a time, not a result: seedlock check --ignore-stdout {shown} SCRIPT",
    )


def rank(causes: list[Cause]) -> list[Cause]:
    """Most likely first; a stable order for equal ranks."""
    return sorted(causes, key=lambda c: (c.rank, str(c.location)))


def script_files(path: str, module: bool) -> list[str]:
    """The files the static scan reads: the script (or the module's file)."""
    if module:
        import importlib.util

        # The runs start in the current directory, as `python -m` does; this process's sys.path
        # may not have it (the seedlock console script), so look there first.
        if not path.startswith("."):
            base = os.path.join(os.getcwd(), *path.split("."))
            for candidate in (base + ".py", os.path.join(base, "__main__.py")):
                if os.path.isfile(candidate):
                    return [candidate]
        try:
            spec = importlib.util.find_spec(path)
        except (ImportError, ValueError):
            return []
        return [spec.origin] if spec and spec.origin and spec.origin.endswith(".py") else []
    if os.path.isdir(path):
        main = os.path.join(path, "__main__.py")
        return [main] if os.path.exists(main) else []
    return [path] if path.endswith(".py") else []
