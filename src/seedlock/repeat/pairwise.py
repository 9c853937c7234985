"""Every pair of several experiments, compared: `seedlock compare A B C ...`.

Each pair is compared as :func:`seedlock.repeat.stats.compare` does (differences are the first
named minus the second); the p-values are then Holm-adjusted over the whole family, one family
per kind of test (t, rank, permutation), every pair times every metric. With two experiments
the family is the metrics alone: the same numbers as :func:`~seedlock.repeat.stats.compare_many`.

>>> v = {"a": {"acc": {0: 0.91, 1: 0.93, 2: 0.92}}, "b": {"acc": {0: 0.89, 1: 0.90, 2: 0.91}},
...      "c": {"acc": {0: 0.80, 1: 0.82, 2: 0.81}}}
>>> list(compare_pairs(v, n_boot=200))
[('a', 'b'), ('a', 'c'), ('b', 'c')]
>>> family_size(compare_pairs(v, n_boot=200))
3
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace

from seedlock.errors import SeedlockError
from seedlock.repeat.stats import Comparison, compare, holm
from seedlock.repeat.twosample import EXACT_LIMIT

Pairs = dict[tuple[str, str], dict[str, Comparison]]
TESTS = ("t_p", "rank_p", "perm_p")


def compare_pairs(
    values: Mapping[str, Mapping[str, Mapping[int, float]]],
    *,
    paired: bool | None = None,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    n_perm: int = EXACT_LIMIT,
    seed: int = 0,
) -> Pairs:
    """Compare every pair of ``values`` (``{experiment: {metric: {seed: value}}}``), in the order
    given: ``{(a, b): {metric: Comparison}}`` with Holm-adjusted p-values over all pairs and metrics.

    Every experiment must have the metrics of the first. ``paired`` applies to every pair; None
    pairs each pair by seed when both of it ran the same seeds.
    """
    names = list(values)
    if len(names) < 2:
        raise SeedlockError(
            f"compare needs two or more experiments, got {len(names)}; pass e.g. `seedlock compare A B`"
        )
    metrics = list(values[names[0]])
    for name in names[1:]:
        missing = [m for m in metrics if m not in values[name]]
        if missing:
            raise SeedlockError(f"metrics {missing} are missing in {name!r}; compare only metrics all have")
    out: Pairs = {
        (a, b): {
            m: compare(
                values[a][m],
                values[b][m],
                paired=paired,
                names=(a, b),
                confidence=confidence,
                n_boot=n_boot,
                n_perm=n_perm,
                seed=seed,
            )
            for m in metrics
        }
        for a, b in itertools.combinations(names, 2)
    }
    family = [(pair, m) for pair in out for m in metrics]
    adjusted = {f: holm([getattr(out[pair][m], f) for pair, m in family]) for f in TESTS}
    for i, (pair, m) in enumerate(family):
        out[pair][m] = replace(
            out[pair][m],
            t_p_holm=adjusted["t_p"][i],
            rank_p_holm=adjusted["rank_p"][i],
            perm_p_holm=adjusted["perm_p"][i],
        )
    return out


def family_size(pairs: Pairs) -> int:
    """How many hypotheses Holm's correction ran over: pairs times metrics."""
    return sum(len(by_metric) for by_metric in pairs.values())
