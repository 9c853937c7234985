"""Statistics of `seedlock repeat`: known answers, agreement with scipy, degenerate inputs, the CLI."""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from conftest import run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat import stats
from seedlock.repeat.power import ci_halfwidth, noether_n, t_test_n, t_test_power
from seedlock.repeat.store import Store

# rliable's test cases (tests/metrics_test.py there), flattened over tasks.
X = [1.0, 2, 2, 2, 1, 1, 2, 1]  # [[1, 2], [2, 2], [1, 1], [2, 1]]
Y = [1.0, 1, 2, 2, 3, 3]  # [[1, 1], [2, 2], [3, 3]]


def no_nan(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isnan(obj)
    if isinstance(obj, dict):
        return all(no_nan(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(no_nan(v) for v in obj)
    return True


def test_rliable_known_answers() -> None:
    x, y = stats.describe(X), stats.describe(Y)
    assert (x.mean, x.median, x.iqm) == (1.5, 1.5, 1.5)
    assert (y.mean, y.median, y.iqm) == (2.0, 2.0, 2.0)
    assert stats.p_greater(X, Y) == 1 / 3
    assert x.iqm == sps.trim_mean(X, 0.25)


def test_p_greater_is_mann_whitney_u_over_pairs() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 7).astype(float)  # with ties
    assert stats.p_greater(a, b) == pytest.approx(sps.mannwhitneyu(a, b).statistic / (9 * 7))


def test_permutation_test_known_answer_and_scipy_agreement() -> None:
    assert stats.permutation_test([10, 10, 10], [0], paired=False) == (0.25, True)
    # The hand-written enumeration (for a side of one) agrees with scipy where scipy works.
    a, b = [3.0, 1.0, 4.0, 1.5], [5.0, 9.0, 2.0]
    pooled = np.array(a + b)
    obs = abs(np.mean(a) - np.mean(b))
    null = [
        abs(pooled[list(i)].mean() - np.delete(pooled, list(i)).mean())
        for i in itertools.combinations(range(7), 4)
    ]
    by_hand = float(np.mean(np.array(null) >= obs - 1e-12))
    assert stats.permutation_test(a, b, paired=False) == (pytest.approx(by_hand), True)
    p, exact = stats.permutation_test(list(range(20)), list(range(5, 25)), paired=False, n_resamples=2000)
    assert not exact and 0 < p <= 1  # too many splits to enumerate: sampled, seeded


def test_power_known_answers() -> None:
    assert noether_n(0.75, 0.05, 0.95) == 29  # per experiment, one-sided (Bouthillier et al. 2021)
    assert noether_n(0.75, 0.05, 0.95, two_sided=True) == 35  # 70 in all, with z_{1-alpha/2}
    assert noether_n(0.25) == 29  # symmetric
    # Exact (noncentral t) per-group sizes, as G*Power gives them; the normal approximation says 63 for d = 0.5.
    assert (t_test_n(1.0, 1.0), t_test_n(0.8, 1.0), t_test_n(0.5, 1.0), t_test_n(-0.5, 1.0)) == (
        17,
        26,
        64,
        64,
    )
    assert t_test_power(64, 0.5, 1) >= 0.8 > t_test_power(63, 0.5, 1)
    # Far out scipy's nct gives NaN, once read as "not enough power": 4 seeds for d = 10, 8 for d = 4 at 0.001.
    assert (t_test_n(10.0, 1.0), t_test_n(4.0, 1.0, alpha=0.001)) == (2, 5)
    assert round(t_test_power(2, 10.0, 1.0), 4) == 0.9927
    with pytest.raises(SeedlockError, match="no difference"):
        noether_n(0.5)
    with pytest.raises(SeedlockError, match="--sd must be a positive"):
        t_test_n(1.0, 0.0)


def test_cis_bracket_the_estimate_and_shrink_with_n() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 40, 160):
        s = stats.describe(rng.normal(5, 2, n))
        for est, ci in ((s.mean, s.mean_ci), (s.median, s.median_ci), (s.iqm, s.iqm_ci)):
            assert ci.low is not None and ci.high is not None and ci.low < est < ci.high
        assert s.median_ci.method == "BCa bootstrap" and s.mean_ci.method == "t"
        widths.append([ci.high - ci.low for ci in (s.mean_ci, s.median_ci, s.iqm_ci)])
    for w_small, w_big in itertools.pairwise(widths):
        assert all(b < a for a, b in zip(w_small, w_big, strict=True))
    assert ci_halfwidth(rng.normal(0, 1, 100)) < ci_halfwidth(rng.normal(0, 1, 10))


def test_describe_matches_scipy_and_is_deterministic() -> None:
    x = np.random.default_rng(1).normal(0, 1, 12)
    s = stats.describe(x)
    assert s.sd == pytest.approx(np.std(x, ddof=1)) and s.sem == pytest.approx(sps.sem(x))
    assert s.iqr == pytest.approx(sps.iqr(x))
    assert (s.mean_ci.low, s.mean_ci.high) == pytest.approx(
        sps.t.interval(0.95, 11, loc=x.mean(), scale=sps.sem(x))
    )
    assert stats.describe(x) == s  # the bootstrap has a seeded generator of its own
    assert s.values == tuple(x)
    # This draw is skewed (G1 = -1.69, one value far below the rest): the t CI is flagged, not changed.
    assert s.mean_ci_flags == ("skewed",) and len(s.warnings) == 1 and "skewed" in s.warnings[0]
    assert ci_halfwidth(x) == pytest.approx(s.mean_ci.high - s.mean)


def test_compare_unpaired_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(1, 1, 12), rng.normal(0, 2, 12)
    c = stats.compare(dict(enumerate(a)), {100 + i: v for i, v in enumerate(b)})  # different seeds
    assert not c.paired and c.t_test == "Welch t" and "compared unpaired" in c.notes[0]
    welch = sps.ttest_ind(a, b, equal_var=False)
    assert c.t_p == pytest.approx(welch.pvalue, rel=1e-12)
    assert (c.diff_ci.low, c.diff_ci.high) == pytest.approx(tuple(welch.confidence_interval()))
    assert c.rank_p == pytest.approx(
        sps.mannwhitneyu(a, b).pvalue, rel=1e-12
    )  # C(24, 12) > 1e5: normal approx.
    assert c.p_gt == pytest.approx(sps.mannwhitneyu(a, b).statistic / 144)
    assert c.p_gt_ci.low < c.p_gt < c.p_gt_ci.high
    small = stats.compare(dict(enumerate(a[:6])), {9 + i: v for i, v in enumerate(b[:6])})
    assert small.rank_test.endswith("exact")
    assert small.rank_p == pytest.approx(sps.mannwhitneyu(a[:6], b[:6], method="exact").pvalue)


def test_compare_paired_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, 10)
    a, b = base + rng.normal(0.5, 0.3, 10), base
    c = stats.compare(dict(enumerate(a)), dict(enumerate(b)))
    assert c.paired and c.t_test == "paired t" and c.perm_exact
    assert c.t_p == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
    assert c.rank_p == pytest.approx(sps.wilcoxon(a, b, method="exact").pvalue)
    assert (c.diff_ci.low, c.diff_ci.high) == pytest.approx(tuple(sps.ttest_rel(a, b).confidence_interval()))
    g = c.hedges_g
    assert g is not None and g > 0
    unpaired = stats.compare(dict(enumerate(a)), dict(enumerate(b)), paired=False)
    assert unpaired.t_p > c.t_p  # pairing removes the shared variation


