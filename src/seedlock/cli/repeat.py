"""``seedlock repeat [OPTIONS] SCRIPT [ARGS...]``: run a script over many seeds into the store.

As for every command, seedlock's options come before SCRIPT and everything after it is the
script's (``seedlock.launch.command.check_after_script`` stops a seedlock option there that the
script never mentions).

>>> split_args(["--seeds", "5", "train.py", "--epochs", "3"])
(['--seeds', '5', '--', 'train.py'], ['--epochs', '3'])
"""

from __future__ import annotations

import math
import os
import sys

import click

from seedlock.errors import SeedlockError
from seedlock.repeat.store import DEFAULT_STORE
from seedlock.seeds import validate_seed

TAKES_VALUE = (
    "--seeds",
    "--seed-list",
    "--name",
    "--metric",
    "-M",
    "--workers",
    "-j",
    "--timeout",
    "--executor",
    "--address",
    "--cpus-per-trial",
    "--gpus-per-trial",
    "--exclude",
    "--ship-limit",
    "--store",
    "--until-ci",
    "--max-seeds",
)
FLAGS = ("--retry-failed", "--no-fork", "--mlflow", "--all-ranks")  # --mlflow takes its URI as --mlflow=URI
SHORT = ("-j", "-M")
DEFAULT_MAX_SEEDS = 100
MIN_SEEDS = 5  # --until-ci: an interval from fewer values is too rough to trust (see `seedlock stats`)
MAX_SEEDS = 1_000_000  # the plan is a list: --seeds 10**20 was an OverflowError, 5 * 10**9 a MemoryError


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """``(seedlock's options + ["--", SCRIPT], the script's arguments)``: options stop at the script."""
    ours: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # before SCRIPT: all ours
        ours.append(args[i])
        if args[i] in TAKES_VALUE and i + 1 < len(args):
            ours.append(args[i + 1])
            i += 1
        i += 1
    if i < len(args) and args[i] == "--":
        i += 1
    if i >= len(args):
        return ours, []
    return [*ours, "--", args[i]], args[i + 1 :]


def _dashes(args: list[str]) -> bool:
    """Whether ``--`` came right before SCRIPT: ``repeat [OPTIONS] -- COMMAND ARGS``.

    >>> _dashes(["--seeds", "2", "--", "torchrun", "t.py"]), _dashes(["--seeds", "2", "t.py"])
    (True, False)
    """
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in TAKES_VALUE else 1
    return i < len(args) and args[i] == "--"


class RepeatCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(
            a in ("-h", "--help")
            for a in args[: next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))]
        ):
            return super().parse_args(ctx, args)
        ours, theirs = split_args(args)
        ctx.meta["seedlock.script_args"] = theirs
        ctx.meta["seedlock.dashes"] = _dashes(args)
        if args and args[-1] == "--" and _dashes(args):
            raise click.UsageError(
                "nothing after --; pass a command, e.g. seedlock repeat --seeds 10 -- torchrun --nproc-per-node 2 "
                "train.py"
            )
        return super().parse_args(ctx, ours)


def _seed_list(text: str) -> list[int]:
    seeds = [validate_seed(s.strip(), source="--seed-list") for s in text.split(",") if s.strip()]
    if not seeds:
        raise SeedlockError(f"--seed-list {text!r} has no seeds; pass e.g. --seed-list 1,5,9")
    if len(set(seeds)) != len(seeds):
        raise SeedlockError(f"--seed-list {text!r} repeats a seed; list each seed once")
    return seeds


def _positive(value: float | None, option: str, example: str) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):  # click's float takes nan and inf
        raise SeedlockError(
            f"{option} must be positive and finite, got {value:g}; pass e.g. {option} {example}"
        )


def _ray_options(
    executor: str,
    address: str | None,
    cpus: float | None,
    gpus: float | None,
    excludes: tuple[str, ...],
    ship_limit: float | None,
) -> None:
    """The Ray options make sense together, or one line says which does not."""
    given = [
        name
        for name, value in (
            ("--address", address),
            ("--cpus-per-trial", cpus),
            ("--gpus-per-trial", gpus),
            ("--exclude", excludes or None),
            ("--ship-limit", ship_limit),
        )
        if value is not None
    ]
    if given and executor != "ray":
        raise SeedlockError(f"{given[0]} is for --executor ray; add --executor ray, or drop {given[0]}")
    for name, value in (("--exclude", excludes or None), ("--ship-limit", ship_limit)):
        if value is not None and address is None:
            raise SeedlockError(
                f"{name} is for --address: only a cluster's nodes get the working directory shipped; "
                f"add --address ADDR, or drop {name}"
            )
    _positive(cpus, "--cpus-per-trial", "2")
    _positive(ship_limit, "--ship-limit", "500")
    if gpus is not None and not (gpus >= 0 and math.isfinite(gpus) and (gpus < 1 or gpus == int(gpus))):
        raise SeedlockError(
            f"--gpus-per-trial must be a whole number of GPUs or a fraction below 1, got {gpus:g}; "
            "pass e.g. --gpus-per-trial 1 or 0.5"
        )


