"""`seedlock compare A B C ...` (every pair, Holm over pairs and metrics), the labels of `compare`
and `power`, and the flag `stats` puts on a t interval that leaves the values' support."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from conftest import ROOT, run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat import stats
from seedlock.repeat.metrics import parse_line
from seedlock.repeat.pairwise import compare_pairs
from seedlock.repeat.report import render_html
from seedlock.repeat.store import Store

# A bounded-below metric as issue 15 reported it: an MSE from 2.7e-08 to 0.19 over 10 seeds.
MSE = [2.7e-08, 3e-6, 4e-5, 2e-4, 1e-3, 2e-3, 8e-3, 0.02, 0.06, 0.19]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "seedlock.db"
    rng = np.random.default_rng(5)
    with Store(path) as store:
        for name, mu in (("base", 0.80), ("wide", 0.85), ("deep", 0.83)):
            exp = store.experiment(name, script="train.py")
            for seed in range(6):
                metrics = [
                    ("acc", None, float(mu + rng.normal(0, 0.01))),
                    ("loss", None, float(rng.normal(0.3, 0.02))),
                ]
                store.finish_trial(exp, seed, "ok", metrics=metrics)
        mse = store.experiment("mse", script="fit.py")
        for seed, v in enumerate(MSE):
            store.finish_trial(mse, seed, "ok", metrics=[("mse", None, v), ("acc", None, 0.9 + seed / 1000)])
    return path


def values_of(path: Path, names: list[str]) -> dict[str, dict[str, dict[int, float]]]:
    with Store(path, create=False) as store:
        return {
            n: {m: store.metric_values(store.experiment(n, create=False), m) for m in ("acc", "loss")}
            for n in names
        }


# -- every pair, Holm over the family -----------------------------------------------------------


def test_compare_pairs_holm_over_every_pair_and_metric(store_path: Path) -> None:
    values = values_of(store_path, ["wide", "base", "deep"])
    result = compare_pairs(values, n_boot=500)
    assert list(result) == [("wide", "base"), ("wide", "deep"), ("base", "deep")]
    family = [(pair, m) for pair in result for m in ("acc", "loss")]
    for field in ("t_p", "rank_p", "perm_p"):
        raw = [getattr(result[pair][m], field) for pair, m in family]
        adjusted = [getattr(result[pair][m], f"{field}_holm") for pair, m in family]
        assert adjusted == stats.holm(raw)  # one family of 3 pairs x 2 metrics per kind of test
    c = result[("wide", "base")]["acc"]
    assert (c.name_a, c.name_b) == ("wide", "base") and c.diff == pytest.approx(c.mean_a - c.mean_b)
    # more pairs, more correction: never less than the same pair compared alone
    alone = stats.compare_many(values["wide"], values["base"], names=("wide", "base"), n_boot=500)
    assert all(result[("wide", "base")][m].t_p_holm >= alone[m].t_p_holm for m in alone)  # type: ignore[operator]


def test_compare_pairs_of_two_is_compare_many(store_path: Path) -> None:
    values = values_of(store_path, ["wide", "base"])
    two = compare_pairs(values, n_boot=500)
    assert two == {
        ("wide", "base"): stats.compare_many(
            values["wide"], values["base"], names=("wide", "base"), n_boot=500
        )
    }


def test_compare_pairs_refuses_fewer_than_two() -> None:
    with pytest.raises(SeedlockError, match="two or more experiments"):
        compare_pairs({"a": {"acc": {0: 1.0, 1: 2.0, 2: 3.0}}})


def test_cli_compare_three_experiments(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "deep", "--store", str(store_path), "--json"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["experiments"] == ["wide", "base", "deep"]
    assert [(x["a"], x["b"]) for x in out["pairs"]] == [("wide", "base"), ("wide", "deep"), ("base", "deep")]
    assert out["correction"] == {"method": "Holm", "pairs": 3, "metrics": 2, "family": 6}
    raw = [x["metrics"][m]["t_p"] for x in out["pairs"] for m in ("acc", "loss")]
    assert [x["metrics"][m]["t_p_holm"] for x in out["pairs"] for m in ("acc", "loss")] == pytest.approx(
        stats.holm(raw), rel=1e-12
    )


def test_cli_compare_three_experiments_says_the_correction(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "deep", "--metric", "acc", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    assert "Holm's correction over 3 pairs x 1 metric" in p.stdout
    assert all(
        f"acc: {a} vs {b}" in p.stdout for a, b in (("wide", "base"), ("wide", "deep"), ("base", "deep"))
    )


def test_cli_compare_two_experiments_json_as_before(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "--store", str(store_path), "--json"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"a", "b", "store", "metrics"} and (out["a"], out["b"]) == ("wide", "base")
    assert set(out["metrics"]) == {"acc", "loss"}


def test_cli_compare_needs_two_distinct_experiments(store_path: Path) -> None:
    cases = {
        ("compare", "wide"): "compare needs two or more experiments, got 1 ('wide')",
        ("compare", "wide", "base", "wide"): "'wide' is named twice",
    }
    for args, expected in cases.items():
        p = run_seedlock([*args, "--store", str(store_path)])
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and expected in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr


# -- labels: what is paired, what P(A > B) means ------------------------------------------------


def test_cli_compare_labels_paired_and_unpaired_rows(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "--metric", "acc", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    rows = {line.split("│")[1].strip(): line for line in p.stdout.splitlines() if line.count("│") >= 3}
    assert "paired by seed" in rows["difference A - B"] and "paired by seed" in rows["paired t test"]
    assert "unpaired" in rows["P(A > B)"] and "unpaired" in rows["Hedges' g"]


def test_cli_compare_unpaired_says_nothing_is_paired(store_path: Path) -> None:
    p = run_seedlock(["compare", "wide", "base", "--metric", "acc", "--unpaired", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    assert "acc: wide vs base (unpaired, n = 6 / 6)" in p.stdout and "paired by seed" not in p.stdout


def test_report_html_marks_the_unpaired_columns(store_path: Path, tmp_path: Path) -> None:
    with Store(store_path, create=False) as store:
        doc = render_html(store, ["base", "wide"], tmp_path / "r.html", ["acc"], n_boot=200).read_text()
    assert "P(A&gt;B), 95% CI (unpaired)" in doc and "Hedges&#x27; g (unpaired)" in doc
    assert "paired by seed" in doc  # the n column: the difference and the tests


def test_cli_power_says_what_p_gt_means() -> None:
    p = run_seedlock(["power", "--p-gt", "0.7"])
    assert p.returncode == 0, p.stderr
    assert "?" not in p.stdout  # it once asked "(is A better?)"
    assert "a random seed of A beats a random seed of B 70% of the time" in p.stdout
    assert p.stdout.startswith("46 seeds per experiment (92 in all)")


# -- stats: a t interval outside the values' support ---------------------------------------------


def test_describe_flags_a_t_interval_below_zero_and_skew() -> None:
    s = stats.describe(MSE)
    assert s.mean_ci_flags == ("crosses_zero", "skewed")
    assert s.skewness == pytest.approx(sps.skew(MSE, bias=False))
    # the numbers are unchanged: still Student's t
    assert (s.mean_ci.low, s.mean_ci.high) == pytest.approx(
        sps.t.interval(0.95, 9, loc=np.mean(MSE), scale=sps.sem(MSE))
    )
    assert s.mean_ci.low is not None and s.mean_ci.low < 0
    assert any("below 0" in w and "bootstrap" in w for w in s.warnings)
    negated = stats.describe([-v for v in MSE])  # a log-likelihood, say: never above 0
    assert negated.mean_ci_flags == ("crosses_zero", "skewed") and any(
        "above 0" in w for w in negated.warnings
    )
    plain = stats.describe(np.random.default_rng(0).normal(0.8, 0.01, 10))
    assert plain.mean_ci_flags == () and plain.warnings == ()
    skewed_only = stats.describe([1.0, 1.01, 1.02, 1.0, 1.01, 1.03, 1.0, 1.02, 1.01, 1.5])
    assert skewed_only.mean_ci_flags == ("skewed",)


def test_cli_stats_flags_the_t_interval(store_path: Path) -> None:
    p = run_seedlock(["stats", "mse", "--store", str(store_path)])
    assert p.returncode == 0, p.stderr
    rows = {line.split("│")[1].strip(): line for line in p.stdout.splitlines() if line.count("│") > 3}
    assert "[-0.0147, 0.07095] !" in rows["mse"] and "!" not in rows["acc"]  # marked, numbers unchanged
    assert "! the t CI of mse reaches past 0" in p.stdout and "bootstrap CIs" in p.stdout
    assert "warning: mse: the t CI of the mean" in p.stderr


def test_cli_stats_json_has_the_flags(store_path: Path) -> None:
    p = run_seedlock(["stats", "mse", "--store", str(store_path), "--json"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)["metrics"]
    assert out["mse"]["skewness"] == pytest.approx(sps.skew(MSE, bias=False))
    assert out["mse"]["mean_ci_flags"] == ["crosses_zero", "skewed"] and out["acc"]["mean_ci_flags"] == []
    assert out["mse"]["mean_ci"]["low"] < 0  # flagged, not changed


# -- docs/repeat.md: how a metric gets in, at the top, and true -----------------------------------


def test_repeat_docs_say_how_a_metric_gets_in_and_it_holds() -> None:
    text = (ROOT / "docs" / "repeat.md").read_text(encoding="utf-8")
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## How a metric gets in"
    top = " ".join(text.split("## How a metric gets in")[1].split("\n## ")[0].split())  # unwrapped
    for way in ("seedlock.log_metric(name, value, step=None)", "JSON line on stdout", "Keras `fit`"):
        assert way in top
    # what it says is parsed, and what it says is not
    assert parse_line('{"acc": 0.9}') == [("acc", None, 0.9)]
    assert parse_line('  {"step": 3, "loss": 0.25}  ') == [("loss", 3, 0.25)]
    skipped = [str({"acc": 0.9}), "acc 0.9", 'epoch 3 {"acc": 0.9}', '{"acc": 0.9, "tag": "x"}']
    skipped += ['{"acc": true}', '{"acc": [0.9]}', '{"step": 1.5, "acc": 0.9}']
    assert [parse_line(line) for line in skipped] == [[]] * len(skipped)
    assert "prints Python's `{'acc': 0.9}`, which is not JSON: use `json.dumps`" in top
