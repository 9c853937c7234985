"""``seedlock runs``, ``stats``, ``compare``, ``power`` and ``report``: read the store ``seedlock repeat`` fills.

Inputs are checked (store, experiment, metric) before numpy and scipy are imported, so a typo
is answered at once; every problem is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from seedlock.errors import SeedlockError
from seedlock.repeat.records import Experiment
from seedlock.repeat.store import DEFAULT_STORE, Store

if TYPE_CHECKING:
    from rich.console import Console

store_option = click.option(
    "--store",
    "store_path",
    metavar="PATH",
    default=str(DEFAULT_STORE),
    show_default=True,
    help="The store `seedlock repeat` writes to.",
)
metric_option = click.option(
    "--metric",
    "-M",
    "metrics",
    metavar="M",
    multiple=True,
    help="Only this metric (repeat for more). Default: every metric.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _console() -> Console:
    from rich.console import Console

    # Names are data, not markup. Piped output gets a wide table rather than rich's 80 columns,
    # which would cut experiment names and commands.
    width = None if sys.stdout.isatty() else 200
    console = Console(highlight=False, markup=False, emoji=False, width=width)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # piped or captured: do not squeeze the tables into 80 columns
    return console


def _open(path: str) -> Store:
    return Store(path, create=False)


def _clean(obj: Any) -> Any:
    """JSON has no NaN or infinity: write null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(_clean(obj), indent=2, allow_nan=False))


def _pick_metrics(store: Store, exps: Sequence[Experiment], wanted: Sequence[str]) -> list[str]:
    """The metrics every experiment in ``exps`` reported from an ok trial; ``wanted`` must be among them."""
    per_exp = [set(store.metric_names(x)) for x in exps]
    common = sorted(set.intersection(*per_exp))
    for x, names in zip(exps, per_exp, strict=True):
        if not names:
            ended = {t.status for t in store.trials(x)}
            why = (
                "it has no trials"
                if not ended
                else "its ok trials reported no metric"
                if "ok" in ended
                else f"no trial finished ok: {', '.join(sorted(ended))}"
            )
            raise SeedlockError(f"nothing to summarise for {x.name!r} ({why}); see `seedlock runs {x.name}`")
        for m in wanted:
            if m not in names:
                raise SeedlockError(
                    f"no ok trial of {x.name!r} reported metric {m!r}; metrics there: "
                    f"{', '.join(repr(n) for n in sorted(names))}"
                )
    if not wanted and not common:
        listed = "; ".join(f"{x.name!r}: {', '.join(sorted(n))}" for x, n in zip(exps, per_exp, strict=True))
        raise SeedlockError(f"the experiments share no metric, so there is nothing to compare ({listed})")
    return list(dict.fromkeys(wanted)) if wanted else common


def _ci(low: float | None, high: float | None) -> str:
    from seedlock.repeat.summary import fmt

    return "-" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


