"""``seedlock compare`` and ``power``: experiments compared metric by metric, and how many seeds
a comparison needs to see a given difference."""

from __future__ import annotations

from typing import Any

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
    with open_store(store_path) as store:
        exps = [store.experiment(x, create=False) for x in experiments]
        chosen = pick_metrics(store, exps, metrics)
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
        print_json(out)
        return
    console = make_console()
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
                    f"{fmt(c.diff)}  95% CI {ci_text(c.diff_ci.low, c.diff_ci.high)} ({c.diff_ci.method})",
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
                    f"{fmt(c.p_gt, 3)}  95% CI {ci_text(c.p_gt_ci.low, c.p_gt_ci.high)}",
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
        print_json(result)
    else:
        click.echo(text)
