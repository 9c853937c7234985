"""``seedlock runs``, ``stats`` and ``report``: read the store ``seedlock repeat`` fills (``compare``
and ``power``: :mod:`seedlock.cli.compare`).

Inputs are checked (store, experiment, metric) before numpy and scipy are imported, so a typo
is answered at once; every problem is one line on stderr and exit code 2.
"""

from __future__ import annotations

import click

from seedlock.cli.readstore import (
    ci_text,
    json_option,
    make_console,
    metric_option,
    open_store,
    pick_metrics,
    print_json,
    store_option,
)
from seedlock.errors import SeedlockError
from seedlock.repeat.records import Experiment
from seedlock.repeat.store import Store


@click.command(epilog="Examples: seedlock runs; seedlock runs baseline --store results/seedlock.db")
@click.argument("experiment", required=False)
@store_option
@json_option
def runs(experiment: str | None, store_path: str, as_json: bool) -> None:
    """List the experiments in the store with their trial counts, or one EXPERIMENT's trials
    (with the Ray node each ran on, where one did)."""
    from rich.table import Table

    from seedlock.repeat.summary import fmt

    console = make_console()
    with open_store(store_path) as store:
        if experiment is None:
            listing = store.runs()
            if as_json:
                print_json(
                    [
                        {
                            "experiment": r.experiment.name,
                            "counts": r.counts,
                            "total": r.total,
                            "created": r.experiment.created,
                            "script": r.experiment.script,
                            "args": r.experiment.args,
                        }
                        for r in listing
                    ]
                )
                return
            if not listing:
                click.echo(f"no experiments yet in {store_path}; run `seedlock repeat` first")
                return
            table = Table("experiment", "ok", "failed", "running", "total", "created", "command")
            for r in listing:
                bad = r.total - r.counts.get("ok", 0) - r.counts.get("running", 0)
                command = " ".join([r.experiment.script or "?", *r.experiment.args])
                table.add_row(
                    r.experiment.name,
                    str(r.counts.get("ok", 0)),
                    str(bad),
                    str(r.counts.get("running", 0)),
                    str(r.total),
                    r.experiment.created[:19],
                    command,
                )
            console.print(table)
            return
        trials = store.trials(store.experiment(experiment, create=False))
        if as_json:
            keys = (
                "seed",
                "status",
                "exit_code",
                "reason",
                "duration_s",
                "fingerprint",
                "node",
                "started",
                "finished",
            )
            print_json(
                {"experiment": experiment, "trials": [{k: getattr(t, k) for k in keys} for t in trials]}
            )
            return
        placed = any(t.node for t in trials)
        head = [
            "seed",
            "status",
            "exit",
            "duration (s)",
            "fingerprint",
            *(["node"] if placed else []),
            "reason",
        ]
        table = Table(*head, title=experiment)
        for t in trials:
            node = [t.where] if placed else []
            table.add_row(
                str(t.seed),
                t.status,
                "" if t.exit_code is None else str(t.exit_code),
                fmt(t.duration_s, 3),
                (t.fingerprint or "")[:16],
                *node,
                t.reason or "",
            )
        console.print(table)
        if not trials:
            click.echo(f"{experiment!r} has no trials yet")


def _excluded_line(store: Store, exp: Experiment) -> tuple[str, list[int]]:
    trials = store.trials(exp)
    out = [t for t in trials if t.status != "ok"]
    if not out:
        return f"{exp.name}: {len(trials)} ok trials", []
    kinds: dict[str, int] = {}
    for t in out:
        kinds[t.status] = kinds.get(t.status, 0) + 1
    how = ", ".join(f"{n} {s}" for s, n in sorted(kinds.items()))
    seeds = [t.seed for t in out]
    shown = ", ".join(map(str, seeds[:10])) + (", ..." if len(seeds) > 10 else "")
    return (
        f"{exp.name}: {len(trials) - len(out)} ok trials; {len(out)} did not finish ok ({how}) "
        f"and are excluded: seeds {shown}"
    ), seeds


@click.command(epilog="Example: seedlock stats baseline --metric val_acc")
@click.argument("experiment")
@metric_option
@store_option
@json_option
def stats(experiment: str, metrics: tuple[str, ...], store_path: str, as_json: bool) -> None:
    """Summarise each metric of EXPERIMENT over its seeds: mean with a t CI, SD, median and IQM
    with bootstrap CIs, range. Only trials that finished ok count; the others are listed. A t CI
    marked ! reaches past 0 where no value is, or comes from strongly skewed values."""
    with open_store(store_path) as store:
        exp = store.experiment(experiment, create=False)
        chosen = pick_metrics(store, [exp], metrics)
        line, excluded = _excluded_line(store, exp)
        values = {m: store.metric_values(exp, m) for m in chosen}
    from rich.table import Table

    from seedlock.repeat.summary import describe, fmt

    summaries = {}
    for m, v in values.items():
        try:
            summaries[m] = describe(v)
        except SeedlockError as exc:
            raise SeedlockError(f"metric {m!r} of {experiment!r}: {exc}") from None
    if as_json:
        print_json(
            {
                "experiment": experiment,
                "store": store_path,
                "excluded_seeds": excluded,
                "metrics": {m: s.to_dict() for m, s in summaries.items()},
            }
        )
    else:
        click.echo(line)
        table = Table(
            "metric", "n", "mean", "95% CI (t)", "SD", "median", "95% CI", "IQM", "95% CI", "min .. max"
        )
        for m, s in summaries.items():
            table.add_row(
                m,
                str(s.n),
                fmt(s.mean),
                ci_text(s.mean_ci.low, s.mean_ci.high) + (" !" if s.mean_ci_flags else ""),
                fmt(s.sd),
                fmt(s.median),
                ci_text(s.median_ci.low, s.median_ci.high),
                fmt(s.iqm),
                ci_text(s.iqm_ci.low, s.iqm_ci.high),
                f"{fmt(s.min)} .. {fmt(s.max)}",
            )
        make_console().print(table)
        flagged = [m for m, s in summaries.items() if s.mean_ci_flags]
        if flagged:  # the numbers stay as computed; the mark says not to lean on them
            click.echo(
                f"! the t CI of {', '.join(flagged)} reaches past 0 to a side no value is on, or rests on "
                "strongly skewed values (the warning says which): read the bootstrap CIs of the median and "
                "IQM instead"
            )
    for m, s in summaries.items():
        for w in s.warnings:
            click.echo(f"seedlock: warning: {m}: {w}", err=True)


@click.command(epilog="Example: seedlock report baseline wider --html report.html")
@click.argument("experiments", nargs=-1, required=True)
@metric_option
@click.option(
    "--html", "out", metavar="OUT", default="report.html", show_default=True, help="The HTML file to write."
)
@store_option
def report(experiments: tuple[str, ...], metrics: tuple[str, ...], out: str, store_path: str) -> None:
    """Write one self-contained HTML report of EXPERIMENTS: summaries, plots, trials, a manifest,
    and when there are several, each compared with the first."""
    from seedlock.launch.paths import check_output

    check_output(out, "--html", "--html report.html")  # now, not after the statistics
    with open_store(store_path) as store:
        exps = [store.experiment(x, create=False) for x in experiments]
        from seedlock.repeat.report import render_html

        path = render_html(store, exps, out, metrics or None)
    click.echo(str(path))
