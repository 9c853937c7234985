"""`seedlock check --explain`: when the runs differ, the setting that makes them equal is found by
running under it, not guessed: --threads 1 for a thread-order race, --strict for an unseeded
generator, seedlock's seeding for a --plain check, none for OS entropy. On its own after a NOT
whose first cause is not certain, when each run took at most $SEEDLOCK_EXPLAIN s (10), saying
first how many runs it will spend; --no-explain turns it off. Real subprocesses.

conftest's run_seedlock sets SEEDLOCK_EXPLAIN=0 for the rest of the suite: the tests here that
test the default run `python -m seedlock` with an environment that does not set it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock, run_together
from seedlock.errors import SeedlockError
from seedlock.verify.causes import Cause
from seedlock.verify.explain import Tried, after_not, describe
from seedlock.verify.runner import RunResult
from seedlock.verify.verdict import CheckResult, RunDivergence

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
    assert "no setting tried: a cause was seen at run time" in entropy.stdout, entropy.stdout
    assert (
        without.returncode == 1
        and "verified fix" not in without.stdout
        and "trying up to" not in without.stderr
    )


def _not(causes: list[Cause], seconds: float, *, stopped: bool = False) -> CheckResult:
    """A NOT REPRODUCIBLE as check returns it, its two runs having taken ``seconds`` each."""
    runs = [RunResult(i, 0, "", "", Path(f"r{i}/trace.jsonl"), Path("m.json"), seconds) for i in (1, 2)]
    div = RunDivergence((1, 2), "stdout", "stdout line 1 differs", line=1, a="1", b="2")
    return CheckResult(False, 2, 0, False, div, causes, {}, "w", runs, stopped_early=stopped)


def test_check_explains_on_its_own_only_a_short_not_whose_cause_is_a_guess() -> None:
    def never(**_: object) -> CheckResult:
        raise AssertionError("no run may be spent")

    said: list[str] = []
    guess = [
        Cause("static", 2, "work() appends to done: it fills in the order the threads run", rule="SL203")
    ]
    seen = [Cause("runtime", -4, "np.random.default_rng() made an RNG without a seed", fixable="seedlock")]
    # a cause seen at run time is certain: its fix is known, nothing is spent
    assert after_not(_not(seen, 0.5), None, 10.0, never, said.append) == []
    # off: --no-explain, or SEEDLOCK_EXPLAIN=0 (the suite's setting)
    assert after_not(_not(guess, 0.5), False, 10.0, never, said.append) == []
    assert after_not(_not(guess, 0.5), None, 0.0, never, said.append) == []
    # a long script: not on its own, and it says how to ask
    (line,) = after_not(_not(guess, 12.0), None, 10.0, never, said.append)
    assert "a run took 12.0 s, over the 10 s" in line and "seedlock check --explain" in line, line
    (line,) = after_not(_not(guess, 0.5, stopped=True), None, 10.0, never, said.append)
    assert "stopped at the divergence" in line and "seedlock check --explain" in line, line
    assert said == []


def test_a_rerun_stopped_by_the_automatic_limit_does_not_name_a_timeout_the_user_never_gave(
    tmp_path: Path,
) -> None:
    def stopped(**changes: object) -> CheckResult:
        raise SeedlockError(
            f"run 1 of 3 was still running after --timeout {changes['timeout']:g} s and was killed"
        )

    guess = [
        Cause("static", 2, "work() appends to done: it fills in the order the threads run", rule="SL203")
    ]
    said: list[str] = []
    result = _not(guess, 0.5)
    result.workdir = str(tmp_path)
    lines = after_not(result, None, 10.0, stopped, said.append)
    assert lines[1].startswith("    --threads 1: no verdict (run 1 of 3 was still running after 30 s "), lines
    assert "an automatic explanation's limit" in lines[1] and "--timeout" not in lines[1], lines
    # The twin: a --timeout the user gave (below the automatic limit) is named as theirs.
    mine = after_not(result, None, 10.0, stopped, said.append, timeout=5.0)
    assert "after --timeout 5 s" in mine[1], mine


def test_a_bad_seedlock_explain_is_one_line_and_exit_2_where_it_matters() -> None:
    script = str(EXPLAIN / "global_rng.py")
    bad, off = run_together(
        lambda: run_py(["-m", "seedlock", "check", script], env=clean_env(SEEDLOCK_EXPLAIN="soon")),
        lambda: run_py(
            ["-m", "seedlock", "check", "--no-explain", script], env=clean_env(SEEDLOCK_EXPLAIN="soon")
        ),
    )
    assert bad.returncode == 2 and bad.stdout == "", bad.stdout
    assert (
        bad.stderr.count("\n") == 1 and "$SEEDLOCK_EXPLAIN='soon' is not a number of seconds" in bad.stderr
    ), bad.stderr
    # --no-explain never reads it: the check runs
    assert off.returncode == 0 and "REPRODUCIBLE" in off.stdout, off.stdout + off.stderr


def _merged(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`seedlock check ARGS` with stderr into stdout, in the order written; an environment without
    SEEDLOCK_EXPLAIN (check's default) unless ``env`` sets it."""
    return subprocess.run(
        [sys.executable, "-m", "seedlock", "check", "--no-localize", *args],
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_short_not_is_explained_on_its_own_after_saying_what_it_will_spend() -> None:
    """global_rng.py under --plain draws from NumPy's unseeded global RNG (the cause, "nothing was
    seeded", a guess): check tries seedlock's seeding on its own and the runs are equal, the NOT
    above it the twin without the fix. identity_set.py (SL201, a guess too): --no-explain spends
    nothing, and a bound below its runs' time says how to ask instead; --explain forces it."""
    plain = ("--plain", str(EXPLAIN / "global_rng.py"))
    guess = str(SCRIPTS / "entropy" / "identity_set.py")
    auto, off, long_, forced = run_together(
        lambda: _merged(*plain),
        lambda: _merged("--no-explain", guess),
        lambda: _merged(guess, SEEDLOCK_EXPLAIN="0.01"),
        lambda: run_py(
            ["-m", "seedlock", "check", "--json", "--no-localize", "--explain", *plain],
            env=clean_env(SEEDLOCK_EXPLAIN="0.01"),
        ),
    )
    lines = auto.stdout.splitlines()
    assert auto.returncode == 1 and "NOT REPRODUCIBLE" in lines, auto.stdout
    spend = next(i for i, line in enumerate(lines) if "will spend up to 3 extra runs" in line)
    fixed = next(i for i, line in enumerate(lines) if "verified fix: `seedlock run`" in line)
    causes = lines.index("likely causes, most likely first:")
    assert causes < spend < fixed, auto.stdout  # said before spent, after the verdict and its causes
    assert "no cause is certain" in lines[spend] and "--no-explain skips this" in lines[spend], lines[spend]
    for p in (off, long_):
        assert p.returncode == 1 and "NOT REPRODUCIBLE" in p.stdout and "SL201" in p.stdout, p.stdout
        assert "will spend" not in p.stdout and "verified fix" not in p.stdout, p.stdout
    assert "seedlock check --explain" not in off.stdout, off.stdout
    assert "a run took" in long_.stdout and "over the 0.01 s" in long_.stdout, long_.stdout
    assert "`seedlock check --explain ...` tries 3 setting(s)" in long_.stdout, long_.stdout
    data = json.loads(forced.stdout)  # forced on a script over the bound; JSON says what was tried
    assert forced.returncode == 1 and data["reproducible"] is False, forced.stdout
    assert [(t["flag"], t["equal"]) for t in data["explained"]] == [("(without --plain)", True)], data
    assert "--explain: will spend up to 3 extra runs" in forced.stderr, forced.stderr


def test_a_draw_that_only_times_a_sleep_is_no_certain_cause_and_no_verdict_proves_nothing() -> None:
    from seedlock.verify.entropy import TIMING_RANK
    from seedlock.verify.explain import certain, not_tried

    timing = Cause("runtime", TIMING_RANK, "SystemRandom().random() only times a sleep", fixable="code")
    drawn = Cause("runtime", -4, "os.urandom(8) drawn at t.py:3", fixable="code")
    assert not certain(_not([timing], 1.0)) and not_tried(_not([timing], 1.0)) is None
    assert certain(_not([drawn], 1.0)) and "the code must change" in str(not_tried(_not([drawn], 1.0)))
    # Every setting tried still differs: then the code must change; one gave no verdict: unknown.
    differs = describe([Tried("--threads 1", False, 0.1), Tried("--strict", False, 0.2)])
    unsure = describe([Tried("--threads 1", None, None, "a run crashed"), Tried("--strict", False, 0.2)])
    assert "the code must change" in differs[0]
    assert "the code must change" not in unsure[0] and "whether one would is not known" in unsure[0]