def test_hedges_g_and_holm_known_values() -> None:
    assert stats.hedges_g([1, 2, 3], [2, 3, 4]) == pytest.approx(-0.797885, abs=1e-6)  # d = -1, J = 0.7979
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == [0.03, 0.06, 0.06, 0.02]
    assert stats.holm([0.5, None, 0.01]) == [0.5, None, 0.02]
    many = stats.compare_many(
        {"acc": {i: float(i) for i in range(6)}, "loss": {i: i % 2 + 0.1 for i in range(6)}},
        {"acc": {i: i + 3.0 for i in range(6)}, "loss": {i: i % 2 + 0.0 for i in range(6)}},
    )
    assert [many[m].t_p_holm for m in ("acc", "loss")] == stats.holm([many["acc"].t_p, many["loss"].t_p])


def test_degenerate_inputs_give_clear_results_never_nan() -> None:
    one = stats.describe([3.0])
    assert one.sd is None and one.mean_ci.low is None and "single value" in one.mean_ci.note
    assert any("n < 5" in w for w in one.warnings)
    two = stats.describe([1.0, 2.0])
    assert two.mean_ci.low is not None and two.median_ci.low is not None
    same = stats.describe([0.7] * 6)
    assert (same.median_ci.low, same.median_ci.high) == (0.7, 0.7) and "same" in same.median_ci.note
    lumpy = stats.describe([1.0, 1, 1, 1, 1, 2])  # BCa fails: falls back, and says so
    assert lumpy.median_ci.low is not None and lumpy.median_ci.note
    with_nan = stats.describe([1.0, float("nan"), 2.0, 3.0, float("inf"), 4, 5])
    assert with_nan.n == 5 and "2 value(s) were NaN or infinite" in with_nan.warnings[0]
    with pytest.raises(SeedlockError, match="no finite values"):
        stats.describe([float("nan")])
    equal = stats.compare({1: 1.0, 2: 1.0, 3: 1.0}, {1: 1.0, 2: 1.0, 3: 1.0})
    assert (equal.t_p, equal.rank_p, equal.perm_p, equal.p_gt) == (1.0, 1.0, 1.0, 0.5)
    flat = stats.compare({1: 1.0, 2: 1.0, 3: 1.0}, {4: 2.0, 5: 2.0, 6: 2.0})
    assert flat.t_p is None and any("undefined" in n for n in flat.notes) and flat.p_gt == 0.0
    shift = stats.compare({1: 2.0, 2: 3.0, 3: 4.0}, {1: 1.0, 2: 2.0, 3: 3.0})
    assert shift.t_p is None and shift.perm_p == 0.25 and shift.hedges_g is not None
    for r in (one, two, same, lumpy, with_nan, equal, flat, shift):
        assert no_nan(r.to_dict())


