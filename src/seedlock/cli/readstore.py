"""What the commands that read the store share (``runs``, ``stats``, ``compare``, ``report``): the
``--store``, ``--metric`` and ``--json`` options, the console, JSON output, the metrics to use."""

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


def make_console() -> Console:
    from rich.console import Console

    # Names are data, not markup. Piped output gets a wide table rather than rich's 80 columns,
    # which would cut experiment names and commands.
    width = None if sys.stdout.isatty() else 200
    console = Console(highlight=False, markup=False, emoji=False, width=width)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # piped or captured: do not squeeze the tables into 80 columns
    return console


def open_store(path: str) -> Store:
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


def print_json(obj: Any) -> None:
    click.echo(json.dumps(_clean(obj), indent=2, allow_nan=False))


def pick_metrics(store: Store, exps: Sequence[Experiment], wanted: Sequence[str]) -> list[str]:
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


def ci_text(low: float | None, high: float | None) -> str:
    from seedlock.repeat.summary import fmt

    return "-" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"
