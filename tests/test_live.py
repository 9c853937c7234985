"""Verdicts in minutes on jobs that run for days: check compares the runs' records as they are
written, stops every run at the first divergence, and --steps/--epochs/--time bound the runs.
A 100,000-step torch loop (~17 minutes a run) gets its verdict in seconds; no run outlives check.
The subprocess timeouts are bounds on a hang, not timing claims."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_seedlock, run_together
from seedlock.trace.records import Record
from seedlock.verify import live

LOOP = str(SCRIPTS / "live" / "long_loop.py")
KERAS = str(SCRIPTS / "live" / "keras_long.py")
BOUND = 240  # s: a run that went on would take ~17 minutes


def test_a_tail_reads_only_complete_records_of_a_trace_being_written(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    tail = live.Tail(path)
    path.write_text('{"seedlock_trace": 1, "kind": "header"}\n{"kind": "step", "step": 1}\n{"kind": "st')
    tail.read()
    assert [r.step for r in tail.records] == [1]
    with open(path, "a") as f:
        f.write('ep", "step": 2}\n')
    tail.read()
    assert [r.step for r in tail.records] == [1, 2]


def test_the_watcher_stops_at_the_first_record_that_differs(tmp_path: Path) -> None:
    runs = [tmp_path / "run-1", tmp_path / "run-2"]
    for d, nudged in zip(runs, ("a", "b"), strict=True):
        d.mkdir()
        lines = ['{"seedlock_trace": 1, "kind": "header"}']
        lines += [
            json.dumps(Record("step", s, tensors={"w": "a" if s < 3 else nudged}).to_json())
            for s in (1, 2, 3)
        ]
        (d / "trace.jsonl").write_text("\n".join(lines) + "\n")
    w = live.Watcher()
    tails = {(i, "trace.jsonl"): live.Tail(d / "trace.jsonl") for i, d in enumerate(runs)}
    for t in tails.values():
        t.read()
    assert w._compare(tails, 2) and w.diverged == ("trace.jsonl", 2)


def _gone(pidfile: Path) -> list[int]:
    alive = []
    for pid in map(int, pidfile.read_text().split()):
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


@pytest.mark.slow
def test_a_long_loop_parting_at_step_3_is_stopped_there_side_by_side_and_one_after_another(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = clean_env(OMP_NUM_THREADS="1")
    side, seq = run_together(
        lambda: run_seedlock(
            ["check", "--json", "--no-localize", LOOP, "diverge", str(tmp_path / "a" / "pids")],
            env=env,
            timeout=BOUND,
        ),
        # one after another, run 1 goes to its end: bound it; run 2 is stopped at step 3
        lambda: run_seedlock(
            [
                "check",
                "--json",
                "--no-localize",
                "--sequential",
                "--steps",
                "30",
                LOOP,
                "diverge",
                str(tmp_path / "b" / "pids"),
            ],
            env=env,
            timeout=BOUND,
        ),
    )
    for p, folder in ((side, "a"), (seq, "b")):
        data = json.loads(p.stdout)
        assert p.returncode == 1 and data["reproducible"] is False, p.stdout + p.stderr[-2000:]
        assert data["stopped_early"] is True
        assert (data["divergence"]["kind"], data["divergence"]["step"]) == ("step", 3)
        assert _gone(tmp_path / folder / "pids") == []  # every run process is gone
    assert json.loads(seq.stdout)["sequential"] is True


@pytest.mark.slow
def test_bounded_runs_are_reproducible_for_what_was_compared_and_say_so() -> None:
    env = clean_env(OMP_NUM_THREADS="1")
    steps, seq, epochs, timed, plain = run_together(
        lambda: run_seedlock(["check", "--steps", "50", LOOP], env=env, timeout=BOUND),
        lambda: run_seedlock(
            ["check", "--json", "--sequential", "--steps", "20", LOOP], env=env, timeout=BOUND
        ),
        lambda: run_seedlock(
            ["check", "--epochs", "2", KERAS], env={**env, "KERAS_BACKEND": "jax"}, timeout=BOUND
        ),
        lambda: run_seedlock(["check", "--json", "--time", "3", LOOP], env=env, timeout=BOUND),
        # the twin: unseeded, the same bound parts the runs (dropout and init from OS entropy)
        lambda: run_seedlock(["check", "--plain", "--steps", "20", LOOP], env=env, timeout=BOUND),
    )
    assert steps.returncode == 0 and "REPRODUCIBLE for the first 50 steps" in steps.stdout, (
        steps.stdout + steps.stderr
    )
    assert "51 trace records" in steps.stdout  # 50 steps and the models at the 50th
    data = json.loads(seq.stdout)
    assert seq.returncode == 0 and data["limit"] == {"steps": 20} and data["sequential"] is True, seq.stdout
    assert epochs.returncode == 0 and "REPRODUCIBLE for the first 2 epochs" in epochs.stdout, (
        epochs.stdout + epochs.stderr
    )
    data = json.loads(timed.stdout)
    assert timed.returncode == 0 and data["limit"]["seconds"] == 3 and data["limit"]["records"] > 0, (
        timed.stdout
    )
    assert plain.returncode == 1 and "NOT REPRODUCIBLE" in plain.stdout, plain.stdout + plain.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--steps", "0", LOOP], "--steps must be at least 1, got 0"),
        (["--steps", "5", "--epochs", "2", LOOP], "--steps and --epochs both bound the runs"),
        (["--time", "0", LOOP], "--time must be a positive number of seconds"),
        (
            ["--steps", "3", str(SCRIPTS / "explain" / "global_rng.py")],
            "no verdict: --steps counts optimizer steps",
        ),
    ],
)
def test_bad_bounds_get_one_line_and_exit_2(args: list[str], says: str) -> None:
    p = run_seedlock(["check", *args], timeout=BOUND)
    assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, p.stderr