def test_equal_values_have_no_spread_and_huge_ones_do_not_overflow() -> None:
    same = stats.describe([0.7] * 6)  # np.std gave 1.2e-16, np.mean 0.7000000000000001
    assert (same.mean, same.sd, same.mean_ci.low, same.mean_ci.high) == (0.7, 0.0, 0.7, 0.7)
    constant = stats.compare(dict.fromkeys(range(6), 0.7), dict.fromkeys(range(6), 0.5), paired=False)
    assert constant.hedges_g is None  # once 2e15: the pooled SD was rounding noise
    big = stats.describe([5e307, 6e307, 7e307, 8e307, 9e307])  # sums and squares overflowed to inf
    assert (big.mean, big.iqm, big.median) == (7e307, 7e307, 7e307)
    assert big.sd == pytest.approx(float(np.std(np.array([5, 6, 7, 8, 9.0]), ddof=1)) * 1e307)
    assert no_nan(big.to_dict()) and all(math.isfinite(v) for v in (big.mean_ci.low, big.mean_ci.high))


@pytest.mark.slow
def test_rank_test_label_says_which_null_was_used() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20), rng.normal(size=20) + 1.0  # 2**20 arrangements: beyond enumeration
    paired = stats.compare(dict(enumerate(a)), dict(enumerate(b)), paired=True)
    assert (
        paired.rank_test == "Wilcoxon signed-rank, exact"
    )  # scipy computes it exactly: it was "normal approx."
    assert paired.rank_p == pytest.approx(sps.wilcoxon(a, b, method="exact").pvalue)
    few, many = rng.normal(size=3), rng.normal(size=200)
    unpaired = stats.compare(dict(enumerate(few)), {i + 3: v for i, v in enumerate(many)})
    assert unpaired.rank_test == "Mann-Whitney U, exact"
    assert unpaired.rank_p == pytest.approx(sps.mannwhitneyu(few, many, method="exact").pvalue)
    tied = stats.compare(
        dict(enumerate(np.round(many[:100], 1))), {i + 100: v for i, v in enumerate(np.round(many[100:], 1))}
    )
    assert tied.rank_test == "Mann-Whitney U, normal approx."
    assert tied.rank_p == pytest.approx(
        sps.mannwhitneyu(np.round(many[:100], 1), np.round(many[100:], 1), method="asymptotic").pvalue
    )


def test_compare_refuses_too_few_seeds_and_bad_pairing() -> None:
    with pytest.raises(SeedlockError) as info:
        stats.compare({1: 1.0, 2: 2.0}, {1: 1.0, 2: 2.0, 3: 3.0}, names=("exp-a", "exp-b"))
    assert str(info.value) == (
        "need at least 3 seeds per side to compare, got 2 for 'exp-a'; "
        "run more seeds with `seedlock repeat ... --seeds 5`"
    )
    with pytest.raises(SeedlockError, match=r"--paired needs the same seeds.*pass --unpaired"):
        stats.compare({1: 1.0, 2: 2.0, 3: 3.0}, {1: 1.0, 2: 2.0, 4: 3.0}, paired=True)


