"""Process pools (multiprocessing.Pool, ProcessPoolExecutor): each worker is seeded by its
identity, but which worker runs which task is the scheduler's. check names that as the cause, or
gives no verdict when the runs matched by luck; never a false REPRODUCIBLE. Real spawned pools."""

from __future__ import annotations

import json

import pytest

from conftest import SCRIPTS, run_py, run_seedlock, run_together
from seedlock.errors import SeedlockError
from seedlock.verify import pools

SCRIPT = str(SCRIPTS / "multiproc" / "pool_tasks.py")


def rec(worker: str, job: int, i: int | None, drew: bool = True, kind: str = "pool") -> dict[str, object]:
    return {"kind": kind, "worker": worker, "job": job, "i": i, "drew": drew}


def test_a_task_that_drew_and_moved_to_another_worker_is_the_cause() -> None:
    a = [rec("1", 0, 0), rec("2", 0, 1)]
    b = [rec("2", 0, 0), rec("1", 0, 1)]
    found = pools.cause_of([a, b])
    assert (
        found is not None
        and "2 process-pool task(s)" in found.message
        and "Pool task 0 (chunk 0)" in found.message
    )
    assert found.fix is not None and "seedlock.derive" in found.fix


def test_a_task_that_ran_after_other_tasks_on_its_worker_moved_too() -> None:
    """Same worker, but after another task's draws: its numbers differ as well."""
    a = [rec("1", 0, 0), rec("1", 0, 1)]
    b = [rec("1", 0, 1), rec("1", 0, 0)]
    assert pools.moved(a, b) == [("pool", 0, 0), ("pool", 0, 1)]


def test_tasks_that_drew_nothing_are_never_the_cause() -> None:
    a = [rec("1", 0, 0, drew=False), rec("2", 0, 1, drew=False)]
    b = [rec("2", 0, 0, drew=False), rec("1", 0, 1, drew=False)]
    assert pools.cause_of([a, b]) is None
    pools.luck([a, a])  # nothing drew: equal runs are a verdict


def test_equal_runs_whose_tasks_drew_in_a_shared_pool_get_no_verdict() -> None:
    a = [rec("1", 0, 0), rec("2", 0, 1, kind="executor")]
    with pytest.raises(SeedlockError, match="no verdict.*may have matched by luck"):
        pools.luck([a, list(a)])


def test_equal_runs_whose_drawing_tasks_moved_get_no_verdict_either() -> None:
    """Workers seeded alike (a pool initializer): tasks moved, the outputs matched, by luck."""
    a = [rec("1", 0, 0), rec("1", 0, 1), {"kind": "pool", "pool": 2}]
    b = [rec("2", 0, 0), rec("2", 0, 1), {"kind": "pool", "pool": 2}]
    with pytest.raises(SeedlockError, match="no verdict"):
        pools.luck([a, b])


def test_a_pool_of_one_worker_cannot_move_its_tasks() -> None:
    a = [rec("1", 0, 0), rec("1", 0, 1)]
    pools.luck([a, list(a)])


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "mode"), [("pool", "worker"), ("executor", "worker"), ("pool", "mixed")])
def test_check_never_says_reproducible_when_pool_tasks_draw_from_their_worker(kind: str, mode: str) -> None:
    """Two spawned workers, eight tasks each drawing from its worker's NumPy RNG: NOT, naming the
    pool, or (when the scheduler handed out the tasks alike in both runs) no verdict."""
    p = run_seedlock(["check", "--json", SCRIPT, kind, mode, "2"])
    data = json.loads(p.stdout)
    assert data["reproducible"] is not True, p.stdout
    if p.returncode == 1:
        assert "process-pool task(s) drew random numbers" in data["causes"][0]["message"], p.stdout
    else:
        assert p.returncode == 2 and "may have matched by luck" in data["error"], p.stdout


@pytest.mark.slow
def test_tasks_seeded_from_their_input_are_reproducible_in_a_shared_pool_and_differ_plain() -> None:
    """The fix the cause names: per-task seeds (a generator, or the task reseeding its worker's RNG)."""
    task, reseed, plain = run_together(
        lambda: run_seedlock(["check", "--json", SCRIPT, "executor", "task", "2"]),
        lambda: run_seedlock(["check", "--json", SCRIPT, "pool", "reseed", "2"]),
        lambda: run_seedlock(["check", "--json", "--plain", SCRIPT, "pool", "task", "2"]),
    )
    assert task.returncode == 0 and json.loads(task.stdout)["reproducible"] is True, task.stdout
    assert reseed.returncode == 0 and json.loads(reseed.stdout)["reproducible"] is True, reseed.stdout
    # the twin: unseeded, the main process's base seed differs, and so does every task's number
    assert plain.returncode == 1 and json.loads(plain.stdout)["reproducible"] is False, plain.stdout


@pytest.mark.slow
def test_a_process_pool_executor_of_one_worker_is_seeded_and_plain_runs_differ() -> None:
    """One worker runs every task, in order: its identity seed makes the run reproducible."""
    a, b, plain1, plain2, checked = run_together(
        lambda: run_seedlock(["run", "--seed", "5", SCRIPT, "executor", "worker", "1"]),
        lambda: run_seedlock(["run", "--seed", "5", SCRIPT, "executor", "worker", "1"]),
        lambda: run_py([SCRIPT, "executor", "worker", "1"]),
        lambda: run_py([SCRIPT, "executor", "worker", "1"]),
        lambda: run_seedlock(["check", SCRIPT, "executor", "worker", "1"]),
    )
    assert a.returncode == b.returncode == plain1.returncode == plain2.returncode == 0, (
        a.stderr + plain1.stderr
    )
    assert a.stdout == b.stdout and len(set(a.stdout.split())) == 8  # eight different draws, equal runs
    assert plain1.stdout != plain2.stdout
    assert checked.returncode == 0 and "REPRODUCIBLE" in checked.stdout, checked.stdout + checked.stderr


def test_a_pool_of_two_whose_first_worker_took_every_task_still_gets_no_verdict() -> None:
    """The second worker may take tasks in another run: the pool's size, not who ran, decides."""
    a = [rec("1", 0, 0), rec("1", 0, 1), {"kind": "pool", "pool": 2}]
    with pytest.raises(SeedlockError, match="no verdict"):
        pools.luck([a, list(a)])
    pools.luck([[rec("1", 0, 0), rec("1", 0, 1), {"kind": "pool", "pool": 1}]] * 2)  # a pool of one