def _count(value: int | None, option: str, least: int, example: str) -> None:
    if value is not None and value < least:
        raise SeedlockError(f"{option} must be at least {least}, got {value}; pass e.g. {option} {example}")
    if value is not None and value > MAX_SEEDS:
        raise SeedlockError(
            f"{option} must be at most {MAX_SEEDS}, got {value}; pass e.g. {option} {example}"
        )


def plan_seeds(
    seeds: int | None,
    seed_list: str | None,
    until_ci: float | None,
    max_seeds: int | None,
    metrics: tuple[str, ...],
) -> tuple[list[int], int]:
    """The seeds to run, in order, and (for --until-ci) how many must finish ok before stopping."""
    _count(seeds, "--seeds", 1, "10")
    listed = _seed_list(seed_list) if seed_list is not None else None
    if until_ci is None:
        if max_seeds is not None:
            raise SeedlockError("--max-seeds goes with --until-ci; pass --seeds N for a fixed number")
        if listed is not None and seeds is not None and seeds != len(listed):
            raise SeedlockError(f"--seeds {seeds} but --seed-list has {len(listed)} seeds; pass one of them")
        if listed is None and seeds is None:
            raise SeedlockError("how many seeds? pass --seeds N (e.g. --seeds 10) or --seed-list 1,5,9")
        return listed if listed is not None else list(range(seeds or 0)), 0
    _positive(until_ci, "--until-ci", "0.01")
    if not metrics:
        raise SeedlockError("--until-ci needs the metric whose interval to narrow; pass --metric NAME")
    _count(max_seeds, "--max-seeds", 2, "50")
    pool = listed if listed is not None else list(range(max_seeds or DEFAULT_MAX_SEEDS))
    if listed is not None and max_seeds is not None:
        pool = pool[:max_seeds]
    return pool, max(2, seeds or MIN_SEEDS)


