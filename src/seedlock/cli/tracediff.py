"""``seedlock diff``'s work: two traces (or two folders of them) compared, and their machines; and
the divergence as ``check`` and ``diff`` both print it."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from seedlock.errors import SeedlockError

if TYPE_CHECKING:
    from seedlock.trace import Divergence, Trace
    from seedlock.verify.verdict import RunDivergence


def _say(line: str = "") -> None:
    click.echo(line)


def describe_divergence(div: RunDivergence) -> list[str]:
    lines = [f"  first divergence: runs {div.runs[0]} and {div.runs[1]}: {div.summary}"]
    found = div.trace
    if found is not None and found.max_abs is not None:
        ulp = f", {found.max_ulp} ULP" if found.max_ulp is not None else ""
        lines.append(f"  max abs difference {found.max_abs:.6g}{ulp}")
    layer = div.layer
    if layer:
        if (found is None or found.max_abs is None) and layer.get("max_abs") is not None:
            ulp = f", {layer['max_ulp']} ULP" if layer.get("max_ulp") is not None else ""
            sign = f" ({layer['sign_note']})" if layer.get("sign_note") else ""
            lines.append(
                f"  {found.name if found else None}: max abs difference {layer['max_abs']:.6g}{ulp}{sign} "
                "(from the localising reruns)"
            )
        lines.append(f"  {layer.get('message')}")
    return lines


def _pair(a: str, b: str, exact_stdout: bool) -> tuple[Divergence | None, Trace, Trace]:
    """Two traces compared, or the one line that says why there is no verdict."""
    from seedlock.trace import read_trace
    from seedlock.trace.compare import compare_traces

    ta, tb = read_trace(a), read_trace(b)
    div = compare_traces(ta, tb, exact_stdout=exact_stdout)
    if div is not None and div.reason == "incomparable":  # different digest algorithms: no verdict
        raise SeedlockError(f"traces {a!r} and {b!r} cannot be compared: {div}")
    # Equal as far as they go, or one stops short: only a verdict if the short one ran to its end.
    short = {None: [(a, ta), (b, tb)], "missing": [(b, tb)], "extra": [(a, ta)]}.get(
        div.reason if div else None, []
    )
    for path, t in short:
        if not t.complete:
            raise SeedlockError(
                f"no verdict: trace {path!r} has no exit record (its run crashed, ended with "
                "os._exit, or its exit fingerprint failed), so the models at exit were not "
                "compared; the records both traces have are bitwise equal"
            )
    if div is None and not len(ta) and not len(tb):
        raise SeedlockError(f"nothing to compare: traces {a!r} and {b!r} have no records")
    return div, ta, tb


def _traces_in(folder: str) -> set[str]:
    """The trace files in a folder (a run of a multi-process job: the run's and each rank's)."""
    from seedlock.trace import NotATrace, read_trace

    names = set()
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not name.endswith((".npz", ".json", ".txt")):
            try:
                read_trace(path)
            except (NotATrace, OSError, ValueError):
                continue
            names.add(name)
    return names


def _diff_dirs(a: str, b: str, as_json: bool, exact_stdout: bool) -> NoReturn:
    """Two folders of traces (the run's and its ranks', of two runs of a job): file by file."""
    if not (os.path.isdir(a) and os.path.isdir(b)):
        raise SeedlockError(f"diff takes two trace files or two folders of traces, got {a!r} and {b!r}")
    names_a, names_b = _traces_in(a), _traces_in(b)
    if not names_a and not names_b:
        raise SeedlockError(f"nothing to compare: no trace in {a!r} or {b!r}")
    results: dict[str, dict[str, Any]] = {}
    for name in sorted(names_a | names_b):
        if name not in names_a or name not in names_b:
            results[name] = {"identical": False, "summary": f"only in {'A' if name in names_a else 'B'}"}
            continue
        div, ta, _ = _pair(os.path.join(a, name), os.path.join(b, name), exact_stdout)
        results[name] = {
            "identical": div is None,
            "summary": str(div) if div else f"{len(ta)} records, bitwise equal",
        }
    same = all(r["identical"] for r in results.values())
    if as_json:
        _say(json.dumps({"identical": same, "traces": results}, indent=2))
    else:
        _say(f"{'IDENTICAL' if same else 'DIFFERENT'}: {len(results)} traces compared, file by file")
        for name, r in results.items():
            _say(f"  {name}: {'IDENTICAL' if r['identical'] else 'DIFFERENT'}: {r['summary']}")
    sys.exit(0 if same else 1)


def _count_kinds(trace: Trace, kinds: set[str]) -> dict[str, int]:
    """How many records of each kind outside ``kinds`` the trace has: what a diff did not compare."""
    counts: dict[str, int] = {}
    for r in trace:
        if r.kind not in kinds:
            counts[r.kind] = counts.get(r.kind, 0) + 1
    return counts


def _manifest_for(trace: str) -> str | None:
    for cand in (trace + ".manifest.json", os.path.join(os.path.dirname(trace), "manifest.json")):
        if os.path.exists(cand):
            return cand
    return None


def diff_traces(a: str, b: str, as_json: bool, exact_stdout: bool = False) -> None:
    """What `seedlock diff A B` prints, and its exit."""
    from seedlock.doctor import manifest
    from seedlock.trace.compare import compared_kinds

    for path in (a, b):
        if not os.path.exists(path):
            raise SeedlockError(
                f"trace {path!r} not found; pass files written by `seedlock run --trace FILE`"
            )
    if os.path.isdir(a) or os.path.isdir(b):
        _diff_dirs(a, b, as_json, exact_stdout)
    div, ta, tb = _pair(a, b, exact_stdout)
    ma, mb = _manifest_for(a), _manifest_for(b)
    env_diff = manifest.diff(manifest.load(ma), manifest.load(mb)) if ma and mb else None
    kinds = compared_kinds(ta, tb)
    compared = min(sum(r.kind in kinds for r in t) for t in (ta, tb))
    skipped = {side: _count_kinds(t, kinds) for side, t in (("a", ta), ("b", tb))}
    if as_json:
        _say(
            json.dumps(
                {
                    "identical": div is None,
                    "divergence": div.to_dict() if div else None,
                    "environment": env_diff,
                    "records": [len(ta), len(tb)],
                    "compared": {"records": compared, "kinds": sorted(kinds), "not_compared": skipped},
                },
                indent=2,
                default=str,
            )
        )
        sys.exit(0 if div is None else 1)
    if div is None:
        _say(f"IDENTICAL: {compared} records compared, bitwise equal")
        if any(skipped.values()):
            left = "; ".join(
                f"trace {side.upper()}'s {', '.join(f'{n} {k}' for k, n in counts.items())} records"
                for side, counts in skipped.items()
                if counts
            )
            _say(
                f"  only the kinds both traces have were compared ({', '.join(sorted(kinds))}): they were "
                f"recorded at granularity {ta.granularity} and {tb.granularity}; not compared: {left}"
            )
    else:
        _say("DIFFERENT")
        from seedlock.verify.verdict import RunDivergence

        for line in describe_divergence(RunDivergence(("A", "B"), "trace", str(div), trace=div)):
            _say(line)
    if env_diff is None:
        _say("environments: no manifests beside both traces (write them with `seedlock run --trace FILE`)")
    elif not env_diff:
        _say("environments: no difference that can change results")
    else:
        _say("environments differ:")
        for item in env_diff:
            _say(f"  - {item['message']}")
    sys.exit(0 if div is None else 1)
