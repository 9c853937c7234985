"""``seedlock check``: run a script N times in fresh processes and compare everything bitwise.

The verdict is REPRODUCIBLE only when every run finished, and their traces (per-step losses and
per-tensor digests, the final fingerprint of every model) and their stdout are byte-for-byte
equal. A crash is never a verdict. Nothing to compare is never a verdict either.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedlock.config import ENV_AUDIT, ENV_STRICT
from seedlock.errors import SeedlockError
from seedlock.frameworks.base import Config
from seedlock.trace.stdout import view
from seedlock.verify import causes as causes_mod
from seedlock.verify import entropy, live, pools
from seedlock.verify.ranks import failed_rank
from seedlock.verify.runner import RunResult, Target, children, run_many
from seedlock.verify.unseen import no_verdict_if_unseen

if TYPE_CHECKING:
    from seedlock.trace import Divergence, Trace

GRANULARITIES = ("epoch", "batch")
PLAIN_CAUSE = causes_mod.Cause(
    "plain",
    -1,
    "run with --plain: nothing was seeded, so Python's, NumPy's and the frameworks' global RNGs and "
    "the str hash seed start from OS entropy in every run",
    "drop --plain: `seedlock check SCRIPT` seeds them all",
)


@dataclass
class RunDivergence:
    """Where two runs first differ: a trace record (``trace``) or a line of stdout (``line``, ``a``, ``b``).

    >>> d = RunDivergence((1, 2), "stdout", "stdout line 3 differs: '0.5' vs '0.6'", line=3, a="0.5", b="0.6")
    >>> d.to_json()["line"], d.to_json()["runs"]
    (3, [1, 2])
    """

    runs: tuple[int | str, int | str]  # the runs compared (1-based), or the traces' labels
    source: str  # "trace" or "stdout"
    summary: str
    trace: Divergence | None = None
    line: int | None = None  # stdout: the first line that differs (1-based), and the two lines
    a: str | None = None
    b: str | None = None
    layer: dict[str, Any] | None = None  # what the localising reruns found (seedlock.verify.localize)
    rank: str | None = None  # the rank whose trace differs, for a distributed job's ranks

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.trace is None else self.trace.to_dict()
        out.update(runs=list(self.runs), source=self.source)
        if self.trace is None:
            out.update(line=self.line, a=self.a, b=self.b)
        out["summary"] = self.summary
        if self.layer is not None:
            out["layer"] = self.layer
        if self.rank is not None:
            out["rank"] = self.rank
        return out


@dataclass
class CheckResult:
    reproducible: bool
    runs: int
    seed: int | None
    plain: bool
    divergence: RunDivergence | None
    causes: list[causes_mod.Cause]
    compared: dict[str, Any]
    workdir: str
    results: list[RunResult] = field(default_factory=list, repr=False)
    audit: list[dict[str, Any]] | None = None  # --audit: the ops with no deterministic kernel that ran
    explained: list[dict[str, Any]] | None = None  # --explain: the settings tried (seedlock.verify.explain)
    limit: dict[str, Any] | None = None  # --steps/--epochs/--time: what a REPRODUCIBLE is about
    stopped_early: bool = False  # the live comparison stopped the runs at the first divergence
    sequential: bool = False  # the runs went one after another (--sequential), not side by side

    def to_json(self) -> dict[str, Any]:
        return {
            "reproducible": self.reproducible,
            "runs": self.runs,
            "seed": self.seed,
            "plain": self.plain,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
            "causes": [c.to_json() for c in self.causes],
            "compared": self.compared,
            "workdir": self.workdir,
            "audit": self.audit,
            "explained": self.explained,
            "limit": self.limit,
            "stopped_early": self.stopped_early,
            "sequential": self.sequential,
        }


class RunCrashed(SeedlockError):
    """A run failed: say which, how, and show its stderr. Never a verdict.

    When deterministic mode, which seedlock switched on, refused an op, the run's own line saying
    so comes first: that is the cause, not an opaque crash."""

    def __init__(self, result: RunResult, runs: int, timeout: float | None = None):
        if result.timed_out:
            limit = f" after --timeout {timeout:g} s" if timeout is not None else ""
            how = f"was still running{limit} and was killed, with every process it started"
        else:
            how = f"exited with code {result.returncode}"
        lines = result.stderr_tail.strip().splitlines()
        refused = [line for line in lines if line.startswith("seedlock: ") and " refused " in line]
        head = f"run {result.index + 1} of {runs} {how}; no verdict"
        if refused:  # the cause, with check's own way out (it has no --no-deterministic)
            cause = refused[-1].removeprefix("seedlock: ").split("; ")[0]
            head += f". {cause}; to list every such op and compare anyway: seedlock check --audit SCRIPT"
        if any("terminate called without an active exception" in line for line in lines) and any(
            "torch.distributed" in line or "torch/distributed" in line or "gloo" in line.lower()
            for line in lines
        ):  # torch's gloo, not the script's code nor seedlock's: with or without seedlock, about 1 run in 2
            head += (
                ". A rank aborted as gloo tore down while another still had traffic in flight; a "
                "torch.distributed.barrier() before destroy_process_group() avoids it"
            )
        tail = ". Its stderr ends:\n" + "\n".join(lines[-15:]) if lines else ". It wrote nothing on stderr"
        rank = failed_rank(_full_stderr(result))
        if rank is not None and rank[2]:  # the rank's own error, not the launcher's summary of it
            label, code, own = rank
            tail = f". Rank {label} failed first (exit code {code}); its stderr ends:\n" + "\n".join(own)
        super().__init__(head + tail)
        self.result = result
        self.refused = refused[-1] if refused else None


def _full_stderr(result: RunResult) -> str:
    """The run's whole stderr (a rank's error is often far above the launcher's traceback)."""
    try:
        return result.trace.with_name("stderr.txt").read_text(errors="replace")
    except OSError:
        return result.stderr_tail


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


