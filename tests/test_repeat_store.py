"""The store of `seedlock repeat`: real SQLite files, real concurrent writers, real crashes, bad files."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import clean_env, run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat.store import Store
from seedlock.repeat.storefile import SCHEMA_VERSION


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_trials_metrics_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "seedlock.db"
    with Store(path) as store:
        exp = store.experiment("base", script="train.py", args=["--lr", "0.1"], config={"jobs": 2})
        assert store.experiment("base", script="train.py", args=["--lr", "0.1"]) == exp
        assert store.start_trial(exp, 0)
        store.finish_trial(
            exp,
            0,
            "ok",
            exit_code=0,
            duration_s=3.5,
            fingerprint="f0",
            manifest={"seed": 0},
            metrics=[
                ("acc", 1, 0.5),
                ("acc", 3, 0.9),
                ("acc", 2, 0.7),
                ("loss", None, 0.2),
                ("loss", 5, 9.0),
                ("nan", None, float("nan")),
            ],
        )
        store.start_trial("base", 1)
        store.finish_trial(
            "base", 1, "ok", metrics=[("acc", 2, 0.6), ("acc", 2, 0.65)]
        )  # last one wins a tie
        store.start_trial(exp, 2)
        store.finish_trial(
            exp, 2, "failed", exit_code=1, reason="exit code 1", stderr_tail="boom", metrics=[("acc", 1, 0.1)]
        )
        store.start_trial(exp, 3)

        assert store.done_seeds(exp) == {0, 1}
        assert store.failed_seeds(exp) == {2}
        assert [t.status for t in store.trials(exp)] == ["ok", "ok", "failed", "running"]
        t0 = store.trials(exp, "ok")[0]
        assert (t0.exit_code, t0.duration_s, t0.fingerprint, t0.manifest) == (0, 3.5, "f0", {"seed": 0})
        failed = store.trials(exp, "failed")[0]
        assert (failed.reason, failed.stderr_tail) == ("exit code 1", "boom")
        assert failed.duration_s is not None and failed.duration_s >= 0  # from the clock when not given

        assert store.metric_values(exp, "acc") == {0: 0.9, 1: 0.65}  # failed trials left out
        assert store.metric_values(exp, "acc", status=None)[2] == 0.1
        assert store.metric_values(exp, "loss") == {0: 0.2}  # the step-less value is the final one
        assert math.isnan(store.metric_values(exp, "nan")[0])
        assert store.metric_values(exp, "acc", final=False)[0] == pytest.approx(0.7)
        assert store.metric_curves(exp, "acc")[0] == [(1, 0.5), (2, 0.7), (3, 0.9)]
        assert store.metric_names(exp) == ["acc", "loss", "nan"]
        assert store.trial_metrics(t0) == [
            ("acc", 1, 0.5),
            ("acc", 3, 0.9),
            ("acc", 2, 0.7),
            ("loss", None, 0.2),
            ("loss", 5, 9.0),
            ("nan", None, None),
        ]  # as reported, in order

        (runs,) = store.runs()
        assert runs.counts == {"ok": 2, "failed": 1, "running": 1} and runs.total == 4
        assert [e.name for e in store.experiments()] == ["base"]
    with Store(path, create=False) as again:  # persisted, and the schema version checked on open
        assert again.done_seeds("base") == {0, 1}
        assert again.experiment("base").config == {"jobs": 2}


def test_start_trial_does_not_discard_an_ok_result(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.finish_trial(store.experiment("e"), 7, "ok", metrics=[("m", None, 1.0)])
        assert store.start_trial("e", 7) is False
        assert store.metric_values("e", "m") == {7: 1.0}
        assert store.start_trial("e", 7, replace=True) is True
        assert store.metric_values("e", "m") == {} and store.trials("e")[0].status == "running"


def test_bad_calls_change_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        exp = store.experiment("e", script="a.py", args=["1"])
        with pytest.raises(SeedlockError, match=r"already ran `a.py 1`, not `a.py 2`"):
            store.experiment("e", script="a.py", args=["2"])
        with pytest.raises(ValueError, match="status must be one of"):
            store.finish_trial(exp, 0, "running")
        with pytest.raises(ValueError, match="value must be a number"):
            store.finish_trial(exp, 0, "ok", metrics=[("m", None, "high")])
        with pytest.raises(ValueError, match="step must be an int"):
            store.finish_trial(exp, 0, "ok", metrics=[("m", "one", 1.0)])
        assert store.trials(exp) == []
        with pytest.raises(SeedlockError, match=r"no experiment 'nope' in .*; experiments there: 'e'"):
            store.trials("nope")


def test_missing_store_is_not_created_by_readers(tmp_path: Path) -> None:
    with pytest.raises(SeedlockError, match=r"no store at .*; run `seedlock repeat` first or pass --store"):
        Store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()
    p = run_seedlock(["stats", "x", "--store", str(tmp_path / "none.db")])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().count("\n") == 0 and "no store at" in p.stderr and "seedlock repeat" in p.stderr


WRITER = textwrap.dedent("""
    import os, sys, time
    from seedlock.repeat.store import Store
    path, worker, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    while not os.path.exists(go):  # start together, to collide as much as possible
        time.sleep(0.005)
    with Store(path) as store:
        exp = store.experiment("shared", script="train.py", args=[])
        for i in range(25):
            seed = worker * 100 + i
            store.start_trial(exp, seed)
            store.finish_trial(exp, seed, "ok", exit_code=0, duration_s=0.1,
                               metrics=[("acc", step, seed + step / 10) for step in range(5)] + [("loss", None, 1.0)])
    print("done", worker)
