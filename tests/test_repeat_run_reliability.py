"""`seedlock repeat` when things go wrong: crashes, hangs, SIGKILL, Ctrl-C, four processes on one store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import clean_env, run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat.store import Store

# Seeds 3, 7, 11 raise, 13 hangs, 17 kills itself: with FLAKY=1 only, so that a rerun can heal them.
FLAKY = """\
import json, os, signal, sys, time
import numpy as np
import seedlock

seed = seedlock.master_seed()
if os.environ.get("FLAKY") == "1":
    if seed in (3, 7, 11):
        raise ValueError(f"bad luck with seed {seed}")
    if seed == 13:
        time.sleep(600)
    if seed == 17:
        os.kill(os.getpid(), signal.SIGKILL)
print(json.dumps({"score": float(np.random.normal())}))
"""

# Writes who ran which seed (cold verification runs aside), then takes a little while.
WORK = """\
import json, os, sys, time
import numpy as np
import seedlock

if ".check" not in os.environ["SEEDLOCK_METRICS"]:
    with open(os.environ["RUNLOG"], "a") as f:
        f.write(f"{sys.argv[1]} {seedlock.master_seed()}\\n")
time.sleep(float(os.environ.get("NAP", "0.05")))
seedlock.log_metric("score", float(np.random.rand()))
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    (tmp_path / name).write_text(textwrap.dedent(source))
    return tmp_path / name


def statuses(db: Path, exp: str) -> dict[int, str]:
    with Store(db, create=False) as store:
        return {t.seed: t.status for t in store.trials(exp)}