def _lines(text: str) -> list[str]:
    """Split at \n only: str.splitlines() also splits at \r, \f, \x1c... and drops a final
    newline, so "a\rb" and "a\nb", or "done" and "done\n", compared equal."""
    return text.split("\n")


def _filtered(text: str, ignore: re.Pattern[str] | None, exact: bool = True) -> list[str]:
    """The lines compared: as a terminal shows them with progress-bar timings masked
    (:mod:`seedlock.trace.stdout`) unless ``exact``, then with ``--ignore-stdout``'s matches blanked."""
    lines = _lines(text) if exact else [view(line) for line in _lines(text)]
    return [ignore.sub("", line) for line in lines] if ignore else lines


def masked_lines(a: RunResult, b: RunResult, ignore: re.Pattern[str] | None) -> int:
    """How many lines of ``a`` and ``b`` differ byte for byte but not as a terminal shows them."""
    raw = zip(_filtered(a.stdout, ignore), _filtered(b.stdout, ignore), strict=False)
    return sum(x != y and view(x) == view(y) for x, y in raw)


def stdout_divergence(
    a: RunResult, b: RunResult, ignore: re.Pattern[str] | None, exact: bool = False
) -> RunDivergence | None:
    la, lb = _filtered(a.stdout, ignore, exact), _filtered(b.stdout, ignore, exact)
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
        steps_a if steps_a is not None else _steps(a, partial=cut), _steps(b, partial=cut), values=cut is None
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
        div = compare_traces(ra[label], _steps(b, rb[label], partial=cut), values=cut is None)
        if div is not None:
            found.append(RunDivergence(runs, "trace", f"rank {label}: {div}", trace=div, rank=label))
    # The earliest record across ranks: a rank that parts first soon makes the others part (allreduce).
    return min(found, key=lambda d: d.trace.index if d.trace else 0, default=None)


def _steps(result: RunResult, path: Path | None = None, partial: int | None = None) -> Trace:
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


def _no_clock_seeds(target: Target, results: list[RunResult]) -> None:
    """Equal runs of a script seeded from the clock prove nothing: runs an hour (or a day) apart
    would differ. SL104 finds such seeds (time, pid, entropy); its hits whose line ran leave check
    with no verdict."""
    hits = [
        c
        for c in causes_mod.static_causes(causes_mod.script_files(target.path, target.module))
        if c.rule == "SL104"
    ]
    hits = entropy.clock_seeds_that_ran(hits, results)  # a line in a branch not taken seeds nothing
    if hits:
        raise SeedlockError(
            f"no verdict: the runs were bitwise equal, but {hits[0].location}: {hits[0].message}; where "
            "that line runs, runs at another time give other results. Use a fixed seed (seedlock run --seed N; "
            "seedlock.derive('name') for sub-seeds); if it does not run here (a branch not taken), mark it "
            "`# seedlock: ignore[SL104]`"
        )


