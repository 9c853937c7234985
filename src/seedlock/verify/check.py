"""``seedlock check``: run a script N times in fresh processes and compare everything bitwise.

The verdict is REPRODUCIBLE only when every run finished, and their traces (per-step losses and
per-tensor digests, the final fingerprint of every model) and their stdout are byte-for-byte
equal. A crash is never a verdict. Nothing to compare is never a verdict either.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

from seedlock.config import ENV_AUDIT, ENV_STRICT
from seedlock.errors import SeedlockError
from seedlock.frameworks.base import Config
from seedlock.verify import causes as causes_mod
from seedlock.verify import entropy, live, pools
from seedlock.verify.divergence import (
    compared_lines,
    masked_lines,
    rank_divergence,
    rank_traces,
    read_steps,
    stdout_divergence,
    trace_counts,
    trace_divergence,
)
from seedlock.verify.guards import (
    no_verdict_if_clock_seeded,
    no_verdict_if_incomparable,
    no_verdict_if_interleaved,
    no_verdict_if_nothing_compared,
    no_verdict_if_seeds_differed,
)
from seedlock.verify.runner import RunResult, Target, children, run_many
from seedlock.verify.unseen import no_verdict_if_unseen
from seedlock.verify.verdict import CheckResult, RunCrashed, RunDivergence

GRANULARITIES = ("epoch", "batch")
PLAIN_CAUSE = causes_mod.Cause(
    "plain",
    -1,
    "run with --plain: nothing was seeded, so Python's, NumPy's and the frameworks' global RNGs and "
    "the str hash seed start from OS entropy in every run",
    "drop --plain: `seedlock check SCRIPT` seeds them all",
)


MAX_RUNS = 1000  # each run keeps a directory and a thread: a typo of many digits must not fill the disk


CHECK_ROOT = Path(".seedlock", "check")
KEEP = 20  # default work directories kept: each holds two runs' traces, which can be large


def prune(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` work directories under ``root`` (their names sort by time).

    >>> import tempfile; root = Path(tempfile.mkdtemp())
    >>> for name in ("20260101-000000-1", "20260102-000000-1", "20260103-000000-1"): (root / name).mkdir()
    >>> prune(root, 2); sorted(p.name for p in root.iterdir())
    ['20260102-000000-1', '20260103-000000-1']
    """
    import shutil

    if not root.is_dir():
        return
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    for path in dirs[: max(0, len(dirs) - keep)]:
        shutil.rmtree(path, ignore_errors=True)


def validate(runs: int, granularity: str, timeout: float | None = None) -> None:
    if runs < 2:
        raise SeedlockError(f"--runs must be at least 2 to compare runs, got {runs}; pass e.g. --runs 2")
    if runs > MAX_RUNS:
        raise SeedlockError(f"--runs must be at most {MAX_RUNS}, got {runs}; pass e.g. --runs 10")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise SeedlockError(
            f"--timeout must be a positive number of seconds, got {timeout:g}; pass e.g. --timeout 600"
        )
    if granularity not in GRANULARITIES:
        raise SeedlockError(f"unknown granularity {granularity!r}; use one of: {', '.join(GRANULARITIES)}")


def _timing(
    divergence: RunDivergence, results: list[RunResult], ignore: re.Pattern[str] | None, exact: bool
) -> list[causes_mod.Cause]:
    """A stdout line that differs only in a printed time: the cause, with the --ignore-stdout that
    fixes it, when that regex makes the runs' whole stdout equal (else it is not the cause)."""
    if (
        divergence.source != "stdout"
        or divergence.line is None
        or divergence.a is None
        or divergence.b is None
    ):
        return []
    regex = causes_mod.timing_regex(divergence.a, divergence.b)
    if regex is None:
        return []
    blanked = [[re.sub(regex, "", line) for line in compared_lines(r.stdout, ignore, exact)] for r in results]
    if any(b != blanked[0] for b in blanked[1:]):
        return []
    return [causes_mod.stdout_timing_cause(divergence.line, divergence.a, divergence.b, regex)]