""")


def test_four_processes_write_one_store_at_once(tmp_path: Path) -> None:
    path, go = tmp_path / "store" / "seedlock.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), str(go)],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    time.sleep(0.3)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and out.startswith("done"), err
        assert "locked" not in err
    with Store(path, create=False) as store:
        assert len(store.experiments()) == 1  # created once, though all four raced to create it
        assert store.done_seeds("shared") == {w * 100 + i for w in range(4) for i in range(25)}
        assert len(store.metric_curves("shared", "acc")) == 100
        assert store.metric_values("shared", "acc")[305] == pytest.approx(305.4)
    assert sorted(os.listdir(path.parent)) == ["seedlock.db"]  # no temporary files left behind


CRASHER = textwrap.dedent("""
    import sys, time
    from seedlock.repeat.store import Store
    store = Store(sys.argv[1])
    exp = store.experiment("crash")
    for seed in range(5):
        store.start_trial(exp, seed)
        store.finish_trial(exp, seed, "ok", metrics=[("m", 1, float(seed)), ("m", 2, seed + 0.5)])
    store.start_trial(exp, 5)
    print("recorded", flush=True)
    time.sleep(60)
""")


def test_finished_trials_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "seedlock.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(path)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "recorded"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with Store(path, create=False) as store:
        assert store.done_seeds("crash") == {0, 1, 2, 3, 4}
        assert store.metric_values("crash", "m") == {s: s + 0.5 for s in range(5)}
        assert store.trials("crash", "running")[0].seed == 5  # started, never finished: not counted as done


def _real_store(path: Path) -> None:
    with Store(path) as store:
        exp = store.experiment("e")
        for seed in range(30):
            store.finish_trial(
                exp, seed, "ok", stderr_tail="x" * 400, metrics=[("m", k, float(k)) for k in range(20)]
            )


def _make_bad(kind: str, path: Path) -> None:
    if kind == "random bytes":
        path.write_bytes(os.urandom(5000))
    elif kind == "text file":
        path.write_text("epoch,acc\n1,0.5\n")
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "another program's database":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE notes (x)")
        con.commit()
        con.close()
    else:
        _real_store(path)
        data = path.read_bytes()
        if kind == "truncated store":
            path.write_bytes(data[: len(data) // 2])
        elif kind == "garbage page":
            path.write_bytes(data[: 2 * 4096] + os.urandom(4096) + data[3 * 4096 :])
        elif kind == "newer store":
            con = sqlite3.connect(path)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
            con.commit()
            con.close()


BAD = {
    "random bytes": "is not a seedlock store (file is not a database)",
    "text file": "is not a seedlock store (file is not a database)",
    "empty file": "is not a seedlock store (file is empty)",
    "another program's database": "is not a seedlock store (a SQLite database, but not one seedlock made)",
    "truncated store": "is truncated",
    "garbage page": "is corrupt",
    "newer store": "was written by a newer seedlock",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_file_is_refused_and_left_untouched(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    _make_bad(kind, path)
    before, listing = sha(path), sorted(os.listdir(tmp_path))
    with pytest.raises(SeedlockError) as info:
        Store(path)
    message = str(info.value)
    assert BAD[kind] in message and "--store" in message and "\n" not in message
    assert (
        sha(path) == before and sorted(os.listdir(tmp_path)) == listing
    )  # not a byte changed, nothing added


@pytest.mark.parametrize("kind", ["random bytes", "text file", "truncated store"])
def test_cli_refuses_bad_store_with_one_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    _make_bad(kind, path)
    before = sha(path)
    for args in (["stats", "e"], ["runs"]):
        p = run_seedlock([*args, "--store", str(path)])
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr.startswith("seedlock: error: ") and p.stderr.count("\n") == 1, p.stderr
        assert BAD[kind] in p.stderr
    assert sha(path) == before


V1_SCHEMA = """
CREATE TABLE experiments (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, script TEXT,
    args TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL, config TEXT NOT NULL DEFAULT '{}');
