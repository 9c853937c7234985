"""``seedlock check --resume``'s output: RESUME-EQUIVALENT (exit 0) or NOT (exit 1, the first
divergent step and what the resume lost); no verdict is exit 2, as for every check."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from seedlock.errors import SeedlockError
from seedlock.verify.runner import Target


def check_resume_cli(
    target: Target,
    seed: int,
    resume: bool,
    resume_at: int | None,
    grace: float,
    workdir: str | None,
    timeout: float | None,
    rng_checkpoint: bool,
    as_json: bool,
) -> NoReturn:
    from seedlock.verify.check import CHECK_ROOT, KEEP, prune
    from seedlock.verify.resume import check_resume

    if not resume:
        raise SeedlockError("--resume-at and --no-rng-checkpoint go with --resume; add --resume")
    if target.command:
        raise SeedlockError(
            "--resume takes a script or -m MODULE, not a command: its runs are traced in the script's own process"
        )
    if not grace >= 0:
        raise SeedlockError(f"--grace must be zero or more seconds, got {grace:g}; pass e.g. --grace 10")
    if workdir is None:
        where = CHECK_ROOT / (time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10**6:06d}-resume")
        prune(CHECK_ROOT, KEEP - 1)
    else:
        where = Path(workdir)
    result = check_resume(
        target,
        seed=seed,
        resume_at=resume_at,
        grace=grace,
        workdir=where,
        timeout=timeout,
        rng_checkpoint=rng_checkpoint,
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
        sys.exit(0 if result.equivalent else 1)
    c = result.compared
    if result.resumed_from is not None:
        frm = f"it resumed from checkpoint {result.resumed_from} (its model is that checkpoint's)"
    elif result.probed:
        frm = "its model right after the load is no checkpoint's model"
    else:
        frm = "it resumed (its place among the uninterrupted run's records found by its epochs)"
    click.echo(
        f"  preempted after checkpoint {result.resume_at} of {result.checkpoints} (SIGTERM"
        + (f", then SIGKILL after {grace:g} s" if result.grace_killed else "")
        + f"), restarted: {frm}"
    )
    click.echo(f"  compared: {c['records']} trace records after the resume point, and the models at exit")
    if result.equivalent:
        click.echo(
            "RESUME-EQUIVALENT: the resumed run is bitwise the uninterrupted run from the resume point on"
        )
        click.echo(f"  traces and logs: {result.workdir}")
        sys.exit(0)
    click.echo("NOT RESUME-EQUIVALENT")
    if result.stopped_early:
        click.echo(
            "  the resumed run was stopped at its first divergent record, as it was written (live comparison)"
        )
    click.echo(f"  first divergence after the resume: {result.divergence}")
    if result.causes:
        click.echo("what the resume lost, right after the load:")
        for cause in result.causes:
            click.echo(f"  - {cause.message}\n    fix: {cause.fix}")
    elif result.probed:
        click.echo(
            "  right after the load, the weights, optimizer state, learning rate, RNG state and first batch all "
            "equal the uninterrupted run's: what differs comes later, from state the checkpoint does not hold "
            "(the epoch or step counter, an LR scheduler's state, a counter of the script's own)"
        )
    else:
        click.echo(
            "  the state right after the load was not recorded (it is for torch models); compare the records above"
        )
    click.echo(f"  traces and logs: {result.workdir}")
    sys.exit(1)
