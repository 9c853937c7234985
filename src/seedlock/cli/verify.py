"""``seedlock check`` and ``seedlock diff``."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from seedlock.cli.run import LauncherCommand
from seedlock.errors import SeedlockError

if TYPE_CHECKING:
    from seedlock.trace import Divergence, Trace
    from seedlock.verify.causes import Cause
    from seedlock.verify.check import RunDivergence

LIMITS = (
    "{runs} runs were compared: a race that shows up rarely can be missed by few runs; "
    "more runs: --runs N. Bitwise equality holds for this machine, these library versions and this seed."
)


@contextlib.contextmanager
def _json_errors(as_json: bool, verdict: str) -> Iterator[None]:
    """With ``--json``, an error or a "no verdict" is one JSON object too: the verdict null and the
    reason (exit code 2, as without --json)."""
    try:
        yield
    except (SeedlockError, click.UsageError) as exc:
        if not as_json:
            raise
        message = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
        _say(json.dumps({verdict: None, "error": message}, indent=2))
        sys.exit(2)


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


def describe_audit(records: list[dict[str, Any]] | None) -> list[str]:
    """What ``--audit`` recorded, shown with every verdict: an op with no deterministic kernel that
    ran is a reason the runs may differ elsewhere, even when these ones agreed."""
    if records is None:
        return []
    if not records:
        return ["  audit: no op without a deterministic implementation ran"]
    out = [f"  audit: {len(records)} op(s) with no deterministic implementation ran (recorded, not stopped):"]
    for r in records:
        instead = f"; instead: {r['alternative']}" if r.get("alternative") else ""
        out.append(
            f"    {r.get('framework')} {r.get('op')} on {r.get('device')} ran {r.get('count')}x at "
            f"{r.get('location')}{instead}"
        )
    return out


def describe_causes(causes: list[Cause], limit: int = 8) -> list[str]:
    if not causes:
        return [
            "  no static finding, audit record or environment difference explains it; try `seedlock run --audit`,"
            " and `seedlock doctor SCRIPT` for the code it imports"
        ]
    out = []
    for i, c in enumerate(causes[:limit], 1):
        where = f"{c.location}: " if c.location else ""
        rule = f"{c.rule} " if c.rule else ""
        out.append(f"  {i}. {where}{rule}{c.message} [{c.source}]")
        if c.fix:
            out.append(f"     fix: {c.fix_text()}")
    if len(causes) > limit:
        out.append(f"  … and {len(causes) - limit} more (--json lists all)")
    return out


@click.command(
    cls=LauncherCommand,
    context_settings={"allow_interspersed_args": False},
    epilog="Example: seedlock check --runs 3 train.py --epochs 2",
)
@click.option(
    "--runs", default=2, show_default=True, type=int, help="Fresh processes to compare (at least 2)."
)
@click.option("--seed", metavar="N", help="Master seed. Default: $SEEDLOCK_SEED, else 0.")
@click.option("--granularity", default="epoch", show_default=True, help="Trace every epoch or every batch.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plain", is_flag=True, help="Run without seedlock's seeding: what the script does on its own."
)
@click.option(
    "--ignore-stdout", metavar="REGEX", help="Blank out matches in stdout lines (e.g. wall-clock times)."
)
@click.option(
    "--exact-stdout",
    is_flag=True,
    help="Compare stdout byte for byte (default: as a terminal shows it, progress-bar timings masked).",
)
@click.option(
    "--strict", is_flag=True, help="Derive unseeded RNGs (default_rng() etc.) from the master seed."
)
@click.option("--audit", is_flag=True, help="Record nondeterministic ops instead of failing on them.")
@click.option(
    "--timeout", type=float, metavar="S", help="Kill a run after S seconds (a crash, not a verdict)."
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Keep traces and logs here (default .seedlock/check/…).",
)
@click.option(
    "--no-localize", is_flag=True, help="Skip the rerun that finds the first layer whose output differs."
)
@click.option(
    "--steps", type=int, metavar="N", help="Compare the first N optimizer steps, then stop the runs."
)
@click.option("--epochs", type=int, metavar="N", help="Compare the first N epochs, then stop the runs.")
@click.option(
    "--time",
    "seconds",
    type=float,
    metavar="S",
    help="Compare what run 1 did in its first S seconds, then stop the runs.",
)
@click.option(
    "--sequential",
    is_flag=True,
    help="One run after the other (a GPU that holds one copy of the job); each compared live all the same.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="When the runs differ, rerun under --threads 1, --strict and both, and say which makes them equal.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Check that a run preempted after a checkpoint and restarted equals the uninterrupted run.",
)
@click.option(
    "--resume-at",
    type=int,
    metavar="K",
    help="With --resume: preempt after checkpoint K (default: the middle one).",
)
@click.option(
    "--grace",
    type=float,
    default=10.0,
    show_default=True,
    metavar="S",
    help="With --resume: SIGKILL S seconds after SIGTERM.",
)
@click.option(
    "--no-rng-checkpoint", is_flag=True, help="With --resume: checkpoints do not carry seedlock's RNG state."
)
@click.option("-m", "module", metavar="MODULE", help="Check a module, as `python -m MODULE`.")
@click.argument("target", nargs=-1, type=click.UNPROCESSED)
def check(**params: Any) -> None:
    """Run SCRIPT [ARGS...] in fresh processes and say whether it is bitwise reproducible.

    Exit code 0: REPRODUCIBLE (steps, tensors and stdout equal in every run); 1: NOT
    REPRODUCIBLE, with the first divergence and its likely causes; 2: error (a run crashed,
    bad input, nothing to compare) — never a verdict.
    """
    with _json_errors(params["as_json"], "equivalent" if params.get("resume") else "reproducible"):
        _check(**params)


def _check(
    runs: int,
    seed: str | None,
    granularity: str,
    as_json: bool,
    plain: bool,
    ignore_stdout: str | None,
    exact_stdout: bool,
    strict: bool,
    audit: bool,
    timeout: float | None,
    workdir: str | None,
    no_localize: bool,
    module: str | None,
    target: tuple[str, ...],
    steps: int | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    sequential: bool = False,
    explain: bool = False,
    resume: bool = False,
    resume_at: int | None = None,
    grace: float = 10.0,
    no_rng_checkpoint: bool = False,
) -> None:

    from seedlock.launch.command import (
        check_after_script,
        check_script,
        find_program,
        is_command,
        resolve_seed,
    )
    from seedlock.verify.check import check as run_check
    from seedlock.verify.check import validate
    from seedlock.verify.runner import Target

    validate(runs, granularity, timeout)
    from seedlock.verify import live

    live.validate(steps, epochs, seconds)
    value, _ = resolve_seed(seed)
    if workdir is not None:
        from seedlock.launch.paths import check_output_dir

        check_output_dir(workdir, "--workdir", "--workdir check-runs")
    dashes = bool(click.get_current_context().meta.get("seedlock.dashes"))
    if module is None and dashes and is_command(target):  # `check -- COMMAND ARGS`
        tgt = Target(find_program(target[0], None), list(target[1:]), command=True)
    elif module is None:
        if not target:
            raise click.UsageError(
                "missing SCRIPT; usage: seedlock check [OPTIONS] SCRIPT [ARGS]... or -- COMMAND"
            )
        check_script(target[0])
        ours = [flag for param in click.get_current_context().command.params for flag in param.opts]
        check_after_script("check", target[0], target[1:], ours)
        tgt = Target(target[0], list(target[1:]))
    else:
        tgt = Target(module, list(target), module=True)
    if resume or resume_at is not None or no_rng_checkpoint:
        from seedlock.cli.resume import check_resume_cli

        ignored = [
            flag
            for flag, given in (
                ("--runs", runs != 2),
                ("--plain", plain),
                ("--strict", strict),
                ("--audit", audit),
                ("--granularity", granularity != "epoch"),
                ("--explain", explain),
                ("--steps/--epochs/--time", steps is not None or epochs is not None or seconds is not None),
                ("--sequential", sequential),
                ("--ignore-stdout", ignore_stdout is not None),
            )
            if given
        ]
        if ignored:
            raise SeedlockError(
                f"{', '.join(ignored)} do(es) not go with --resume (three runs: uninterrupted, preempted, "
                "resumed, seeded, each compared record by record); drop it"
            )

        check_resume_cli(
            tgt, value, resume, resume_at, grace, workdir, timeout, not no_rng_checkpoint, as_json
        )
    result = run_check(
        tgt,
        runs=runs,
        seed=value,
        granularity=granularity,
        plain=plain,
        ignore_stdout=ignore_stdout,
        workdir=Path(workdir) if workdir else None,
        timeout=timeout,
        localize=not no_localize,
        strict=strict,
        audit=audit,
        exact_stdout=exact_stdout,
        steps=steps,
        epochs=epochs,
        seconds=seconds,
        sequential=sequential,
    )
    tried: list[str] = []
    if explain and not result.reproducible:
        from seedlock.verify import explain as explain_mod

        recheck = functools.partial(
            run_check,
            tgt,
            seed=value,
            granularity=granularity,
            plain=False,
            ignore_stdout=ignore_stdout,
            timeout=timeout,
            localize=False,
            exact_stdout=exact_stdout,
            strict=strict,
        )
        found = explain_mod.explain(
            result, recheck, Path(result.workdir), lambda line: click.echo(line, err=True)
        )
        result.explained = [t.to_json() for t in found]
        skipped = explain_mod.not_tried(result)
        tried = [skipped] if skipped else explain_mod.describe(found)
    if as_json:
        _say(json.dumps(result.to_json(), indent=2, default=str))
        sys.exit(0 if result.reproducible else 1)
    from seedlock.verify.live import describe_limit

    c = result.compared
    how = "plain python, no seeding" if plain else f"seed {value}"
    side = "one after another: --sequential" if result.sequential else "side by side"
    _say(f"seedlock check: {runs} runs of {tgt.display()} ({how}; {side}, compared live)")
    _say(
        f"  compared: {c['records']} trace records, {c['tensors']} tensor digests, {c['metrics']} metric values, "
        f"{c['stdout_lines']} stdout lines"
        + (f", across {c['ranks']} ranks' traces" if c.get("ranks") else "")
    )
    if c.get("processes"):
        _say(
            f"  processes: {c['processes']} per run (the script and the ones it started, each seeded; "
            "each run had its own MASTER_PORT; a launcher with a port option of its own, such as accelerate's "
            "--main_process_port, needs it set: 0 picks a free one)"
        )
    if result.reproducible:
        _say(f"REPRODUCIBLE{describe_limit(result.limit)}: bitwise equal in every run")
        for line in describe_audit(result.audit):
            _say(line)
        if c.get("stdout_lines_masked"):
            _say(
                f"  note: {c['stdout_lines_masked']} stdout line(s) differed only in what a terminal does not show "
                "(progress-bar redraws) or in progress-bar timings (ms/step, ETA, it/s), which are masked; "
                "the last frame of each progress bar, and every other line, were compared exactly. --exact-stdout compares every byte"
            )
        _say("  " + LIMITS.format(runs=runs))
        if c["tensors"] == 0:
            _say("  note: no model weights were seen; only stdout and recorded metrics were compared")
        _say(f"  traces and logs: {result.workdir}")
        sys.exit(0)
    _say("NOT REPRODUCIBLE")
    if result.stopped_early:
        _say("  the runs were stopped at the first divergence, as it was written (live comparison)")
    assert result.divergence is not None
    for line in describe_divergence(result.divergence):
        _say(line)
    for line in describe_audit(result.audit):
        _say(line)
    _say("likely causes, most likely first:")
    for line in describe_causes(result.causes):
        _say(line)
    for line in tried:
        _say(line)
    _say(f"  traces and logs: {result.workdir}")
    sys.exit(1)


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


@click.command(epilog="Example: seedlock diff machine-a/trace.jsonl machine-b/trace.jsonl")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--exact-stdout",
    is_flag=True,
    help="Compare stdout byte for byte (default: as a terminal shows it, progress-bar timings masked).",
)
def diff(a: str, b: str, as_json: bool, exact_stdout: bool) -> None:
    """Compare two traces (say, from two machines): the first divergent step and tensor, and
    what differs between the two environments when their manifests are beside them. Two folders
    (the traces of a multi-process run: the run's and each rank's) are compared file by file.

    Exit code 0: identical; 1: they differ; 2: bad input, or traces that cannot be compared
    (tensors digested by different algorithms, with no values recorded to recompute them).
    """
    with _json_errors(as_json, "identical"):
        _diff(a, b, as_json, exact_stdout)


def _diff(a: str, b: str, as_json: bool, exact_stdout: bool = False) -> None:
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
        from seedlock.verify.check import RunDivergence

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