def _interleaved(results: list[RunResult], ignore: re.Pattern[str] | None, exact: bool, started: int) -> None:
    """No verdict when stdout differs only in the order of its lines and several processes wrote
    it: which process writes first is the OS's scheduling, not the computation."""
    lines = [sorted(_filtered(r.stdout, ignore, exact)) for r in results]
    if all(x == lines[0] for x in lines[1:]):
        raise SeedlockError(
            f"no verdict: the runs printed the same stdout lines in another order, and each run had "
            f"{1 + started} processes writing to it, whose order "
            "is the OS's scheduling, not the computation; print from one process (if rank == 0: ...), "
            "or record results with seedlock.log_metric or seedlock.trace.record"
        )


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
    blanked = [[re.sub(regex, "", line) for line in _filtered(r.stdout, ignore, exact)] for r in results]
    if any(b != blanked[0] for b in blanked[1:]):
        return []
    return [causes_mod.stdout_timing_cause(divergence.line, divergence.a, divergence.b, regex)]


def _counts(steps: Trace | None) -> dict[str, int]:
    """What a run's trace holds: records, and tensor digests across them."""
    if steps is None:
        return {"records": 0, "tensors": 0, "metrics": 0}
    recs = list(steps)
    return {
        "records": len(recs),
        "tensors": sum(len(r.tensors or {}) for r in recs),
        "metrics": sum(len(r.metrics or {}) for r in recs),
    }


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
    first = _steps(results[0], partial=cut) if results[0].trace.exists() else None  # read once
    first_ranks = {label: _steps(results[0], path, cut) for label, path in rank_traces(results[0]).items()}
    for other in results[1:]:
        divergence = (
            trace_divergence(results[0], other, first, cut)
            or rank_divergence(results[0], other, first_ranks, cut)
            or (stdout_divergence(results[0], other, ignore, exact_stdout) if cut is None else None)
        )
        if divergence:
            break
    live.no_verdict_if_unconfirmed(watcher, divergence)
    counts = _counts(first)
    for held in first_ranks.values():  # what the ranks' traces held too, in the counts the verdict states
        for key, n in _counts(held).items():
            counts[key] += n
    compared: dict[str, Any] = {"runs": runs, "stdout_lines": results[0].stdout.count("\n"), **counts}
    if first_ranks:
        compared["ranks"] = len(first_ranks)
    started = max(children(r) for r in results)
    if started:  # a command's own interpreter is one of the children: there is no boot process then
        compared["processes"] = started + (0 if target.command else 1)
    if divergence is not None and divergence.source == "stdout" and started:
        _interleaved(results, ignore, exact_stdout, started)
    if (
        not exact_stdout and cut is None
    ):  # said with the verdict: which lines only a terminal's view made equal
        compared["stdout_lines_masked"] = max(masked_lines(results[0], r, ignore) for r in results[1:])
    if divergence is None and (why := live.unused([first, *first_ranks.values()], steps)):
        raise SeedlockError(why)
    if divergence is None and counts["records"] == 0 and not results[0].stdout.strip():
        raise SeedlockError(
            "nothing to compare: the script printed nothing and trained no model seedlock could see; "
            "print a result, or record one with seedlock.trace.record(step, name=array)"
        )
    if divergence is None:
        _no_clock_seeds(target, results)
        if draws := entropy.drawn(results):
            compared["entropy_draws"] = draws
        pools.no_verdict_if_luck(results)
        no_verdict_if_unseen(results[0], counts["tensors"])
    if divergence is not None and divergence.trace is not None and divergence.trace.reason == "incomparable":
        # Digests by different algorithms (a tensor on a GPU in one run only): no verdict either way.
        raise SeedlockError(
            f"no verdict: runs {divergence.runs[0]} and {divergence.runs[1]} cannot be "
            f"compared: {divergence.summary}"
        )
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
