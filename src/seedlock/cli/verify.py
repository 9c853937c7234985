"""``seedlock check`` and ``seedlock diff``."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seedlock.cli.run import LauncherCommand
from seedlock.cli.tracediff import _say, describe_divergence, diff_traces
from seedlock.errors import SeedlockError

if TYPE_CHECKING:
    from seedlock.verify.causes import Cause

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
    "--explain/--no-explain",
    default=None,
    help="When the runs differ, rerun under --threads 1, --strict and both, and say which makes them equal. "
    "Default: on its own when no cause is certain and each run took at most $SEEDLOCK_EXPLAIN s (10).",
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
    explain: bool | None = None,
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
    from seedlock.verify import explain as explain_mod
    from seedlock.verify import live

    live.validate(steps, epochs, seconds)
    resuming = bool(resume or resume_at is not None or no_rng_checkpoint)
    # $SEEDLOCK_EXPLAIN matters only where check may explain on its own: not with a flag that decides
    bound = explain_mod.bound_from_env() if explain is None and not resuming else 0.0
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
    if resuming:
        from seedlock.cli.resume import check_resume_cli

        ignored = [
            flag
            for flag, given in (
                ("--runs", runs != 2),
                ("--plain", plain),
                ("--strict", strict),
                ("--audit", audit),
                ("--granularity", granularity != "epoch"),
                ("--explain", bool(explain)),
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
    started = time.monotonic()
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
    wall = time.monotonic() - started
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
        steps=steps,
        epochs=epochs,
        seconds=seconds,
        sequential=sequential,
    )

    def explained() -> list[str]:
        """After a NOT: the fix tried, when asked or the script is short (the extra runs said first)."""
        say = functools.partial(click.echo, err=True)
        return explain_mod.after_not(result, explain, bound, recheck, say, timeout, wall)

    if as_json:
        if not result.reproducible:
            explained()
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
        if draws := c.get("entropy_draws"):
            more = f" (and {len(draws) - 1} more: --json lists them)" if len(draws) > 1 else ""
            _say(
                "  note: the runs drew values the master seed did not fix, and their results were still equal: "
                f"it did not reach what was compared, or agreed by chance; {draws[0]['location']}: "
                f"{draws[0]['message']}{more}. If a result depends on it, more runs show it: --runs 10"
            )
        if sets := c.get("identity_sets"):
            more = f" (and {len(sets) - 1} more: --json lists them)" if len(sets) > 1 else ""
            _say(
                f"  note: {sets[0]['location']}: {sets[0]['message']}{more}; where it runs and its order matters, "
                "an order by address often repeats by chance, so equal runs prove little about it: iterate "
                "sorted(the_set, key=...) by a value of its objects, or keep them in a list"
            )
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
    for line in explained():
        _say(line)
    _say(f"  traces and logs: {result.workdir}")
    sys.exit(1)


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
        diff_traces(a, b, as_json, exact_stdout)