# -- the commands -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "seedlock.db"
    rng = np.random.default_rng(0)
    with Store(path) as store:
        for name, mu, seeds in (("base", 0.80, 6), ("wide", 0.85, 6), ("tiny", 0.8, 3)):
            exp = store.experiment(name, script="train.py", args=["--name", name])
            for seed in range(seeds):
                acc = [(e, float(mu - 0.3 / e + rng.normal(0, 0.01))) for e in range(1, 4)]
                store.finish_trial(
                    exp,
                    seed,
                    "ok",
                    metrics=[("acc", e, v) for e, v in acc] + [("loss", None, float(rng.normal(0.3, 0.02)))],
                )
            store.finish_trial(exp, 99, "timeout", reason="timed out after 60 s")
        store.finish_trial(store.experiment("broken"), 0, "failed", exit_code=1)
    return path


@pytest.mark.slow
def test_cli_stats(store_path: Path) -> None:
    p = run_seedlock(["stats", "base", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    assert "base: 6 ok trials; 1 did not finish ok (1 timeout) and are excluded: seeds 99" in p.stdout
    assert "acc" in p.stdout and "loss" in p.stdout and "95% CI" in p.stdout
    p = run_seedlock(["stats", "tiny", "--metric", "acc", "--store", str(store_path), "--json"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (
        list(out["metrics"]) == ["acc"] and out["metrics"]["acc"]["n"] == 3 and out["excluded_seeds"] == [99]
    )
    assert "warning: acc: only 3 value(s) (n < 5)" in p.stderr


def test_cli_compare_json(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "--store", str(store_path), "--json"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    acc = out["metrics"]["acc"]
    assert acc["paired"] is True and acc["diff"] > 0 and acc["t_p_holm"] >= acc["t_p"]
    assert set(out["metrics"]) == {"acc", "loss"}


@pytest.mark.slow
def test_cli_compare_table_and_too_few_seeds(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "--metric", "acc", "--unpaired", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    assert "unpaired" in p.stdout and "P(A > B)" in p.stdout and "Hedges' g" in p.stdout
    two = store_path.parent / "two.db"
    with Store(two) as store:
        for name in ("exp-a", "exp-b"):
            for seed in range(2 if name == "exp-a" else 4):
                store.finish_trial(store.experiment(name), seed, "ok", metrics=[("acc", None, seed / 10)])
    p = run_seedlock(["compare", "exp-a", "exp-b", "--store", str(two)])
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "need at least 3 seeds per side to compare, got 2 for 'exp-a'" in p.stderr


def test_cli_bad_names_get_one_line_and_exit_2(store_path: Path) -> None:
    cases = {
        ("stats", "nope"): "no experiment 'nope' in",
        (
            "stats",
            "base",
            "--metric",
            "f1",
        ): "no ok trial of 'base' reported metric 'f1'; metrics there: 'acc', 'loss'",
        ("compare", "base", "nope"): "experiments there: 'base', 'wide', 'tiny'",
        ("report", "base", "--metric", "f1"): "metrics there: 'acc', 'loss'",
        ("runs", "nope"): "no experiment 'nope'",
        ("stats", "broken"): "nothing to summarise for 'broken' (no trial finished ok: failed)",
    }
    for args, expected in cases.items():
        p = run_seedlock([*args, "--store", str(store_path)])
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and expected in p.stderr, (args, p.stderr)


@pytest.mark.slow
def test_cli_runs_and_power(store_path: Path) -> None:
    p = run_seedlock(["runs", "--store", str(store_path)])
    assert p.returncode == 0 and all(n in p.stdout for n in ("base", "wide", "tiny", "train.py --name wide"))
    p = run_seedlock(["runs", "tiny", "--store", str(store_path)])
    assert p.returncode == 0 and "timeout" in p.stdout and "timed out after 60 s" in p.stdout
    p = run_seedlock(["power"])
    assert (
        p.returncode == 0
        and p.stdout.startswith("29 seeds per experiment (58 in all)")
        and "35 per" in p.stdout
    )
    p = run_seedlock(["power", "--delta", "0.5", "--sd", "1", "--json"])
    assert p.returncode == 0 and json.loads(p.stdout)["per_experiment"] == 64
    p = run_seedlock(["power", "--delta", "0.5"])
    assert p.returncode == 2 and "--delta and --sd go together" in p.stderr


def test_every_command_help_has_an_example() -> None:
    for cmd in ("runs", "stats", "compare", "power", "report"):
        p = run_seedlock([cmd, "--help"])
        assert p.returncode == 0 and "Example" in p.stdout, cmd


@pytest.mark.parametrize("module", ["store", "stats", "estimators", "pairwise", "power", "plots", "report"])
def test_docstring_examples_hold(module: str) -> None:
    mod = importlib.import_module(f"seedlock.repeat.{module}")
    result = doctest.testmod(mod)
    assert result.failed == 0
