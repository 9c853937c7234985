"""Where two runs of ``seedlock check`` first part: their traces record by record (each rank's
too), then their stdout line by line, as a terminal shows it unless asked for every byte."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

from seedlock.errors import SeedlockError
from seedlock.trace.stdout import view
from seedlock.verify.runner import RunResult
from seedlock.verify.verdict import RunDivergence

if TYPE_CHECKING:
    from seedlock.trace import Trace


def _lines(text: str) -> list[str]:
    """Split at \n only: str.splitlines() also splits at \r, \f, \x1c... and drops a final
    newline, so "a\rb" and "a\nb", or "done" and "done\n", compared equal."""
    return text.split("\n")


def compared_lines(text: str, ignore: re.Pattern[str] | None, exact: bool = True) -> list[str]:
    """The lines compared: as a terminal shows them with progress-bar timings masked
    (:mod:`seedlock.trace.stdout`) unless ``exact``, then with ``--ignore-stdout``'s matches blanked."""
    lines = _lines(text) if exact else [view(line) for line in _lines(text)]
    return [ignore.sub("", line) for line in lines] if ignore else lines


def masked_lines(a: RunResult, b: RunResult, ignore: re.Pattern[str] | None) -> int:
    """How many lines of ``a`` and ``b`` differ byte for byte but not as a terminal shows them."""
    raw = zip(compared_lines(a.stdout, ignore), compared_lines(b.stdout, ignore), strict=False)
    return sum(x != y and view(x) == view(y) for x, y in raw)


def stdout_divergence(
    a: RunResult, b: RunResult, ignore: re.Pattern[str] | None, exact: bool = False
) -> RunDivergence | None:
    la, lb = compared_lines(a.stdout, ignore, exact), compared_lines(b.stdout, ignore, exact)
    if la == lb:
        return None
    i = next((k for k, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
    return RunDivergence(
        (a.index + 1, b.index + 1),
        "stdout",
        f"stdout line {i + 1} differs: {la[i] if i < len(la) else '<end>'!r} vs {lb[i] if i < len(lb) else '<end>'!r}",
        line=i + 1,
        a=la[i] if i < len(la) else None,
        b=lb[i] if i < len(lb) else None,
    )


def trace_divergence(
    a: RunResult, b: RunResult, steps_a: Trace | None = None, cut: int | None = None
) -> RunDivergence | None:
    """The first divergence between two runs' traces (``steps_a``: ``a``'s, already read; ``cut``:
    runs stopped early, compared over their first ``cut`` training records, or all they have)."""
    if not a.trace.exists() and not b.trace.exists():
        return None
    from seedlock.trace.compare import compare_traces

    div = compare_traces(
        steps_a if steps_a is not None else read_steps(a, partial=cut),
        read_steps(b, partial=cut),
        values=cut is None,
    )
    if div is None:
        return None
    return RunDivergence((a.index + 1, b.index + 1), "trace", str(div), trace=div)


def rank_traces(result: RunResult) -> dict[str, Path]:
    """The traces of the ranks a run started (``trace.rank1.jsonl``...), by rank label."""
    stem, suffix = result.trace.stem, result.trace.suffix
    found = result.trace.parent.glob(f"{stem}.rank*{suffix}") if result.trace.parent.is_dir() else []
    return {p.name[len(stem) + 5 : len(p.name) - len(suffix)]: p for p in found}


def rank_divergence(
    a: RunResult, b: RunResult, steps_a: dict[str, Trace], cut: int | None = None
) -> RunDivergence | None:
    """The first rank whose traces differ between runs ``a`` and ``b``, rank by rank
    (``steps_a``: ``a``'s rank traces, already read)."""
    from seedlock.trace.compare import compare_traces

    ra, rb = steps_a, rank_traces(b)
    runs = (a.index + 1, b.index + 1)
    found: list[RunDivergence] = []
    for label in sorted(set(ra) | set(rb), key=lambda x: [int(n) for n in x.split(".") if n.isdigit()]):
        if label not in ra or label not in rb:
            which = runs[0] if label in ra else runs[1]
            return RunDivergence(
                runs, "trace", f"rank {label}: only run {which} has a trace of it", rank=label
            )
        div = compare_traces(ra[label], read_steps(b, rb[label], partial=cut), values=cut is None)
        if div is not None:
            found.append(RunDivergence(runs, "trace", f"rank {label}: {div}", trace=div, rank=label))
    # The earliest record across ranks: a rank that parts first soon makes the others part (allreduce).
    return min(found, key=lambda d: d.trace.index if d.trace else 0, default=None)


def read_steps(result: RunResult, path: Path | None = None, partial: int | None = None) -> Trace:
    """A run's trace (``path``: one of its ranks') without its stdout record: the parent compares
    stdout itself, line by line, honouring --ignore-stdout. ``partial``: a run the live comparison
    stopped, its first ``partial`` training records (0: all it wrote; its exit records are not there)."""
    from seedlock.trace import read_trace

    trace = read_trace(path or result.trace)
    if partial is not None:
        from seedlock.verify.live import first_training

        return first_training(trace, partial)
    if not trace.complete:
        said = [line for line in result.stderr_tail.splitlines() if line.startswith("seedlock: the ")]
        why = (
            said[-1].removeprefix("seedlock: ")
            if said
            else (
                "its exit fingerprint failed, the script closed seedlock's trace, or it ended with os._exit"
            )
        )
        raise SeedlockError(
            f"no verdict: run {result.index + 1}'s trace has no exit record, so the models at exit were not "
            f"compared ({why.split('; ')[0]}); see {result.trace.parent / 'stderr.txt'}"
        )
    return dataclasses.replace(trace, records=tuple(r for r in trace.records if r.kind != "stdout"))


def trace_counts(steps: Trace | None) -> dict[str, int]:
    """What a run's trace holds: records, and tensor digests across them."""
    if steps is None:
        return {"records": 0, "tensors": 0, "metrics": 0}
    recs = list(steps)
    return {
        "records": len(recs),
        "tensors": sum(len(r.tensors or {}) for r in recs),
        "metrics": sum(len(r.metrics or {}) for r in recs),
    }