@click.command(
    cls=RepeatCommand, epilog="Example: seedlock repeat --seeds 10 --metric val_acc train.py --epochs 3"
)
@click.option(
    "--seeds", type=int, metavar="N", help="Run seeds 0..N-1 (with --until-ci: at least N, default 5)."
)
@click.option("--seed-list", metavar="S,S,...", help="Run these seeds instead, e.g. 1,5,9.")
@click.option(
    "--name", metavar="EXP", help="Experiment name. Default: the script's stem (+ a hash of its args)."
)
@click.option(
    "--metric",
    "-M",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="A metric to summarise at the end; it must be reported (repeat for more).",
)
@click.option(
    "--workers",
    "-j",
    type=int,
    metavar="W",
    help="Trials at once. Default: one per CPU core (with --address: every trial slot of the cluster).",
)
@click.option(
    "--timeout", type=float, metavar="S", help="Kill a trial after S seconds (recorded as timeout)."
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run trials here, or on a Ray cluster (a fork-server per node).",
)
@click.option(
    "--address", metavar="ADDR", help="With --executor ray: the cluster to join (ray.init(address=...))."
)
@click.option(
    "--cpus-per-trial",
    type=float,
    metavar="N",
    help="With --executor ray: CPUs each trial holds (default 1).",
)
@click.option(
    "--gpus-per-trial",
    type=float,
    metavar="N",
    help="With --executor ray: GPUs each trial holds (default 0).",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="PATTERN",
    help="With --address: leave files matching PATTERN out of what is shipped to the nodes (repeat for more).",
)
@click.option(
    "--ship-limit",
    type=float,
    metavar="MIB",
    help="With --address: the most the working directory may weigh when shipped (default 100 MiB).",
)
@click.option(
    "--store",
    "store_path",
    metavar="PATH",
    default=str(DEFAULT_STORE),
    show_default=True,
    help="The store file.",
)
@click.option("--retry-failed", is_flag=True, help="Rerun seeds that failed, timed out or were killed.")
@click.option(
    "--until-ci",
    type=float,
    metavar="WIDTH",
    help="Add seeds until the 95% CI half-width of each --metric is at most WIDTH.",
)
@click.option(
    "--max-seeds",
    type=int,
    metavar="K",
    help=f"With --until-ci: stop after K seeds (default {DEFAULT_MAX_SEEDS}).",
)
@click.option("--no-fork", is_flag=True, help="A fresh interpreter per trial, not the fork-server.")
@click.option(
    "--all-ranks",
    is_flag=True,
    help="Store the metrics every rank of a distributed trial logs (rank r's as NAME@rankR), not rank 0's alone.",
)
@click.option(
    "--mlflow",
    "mlflow_uri",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[=URI]",
    help="Then export to MLflow: one run per trial under a parent run (default: sqlite .seedlock/mlflow.db).",
)
@click.argument("script", metavar="SCRIPT [ARGS]...")
@click.pass_context
def repeat(
    ctx: click.Context,
    seeds: int | None,
    seed_list: str | None,
    name: str | None,
    metrics: tuple[str, ...],
    workers: int | None,
    timeout: float | None,
    executor: str,
    address: str | None,
    cpus_per_trial: float | None,
    gpus_per_trial: float | None,
    excludes: tuple[str, ...],
    ship_limit: float | None,
    store_path: str,
    retry_failed: bool,
    until_ci: float | None,
    max_seeds: int | None,
    no_fork: bool,
    all_ranks: bool,
    mlflow_uri: str | None,
    script: str,
) -> None:
    """Run SCRIPT [ARGS...] once per seed, as `seedlock run --seed S` would, keeping every result.

    Each trial's metrics (Keras History, seedlock.log_metric(), JSON lines on stdout), exit
    status, fingerprint and manifest go to the store as it ends. Run the same command again to
    resume; read the results with `seedlock stats EXP`. See docs/repeat.md.
    """
    from seedlock.launch.command import check_after_script, find_program, is_command

    script_args = list(ctx.meta.get("seedlock.script_args", []))
    command = bool(ctx.meta.get("seedlock.dashes")) and is_command((script,))
    if command:  # `repeat -- torchrun ... train.py`: any program, its Python processes seeded
        script = find_program(script, None)
    else:
        check_after_script("repeat", script, script_args, (*TAKES_VALUE, *FLAGS))
    plan, min_seeds = plan_seeds(seeds, seed_list, until_ci, max_seeds, metrics)
    if workers is not None and workers < 1:
        raise SeedlockError(f"--workers must be at least 1, got {workers}; pass e.g. --workers 2")
    _positive(timeout, "--timeout", "600")
    _ray_options(executor, address, cpus_per_trial, gpus_per_trial, excludes, ship_limit)
    if mlflow_uri is not None:  # checked now, not when the trials are done
        from seedlock.integrations.mlflow import default_tracking_uri
        from seedlock.launch.paths import check_sqlite_uri

        check_sqlite_uri(mlflow_uri or default_tracking_uri(), "--mlflow", "--mlflow=sqlite:///mlflow.db")
    if workers is None and address is not None:
        workers = 0  # as many as the cluster has trial slots (repeat.run)
    elif workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    from seedlock.repeat.driver import Options
    from seedlock.repeat.run import repeat as run_repeat

    opts = Options(
        script=script,
        args=script_args,
        seeds=plan,
        store=store_path,
        name=name,
        metrics=list(dict.fromkeys(metrics)),
        workers=workers,
        timeout=timeout,
        executor=executor,
        address=address,
        cpus_per_trial=1.0 if cpus_per_trial is None else cpus_per_trial,
        gpus_per_trial=gpus_per_trial or 0.0,
        excludes=list(excludes),
        ship_limit_mib=ship_limit,
        retry_failed=retry_failed,
        until_ci=until_ci,
        min_seeds=min_seeds,
        fork=not no_fork and not command,
        command=command,
        all_ranks=all_ranks,
    )
    code = run_repeat(opts)
    if mlflow_uri is not None:
        from seedlock.integrations.mlflow import export
        from seedlock.repeat.run import default_name

        exp = name or default_name(script, opts.args, command) + ("-all-ranks" if all_ranks else "")
        parent = export(store_path, exp, mlflow_uri or None)
        click.echo(f"MLflow: experiment {exp!r} exported, parent run {parent}", err=True)
    if code:
        sys.exit(code)
