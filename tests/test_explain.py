"""`seedlock check --explain`: when the runs differ, the setting that makes them equal is found by
running under it, not guessed: --threads 1 for a thread-order race, --strict for an unseeded
generator, seedlock's seeding for a --plain check, none for OS entropy. Real subprocesses."""

from __future__ import annotations

import json

import pytest

from conftest import SCRIPTS, clean_env, run_seedlock, run_together
from seedlock.verify.explain import Tried, describe

EXPLAIN = SCRIPTS / "explain"


def test_describe_names_the_first_setting_that_made_the_runs_equal() -> None:
    tried = [Tried("--threads 1", False, 0.1), Tried("--strict", True, 0.38, "unseeded RNGs derived")]
    assert describe(tried) == [
        "  verified fix: `seedlock run --strict` (+38% time): 3 runs were bitwise equal with unseeded RNGs derived"
    ]
    lines = describe([Tried("--threads 1", False, 0.0), Tried("--strict", None, None, "run 1 crashed")])
    assert (
        "no setting tried made the runs equal" in lines[0]
        and lines[2] == "    --strict: no verdict (run 1 crashed)"
    )


@pytest.mark.slow
def test_explain_verifies_the_fix_by_running_it() -> None:
    def check(*args: str, **env: str) -> tuple[int, dict, str]:
        p = run_seedlock(["check", "--json", "--explain", *args], env=clean_env(**env))
        return p.returncode, json.loads(p.stdout), p.stderr

    threads, strict, entropy, plain = run_together(
        # several runs: two runs of a race can come out equal by chance
        lambda: check("--runs", "4", str(EXPLAIN / "thread_sum.py"), OMP_NUM_THREADS="2"),
        lambda: check(str(EXPLAIN / "unseeded_rng.py")),
        lambda: check(str(EXPLAIN / "os_entropy.py")),
        lambda: check("--plain", str(EXPLAIN / "global_rng.py")),
    )
    for code, data, err in (threads, strict, entropy, plain):
        assert code == 1 and data["reproducible"] is False, (data, err)
    for _, _, err in (threads, strict, plain):
        assert "trying up to 3 setting(s), 3 runs each" in err or "trying up to 1 setting(s)" in err, err

    def tried(data: dict) -> list[tuple[str, bool | None]]:
        return [(t["flag"], t["equal"]) for t in data["explained"]]

    assert tried(threads[1]) == [("--threads 1", True)]
    assert tried(strict[1]) == [("--threads 1", False), ("--strict", True)]
    assert (
        entropy[1]["explained"] == []
    )  # os.urandom seen at run time: only the code can fix it, nothing tried
    assert tried(plain[1]) == [("(without --plain)", True)]


@pytest.mark.slow
def test_explain_prints_the_verified_fix_and_without_it_nothing_is_tried() -> None:
    with_, without, entropy = run_together(
        lambda: run_seedlock(["check", "--explain", str(EXPLAIN / "unseeded_rng.py")]),
        lambda: run_seedlock(["check", str(EXPLAIN / "unseeded_rng.py")]),
        lambda: run_seedlock(["check", "--explain", str(EXPLAIN / "os_entropy.py")]),
    )
    assert with_.returncode == 1 and "verified fix: `seedlock run --strict`" in with_.stdout, with_.stdout
    assert "no setting tried: the first cause was seen at run time" in entropy.stdout, entropy.stdout
    assert (
        without.returncode == 1
        and "verified fix" not in without.stdout
        and "trying up to" not in without.stderr
    )