@click.command(epilog="Examples: seedlock runs; seedlock runs baseline --store results/seedlock.db")
@click.argument("experiment", required=False)
@store_option
@json_option
def runs(experiment: str | None, store_path: str, as_json: bool) -> None:
    """List the experiments in the store with their trial counts, or one EXPERIMENT's trials
    (with the Ray node each ran on, where one did)."""
    from rich.table import Table

    from seedlock.repeat.summary import fmt

    console = _console()
    with _open(store_path) as store:
        if experiment is None:
            listing = store.runs()
            if as_json:
                _print_json(
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
            _print_json(
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
    with _open(store_path) as store:
        exp = store.experiment(experiment, create=False)
        chosen = _pick_metrics(store, [exp], metrics)
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
        _print_json(
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
                _ci(s.mean_ci.low, s.mean_ci.high) + (" !" if s.mean_ci_flags else ""),
                fmt(s.sd),
                fmt(s.median),
                _ci(s.median_ci.low, s.median_ci.high),
                fmt(s.iqm),
                _ci(s.iqm_ci.low, s.iqm_ci.high),
                f"{fmt(s.min)} .. {fmt(s.max)}",
            )
        _console().print(table)
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


@click.command(
    epilog="Examples: seedlock compare wider baseline --metric val_acc; seedlock compare a b c (every pair)"
)
@click.argument("experiments", nargs=-1, required=True, metavar="A B [C ...]")
@metric_option
@click.option(
    "--paired/--unpaired",
    default=None,
    help="Pair trials by seed. Default: paired when both of a pair ran the same seeds.",
)
@store_option
@json_option
def compare(
    experiments: tuple[str, ...],
    metrics: tuple[str, ...],
    paired: bool | None,
    store_path: str,
    as_json: bool,
) -> None:
    """Compare each metric of A with B: the difference of means with its CI, t, rank and
    permutation tests, P(A>B), Hedges' g. With more experiments, every pair (the first named
    minus the second). p-values are Holm-adjusted over every pair and metric compared."""
    if len(experiments) < 2:
        raise SeedlockError(
            f"compare needs two or more experiments, got 1 ({experiments[0]!r}); "
            f"pass e.g. `seedlock compare {experiments[0]} OTHER`"
        )
    twice = sorted({x for x in experiments if experiments.count(x) > 1})
    if twice:
        raise SeedlockError(
            f"{twice[0]!r} is named twice; name each experiment once, e.g. `seedlock compare "
            f"{' '.join(dict.fromkeys(experiments))}`"
        )
    with _open(store_path) as store:
        exps = [store.experiment(x, create=False) for x in experiments]
        chosen = _pick_metrics(store, exps, metrics)
        values = {x.name: {m: store.metric_values(x, m) for m in chosen} for x in exps}
    from rich.table import Table

    from seedlock.repeat.pairwise import compare_pairs
    from seedlock.repeat.summary import fmt

    pairs = compare_pairs(values, paired=paired)
    n_pairs, n_metrics = len(pairs), len(chosen)
    if as_json:
        if n_pairs == 1:  # two experiments: the shape it always had
            ((a, b), results), *_ = pairs.items()
            out: dict[str, Any] = {"a": a, "b": b, "store": store_path}
            out["metrics"] = {m: c.to_dict() for m, c in results.items()}
        else:
            out = {
                "experiments": list(experiments),
                "store": store_path,
                "correction": {
                    "method": "Holm",
                    "pairs": n_pairs,
                    "metrics": n_metrics,
                    "family": n_pairs * n_metrics,
                },
                "pairs": [
                    {"a": a, "b": b, "metrics": {m: c.to_dict() for m, c in results.items()}}
                    for (a, b), results in pairs.items()
                ],
            }
        _print_json(out)
        return
    console = _console()
    if n_pairs > 1:
        click.echo(
            f"{len(experiments)} experiments, every pair (A minus B, A the first named): p-values "
            f"with Holm's correction over {n_pairs} pairs x {n_metrics} metric{'s' if n_metrics > 1 else ''} "
            f"= {n_pairs * n_metrics} comparisons per kind of test"
        )
    for (a, b), results in pairs.items():
        for m, c in results.items():
            # The difference and the tests pair by seed when c.paired; P(A > B) and Hedges' g never do.
            how = "paired by seed" if c.paired else "unpaired"
            which = "difference and tests paired by seed" if c.paired else "unpaired"
            table = Table("", "value", "pairing", title=f"{m}: {a} vs {b} ({which}, n = {c.n_a} / {c.n_b})")
            rows = [
                ("mean A / mean B", f"{fmt(c.mean_a)} / {fmt(c.mean_b)}", ""),
                (
                    "difference A - B",
                    f"{fmt(c.diff)}  95% CI {_ci(c.diff_ci.low, c.diff_ci.high)} ({c.diff_ci.method})",
                    how,
                ),
                (f"{c.t_test} test", f"p = {fmt(c.t_p, 3)}  (Holm {fmt(c.t_p_holm, 3)})", how),
                (c.rank_test, f"p = {fmt(c.rank_p, 3)}  (Holm {fmt(c.rank_p_holm, 3)})", how),
                (
                    "permutation test",
                    f"p = {fmt(c.perm_p, 3)}  (Holm {fmt(c.perm_p_holm, 3)})"
                    + ("" if c.perm_exact else ", sampled"),
                    how,
                ),
                (
                    "P(A > B)",
                    f"{fmt(c.p_gt, 3)}  95% CI {_ci(c.p_gt_ci.low, c.p_gt_ci.high)}",
                    "unpaired: every seed of A against every seed of B",
                ),
                ("Hedges' g", fmt(c.hedges_g, 3), "unpaired: pooled SD of A and B"),
            ]
            for row in rows:
                table.add_row(*row)
            console.print(table)
            for note in c.notes:
                click.echo(f"  note: {note}")
            for w in c.warnings:
                click.echo(f"seedlock: warning: {m}: {w}", err=True)


@click.command(
    epilog="Examples: seedlock power; seedlock power --p-gt 0.7; seedlock power --delta 0.01 --sd 0.02"
)
@click.option(
    "--p-gt",
    type=float,
    metavar="P",
    help="P(A > B) to detect with a rank test: the chance a random seed of A beats one of B (default 0.75).",
)
@click.option("--delta", type=float, metavar="D", help="Difference of means to detect, t-test (needs --sd).")
@click.option(
    "--sd", type=float, metavar="S", help="SD of the metric across seeds, from a pilot (`seedlock stats`)."
)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option(
    "--power",
    "power_",
    type=float,
    metavar="POWER",
    help="Chance to detect the effect if it is there (default 0.95 for --p-gt, 0.8 for --delta).",
)
@json_option
def power(
    p_gt: float | None,
    delta: float | None,
    sd: float | None,
    alpha: float,
    power_: float | None,
    as_json: bool,
) -> None:
    """How many seeds per experiment: for a rank test to detect P(A > B) = P (Noether's formula),
    or with --delta and --sd, for a t-test to detect a difference D of means."""
    from seedlock.repeat.power import noether_n, t_test_n, t_test_power

    if delta is not None or sd is not None:
        if p_gt is not None:
            raise click.UsageError("pass --p-gt, or --delta with --sd, not both")
        if delta is None or sd is None:
            raise click.UsageError(
                "--delta and --sd go together: the difference to detect and the SD across seeds"
            )
        pw = 0.8 if power_ is None else power_
        n = t_test_n(delta, sd, alpha, pw)
        result = {
            "test": "two-sample t, two-sided",
            "delta": delta,
            "sd": sd,
            "cohens_d": abs(delta) / sd,
            "alpha": alpha,
            "power": pw,
            "per_experiment": n,
            "achieved_power": t_test_power(n, delta, sd, alpha),
        }
        text = (
            f"{n} seeds per experiment ({2 * n} in all) to detect a difference of {delta} in means "
            f"(SD {sd}, Cohen's d {abs(delta) / sd:.3g}) with a two-sided t-test at alpha {alpha} "
            f"with {pw:.0%} power (exact: noncentral t; achieved {result['achieved_power']:.3f})."
        )
    else:
        p = 0.75 if p_gt is None else p_gt
        pw = 0.95 if power_ is None else power_
        one, two = noether_n(p, alpha, pw), noether_n(p, alpha, pw, two_sided=True)
        result = {
            "test": "Mann-Whitney (Noether 1987)",
            "p_gt": p,
            "alpha": alpha,
            "power": pw,
            "per_experiment_one_sided": one,
            "per_experiment_two_sided": two,
        }
        # P(A > B) is about single seeds, not means: say so, and which way the one-sided test looks.
        side = "above" if p > 0.5 else "below"
        text = (
            f"{one} seeds per experiment ({2 * one} in all) to detect P(A > B) = {p}, that is a random seed "
            f"of A beats a random seed of B {p * 100:.3g}% of the time, with a one-sided rank test (alternative: "
            f"P(A > B) {side} 1/2) at alpha {alpha} with {pw:.0%} power;\n{two} per experiment ({2 * two} "
            "in all) for the two-sided tests `seedlock compare` runs (alternative: P(A > B) differs from "
            "1/2, either way). Noether (1987)."
        )
    if as_json:
        _print_json(result)
    else:
        click.echo(text)


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
    with _open(store_path) as store:
        exps = [store.experiment(x, create=False) for x in experiments]
        from seedlock.repeat.report import render_html

        path = render_html(store, exps, out, metrics or None)
    click.echo(str(path))