def check(
    target: Target,
    *,
    runs: int = 2,
    seed: int = 0,
    granularity: str = "epoch",
    plain: bool = False,
    ignore_stdout: str | None = None,
    workdir: Path | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    localize: bool = True,
    strict: bool = False,
    audit: bool = False,
    exact_stdout: bool = False,
    threads: int | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    sequential: bool = False,
) -> CheckResult:
    """Run ``target`` ``runs`` times and compare. Raises :class:`RunCrashed` if any run failed.

    stdout is compared as a terminal shows it, progress-bar timings masked
    (:mod:`seedlock.trace.stdout`); ``exact_stdout`` compares every byte."""
    validate(runs, granularity, timeout)
    live.validate(steps, epochs, seconds)
    try:
        ignore = re.compile(ignore_stdout) if ignore_stdout else None
    except re.error as exc:
        raise SeedlockError(
            f"--ignore-stdout {ignore_stdout!r} is not a valid regular expression ({exc})"
        ) from None
    if workdir is None:
        workdir = CHECK_ROOT / (time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10**6:06d}")
        prune(CHECK_ROOT, KEEP - 1)  # room for this one: the last KEEP checks stay, older ones go
    config = Config(seed=seed, deterministic=True, threads=threads)
    extra = {}
    if strict:
        extra[ENV_STRICT] = "1"
    if audit:
        extra[ENV_AUDIT] = "1"
    extra.update(live.stop_env(steps, epochs))
    watcher = live.Watcher(
        seconds
    )  # compares the records as they are written; stops the runs at a divergence
    results = run_many(
        target,
        runs,
        config,
        workdir,
        plain=plain,
        granularity=granularity,
        jobs=1 if sequential else jobs,
        timeout=timeout,
        extra_env=extra,
        watcher=watcher,
    )
    cut = (watcher.cut or 0) if watcher.stopped else None  # stopped early: compare what they wrote
    for r in results:
        if not r.ok and cut is None:
            raise RunCrashed(r, runs, timeout)

    divergence: RunDivergence | None = None
    first = read_steps(results[0], partial=cut) if results[0].trace.exists() else None  # read once
    first_ranks = {
        label: read_steps(results[0], path, cut) for label, path in rank_traces(results[0]).items()
    }
    for other in results[1:]:
        divergence = (
            trace_divergence(results[0], other, first, cut)
            or rank_divergence(results[0], other, first_ranks, cut)
            or (stdout_divergence(results[0], other, ignore, exact_stdout) if cut is None else None)
        )
        if divergence:
            break
    live.no_verdict_if_unconfirmed(watcher, divergence)
    counts = trace_counts(first)
    for held in first_ranks.values():  # what the ranks' traces held too, in the counts the verdict states
        for key, n in trace_counts(held).items():
            counts[key] += n
    compared: dict[str, Any] = {"runs": runs, "stdout_lines": results[0].stdout.count("\n"), **counts}
    if first_ranks:
        compared["ranks"] = len(first_ranks)
    started = max(children(r) for r in results)
    if started:  # a command's own interpreter is one of the children: there is no boot process then
        compared["processes"] = started + (0 if target.command else 1)
    if divergence is not None and divergence.source == "stdout" and started:
        no_verdict_if_interleaved(results, ignore, exact_stdout, started)
    if (
        not exact_stdout and cut is None
    ):  # said with the verdict: which lines only a terminal's view made equal
        compared["stdout_lines_masked"] = max(masked_lines(results[0], r, ignore) for r in results[1:])
    if divergence is None and (why := live.unused([first, *first_ranks.values()], steps)):
        raise SeedlockError(why)
    if divergence is None:
        no_verdict_if_nothing_compared(counts["records"], results[0])
        static = causes_mod.static_causes(causes_mod.script_files(target.path, target.module))
        no_verdict_if_clock_seeded(static, results)
        no_verdict_if_seeds_differed(results)
        if draws := entropy.drawn(results):  # said with the verdict: equal by chance is possible
            compared["entropy_draws"] = draws
        if sets := entropy.identity_sets(static):
            compared["identity_sets"] = sets
        pools.no_verdict_if_luck(results)
        no_verdict_if_unseen(results[0], counts["tensors"])
    if divergence is not None:
        no_verdict_if_incomparable(divergence)
    recorded = causes_mod.audit_records([r.trace.with_name("audit.json") for r in results]) if audit else None
    found: list[causes_mod.Cause] = []
    if divergence is not None:
        if localize and divergence.trace is not None:
            from seedlock.verify.localize import localize as find_layer

            divergence.layer = find_layer(
                target, config, divergence.trace, workdir, plain=plain, extra_env=extra, rank=divergence.rank
            )
        found = entropy.true_causes(  # what the runs drew at run time first; who fixes each
            causes_mod.environment_causes([r.manifest for r in results])
            + causes_mod.audit_causes(recorded or [])
            + causes_mod.static_causes(causes_mod.script_files(target.path, target.module), plain=plain)
            + ([PLAIN_CAUSE] if plain else [])
            + _timing(divergence, results, ignore, exact_stdout)
            + [c for c in [pools.cause(results)] if c is not None],
            results,
            plain,
        )
    return CheckResult(
        divergence is None,
        runs,
        None if plain else seed,
        plain,
        divergence,
        found,
        compared,
        str(workdir),
        results,
        recorded,
        limit=live.limit_of(steps, epochs, seconds, watcher),
        stopped_early=watcher.diverged is not None,
        sequential=sequential,
    )