@pytest.mark.slow
def test_failures_are_recorded_with_reasons_and_excluded_from_stats(tmp_path: Path) -> None:
    write(tmp_path, "flaky.py", FLAKY)
    db = tmp_path / ".seedlock" / "seedlock.db"
    args = ["repeat", "--seeds", "30", "--workers", "2", "--timeout", "3", "flaky.py"]
    r = run_seedlock(args, cwd=tmp_path, env=clean_env(FLAKY="1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("flaky: 25 ok, 5 not ok (3 failed, 1 killed, 1 timeout) of 30 trials")
    with Store(db, create=False) as store:
        bad = {t.seed: (t.status, t.reason, t.exit_code) for t in store.trials("flaky") if t.status != "ok"}
        assert len(store.metric_values("flaky", "score")) == 25
        assert all(t.fingerprint and t.manifest for t in store.trials("flaky", "ok"))
    assert bad == {
        3: ("failed", "exit code 1: ValueError: bad luck with seed 3", 1),
        7: ("failed", "exit code 1: ValueError: bad luck with seed 7", 1),
        11: ("failed", "exit code 1: ValueError: bad luck with seed 11", 1),
        13: ("timeout", "still running after --timeout 3 s; killed", -9),
        17: ("killed", "killed by SIGKILL", -9),
    }

    r = run_seedlock(["stats", "flaky"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == (
        "flaky: 25 ok trials; 5 did not finish ok (3 failed, 1 killed, 1 timeout) "
        "and are excluded: seeds 3, 7, 11, 13, 17"
    )
    assert "│ score  │ 25 │" in r.stdout

    # Retried seeds that fail again: the experiment's 25 ok trials stand; that is no failed command.
    r = run_seedlock(["repeat", "--retry-failed", *args[1:]], cwd=tmp_path, env=clean_env(FLAKY="1"))
    assert r.returncode == 0 and "no trial finished ok" not in r.stderr, r.stderr
    assert "none of the 5 seeds run now finished ok; 25 of 30 trials of flaky are ok" in r.stderr

    # A rerun leaves the failures alone; --retry-failed reruns exactly them.
    r = run_seedlock(args, cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "0 ran now" in r.stdout and "--retry-failed reruns them" in r.stderr
    r = run_seedlock(["repeat", "--retry-failed", *args[1:]], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert "5 ran now" in r.stdout and set(statuses(db, "flaky").values()) == {"ok"}


def _alive(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (our script's path)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


@pytest.mark.slow
def test_sigint_keeps_finished_trials_and_the_rerun_finishes(tmp_path: Path) -> None:
    script = write(tmp_path, "work.py", WORK)
    db = tmp_path / ".seedlock" / "seedlock.db"
    env = clean_env(RUNLOG=str(tmp_path / "runs.log"), NAP="0.3")
    cmd = [
        sys.executable,
        "-m",
        "seedlock",
        "repeat",
        "--seeds",
        "16",
        "-j",
        "2",
        "--name",
        "sig",
        str(script),
        "sig",
    ]
    p = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    done = 0
    while done < 3:  # poll the store: interrupt once three trials are recorded
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        if db.exists():
            try:
                with Store(db, create=False) as store:
                    done = len(store.trials("sig", "ok"))
            except SeedlockError:  # the experiment is not there yet
                pass
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    assert _alive(str(script)) == []  # no trial, no zygote left behind
    with Store(db, create=False) as store:
        trials = store.trials("sig")
        ok = {t.seed: t.finished for t in trials if t.status == "ok"}
        assert {t.status for t in trials} <= {"ok", "interrupted"} and 3 <= len(ok) < 16
        assert set(store.metric_values("sig", "score")) == set(
            ok
        )  # every ok trial complete, nothing half-written
        assert all(t.fingerprint and t.manifest for t in trials if t.status == "ok")

    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with Store(db, create=False) as store:
        trials = store.trials("sig")
        assert [t.status for t in trials] == ["ok"] * 16
        assert {t.seed: t.finished for t in trials if t.seed in ok} == ok  # the first run's results were kept


@pytest.mark.slow
def test_four_processes_on_one_store(tmp_path: Path) -> None:
    script = write(tmp_path, "work.py", WORK)
    log = tmp_path / "runs.log"
    env = clean_env(RUNLOG=str(log))
    jobs = [("a", "a"), ("b", "b"), ("c", "c"), ("c", "c")]  # (experiment, script argument): two on one
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seedlock",
                "repeat",
                "--seeds",
                "12",
                "-j",
                "2",
                "--name",
                name,
                str(script),
                arg,
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, arg in jobs
    ]
    results = [(*p.communicate(timeout=180), p.returncode) for p in procs]
    for _, err, code in results:
        assert code == 0, err
        assert "locked" not in err and "error" not in err
    db = tmp_path / ".seedlock" / "seedlock.db"
    for exp in "abc":
        assert statuses(db, exp) == {s: "ok" for s in range(12)}
    ran = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    assert ran == Counter({(exp, str(s)): 1 for exp in "abc" for s in range(12)})  # none lost, none twice
    c_runs = [
        int(out.split(" ran now")[0].split()[-1])
        for (out, _, _), (name, _) in zip(results, jobs, strict=True)
        if name == "c"
    ]
    assert sum(c_runs) == 12  # the two `c` processes shared the seeds


def test_run_outside_repeat_is_untouched(tmp_path: Path) -> None:
    """`seedlock run` of the same script still works: log_metric warns once and does nothing."""
    write(
        tmp_path, "work.py", WORK.replace('if ".check" not in os.environ["SEEDLOCK_METRICS"]:', "if False:")
    )
    r = run_seedlock(["run", "--seed", "3", "work.py", "x"], cwd=tmp_path, env=clean_env(NAP="0"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("log_metric() does nothing here") == 1


def test_a_script_that_always_fails_has_its_failures_recorded_under_the_fork_server(tmp_path: Path) -> None:
    # Held until the fork-server was verified, and no trial ever ended ok to verify it with: every
    # trial was stored "interrupted", its error never shown, and rerun on every later command.
    write(
        tmp_path,
        "bad.py",
        "import numpy as np\nraise RuntimeError(f'bug in training code {np.random.rand() < 2}')\n",
    )
    r = run_seedlock(
        ["repeat", "--seeds", "4", "-j", "2", "--name", "bad", "bad.py"], cwd=tmp_path, env=clean_env()
    )
    assert r.returncode == 1, r.stderr
    assert "fork-server" in r.stderr  # it did fork: the case at hand
    assert "RuntimeError: bug in training code True" in r.stderr, r.stderr
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        trials = store.trials("bad")
    assert [t.status for t in trials] == ["failed"] * 4
    assert all("RuntimeError: bug in training code True" in (t.reason or "") for t in trials)