CREATE TABLE trials (id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE, seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'timeout', 'killed', 'interrupted')),
    exit_code INTEGER, reason TEXT, duration_s REAL, stderr_tail TEXT, fingerprint TEXT, manifest TEXT,
    started TEXT, finished TEXT, UNIQUE (experiment_id, seed));
CREATE TABLE metrics (trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name TEXT NOT NULL, step INTEGER, value REAL);
CREATE INDEX metrics_by_trial ON metrics (trial_id, name);
"""


def test_a_version_1_store_is_upgraded_in_place_keeping_every_result(tmp_path: Path) -> None:
    """Stores made before "lost" and the node column open as they are, results kept."""
    from seedlock.repeat.storefile import APPLICATION_ID

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id={APPLICATION_ID}")
    con.execute("PRAGMA user_version=1")
    con.executescript(V1_SCHEMA)
    con.execute("INSERT INTO experiments (name, created) VALUES ('base', '2026-01-01T00:00:00')")
    con.execute("INSERT INTO trials (experiment_id, seed, status, fingerprint) VALUES (1, 0, 'ok', 'fp0')")
    con.execute("INSERT INTO metrics VALUES (1, 'acc', NULL, 0.5)")
    con.commit()
    # The old CHECK refuses the new status: the upgrade must rebuild the table, not just add a column.
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO trials (experiment_id, seed, status) VALUES (1, 9, 'lost')")
    con.close()
    with Store(path) as store:
        assert [(t.seed, t.status, t.fingerprint, t.node) for t in store.trials("base")] == [
            (0, "ok", "fp0", None)
        ]
        assert store.metric_values("base", "acc") == {0: 0.5}
        store.finish_trial(
            "base", 1, "lost", reason="lost: node n1 went away", node={"id": "n1", "host": "h"}
        )
        assert store.trials("base")[1].node == {"id": "n1", "host": "h"}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    with Store(path) as store:  # opened again: nothing to do, nothing lost
        assert [t.status for t in store.trials("base")] == ["ok", "lost"]
