"""`seedlock repeat --executor ray`: a fork-server on every node of a real Ray cluster.

A local Ray, a `ray start --head` cluster joined by address, and a cluster of two nodes on this
machine (Ray's own ``ray.cluster_utils.Cluster``, tests/scripts/ray/cluster.py): trials run on
both nodes from the shipped copy of the working directory, give the local executor's
fingerprints bitwise, and a node killed mid-trial or a Ctrl-C loses nothing that finished.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock
from seedlock.repeat.store import Store

pytestmark = pytest.mark.slow
pytest.importorskip("ray")

TINY = """\
import json, random
import numpy as np
import seedlock
seedlock.log_metric("x", float(np.random.rand()))
print(json.dumps({"y": random.random()}))
"""

# Trials write where they ran to MARKS (an absolute path outside the working directory: not part
# of the result), a node's cold verification run as seed-S.check.json; with BLOCK present, the
# seeds it lists never end ("check": every cold verification run), and with "pair" in it the first
# two trials wait for each other (a node has one slot: the other node started one too), so a node
# that came up first cannot finish every trial before the second is ready.
TRAIN = """\
import json, os, random, threading, time
import numpy as np
import seedlock
MARKS, BLOCK = {marks!r}, {block!r}
seed = seedlock.master_seed()
cold = ".check" + os.sep in os.getcwd()  # the cold run's private view lives in seed-S.check/
words = open(BLOCK).read().split() if os.path.exists(BLOCK) else []
if "fail-even" in words and seed % 2 == 0:
    raise SystemExit("even seeds fail")
if "pair" in words and not cold:
    open(os.path.join(MARKS, f"arrived-{{seed}}"), "w").close()
    arrived = lambda: sum(n.startswith("arrived-") for n in os.listdir(MARKS))
    if arrived() <= 2:
        deadline = time.monotonic() + 120  # bounded: the test fails on the nodes used, not here
        while arrived() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling another node's file: a barrier, bounded above
seedlock.log_metric("x", float(np.random.rand()))
seedlock.log_metric("has_data", float(open("data.txt").read() == "rows\\n"))
print(json.dumps({{"y": random.random()}}))
where = {{"pid": os.getpid(), "cwd": os.getcwd(), "big": os.path.exists("big.bin"), "file": os.path.abspath(__file__)}}
where["nice"] = os.nice(0)
names = ("PYTHONHASHSEED", "OMP_NUM_THREADS", "RAY_AUTH_TOKEN", "SEEDLOCK_SEED", "CUDA_VISIBLE_DEVICES")
where["env"] = {{k: os.environ.get(k) for k in names}}
with open(os.path.join(MARKS, f"seed-{{seed}}{{'.check' if cold else ''}}.json"), "w") as f:
    json.dump(where, f)
if ("check" if cold else str(seed)) in words:
    threading.Event().wait()
"""


def _wait_for(paths: list[Path], proc: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until every path exists (the trials got there), or fail if the driver ended first."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"seedlock repeat ended before the trials got there: {out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"no trial wrote {[str(p) for p in paths if not p.exists()]}")
        time.sleep(0.05)  # polling files another process writes; the wait is bounded above


def _gone(pid: int, timeout: float = 30) -> None:
    """The process ends within ``timeout`` (a SIGKILL on its way), or the test fails."""
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        pytest.fail(f"process {pid} still runs: an orphaned trial")


def _raylet_of(pid: int, raylets: dict[str, int]) -> str:
    """The node whose raylet is an ancestor of ``pid`` (trial < zygote < actor worker < raylet)."""
    by_pid = {p: node for node, p in raylets.items()}
    while pid > 1:
        if pid in by_pid:
            return by_pid[pid]
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise AssertionError("the trial runs under no raylet of the cluster")


class RayCluster:
    def __init__(self, temp: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "ray" / "cluster.py"), temp],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._answer()
        self.address: str = hello["address"]
        self.raylets: dict[str, int] = hello["nodes"]

    def _answer(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"the test cluster exited ({self.proc.wait()})")
        answer: dict[str, object] = json.loads(line)
        return answer

    def kill(self, node: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"kill {node}\n")
        self.proc.stdin.flush()
        assert self._answer() == {"killed": node}
        del self.raylets[node]

    def add(self, cpus: int, gpus: int) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"add {cpus} {gpus}\n")
        self.proc.stdin.flush()
        added = self._answer()["added"]
        assert isinstance(added, dict)
        self.raylets.update(added)
        return str(next(iter(added)))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def token() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def cluster(token: str) -> Iterator[RayCluster]:
    """Two worker nodes of 1 CPU each (and a head without CPUs), token-authenticated."""
    temp = tempfile.mkdtemp(prefix="sl-rc-", dir="/tmp")  # Ray's socket paths must stay short
    env = clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    c = RayCluster(temp, env)
    try:
        yield c
    finally:
        c.close()
        shutil.rmtree(temp, ignore_errors=True)


def _project(tmp_path: Path, block: str = "") -> tuple[Path, Path]:
    """A user's project: the script, a data file beside it, and a big file the trials never read."""
    project, marks = tmp_path / "project", tmp_path / "marks"
    project.mkdir()
    marks.mkdir()
    (project / "train.py").write_text(TRAIN.format(marks=str(marks), block=str(tmp_path / "block")))
    (project / "data.txt").write_text("rows\n")
    (project / "big.bin").write_bytes(os.urandom(3 * 2**20))
    if block:
        (tmp_path / "block").write_text(block)
    return project, marks


def _repeat(address: str, token: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "seedlock",
        "repeat",
        "--executor",
        "ray",
        "--address",
        address,
        "--workers",
        "2",
        "--exclude",
        "big.bin",
        *extra,
        "train.py",
    ]


def _env(token: str) -> dict[str, str]:
    return clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_TOKEN=token)


def test_local_ray_forks_trials_and_matches_the_local_executor_bitwise(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY)
    env = clean_env(RAY_USAGE_STATS_ENABLED="0")
    r = run_seedlock(
        ["repeat", "--seeds", "3", "--workers", "2", "--executor", "ray", "--name", "ray", "tiny.py"],
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    assert "(Ray, 2 workers)" in r.stdout
    assert "a fork-server on each of 1 node(s), 2 trial slot(s)" in r.stderr
    assert "forked equals a cold run bitwise" in r.stderr  # the node verified its zygote
    r = run_seedlock(
        ["repeat", "--seeds", "3", "--workers", "2", "--name", "local", "tiny.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        ray, local = store.trials("ray"), store.trials("local")
        assert [t.fingerprint for t in ray] == [t.fingerprint for t in local]
        assert len({t.fingerprint for t in ray}) == 3  # the seed reaches the result
        assert {t.manifest["determinism"]["executor"] for t in ray if t.manifest} == {"ray-fork"}
        assert {t.node["host"] for t in ray if t.node} == {socket.gethostname()}
        assert store.metric_values("ray", "x") == store.metric_values("local", "x")
    # The twin: the same script run plainly twice does differ.
    plain = [run_py(["tiny.py"], cwd=tmp_path, env=env) for _ in range(2)]
    assert all(p.returncode == 0 for p in plain)
    assert plain[0].stdout != plain[1].stdout


def test_two_nodes_run_the_shipped_script_and_match_the_local_executor(
    cluster: RayCluster, token: str, tmp_path: Path
) -> None:
    project, marks = _project(tmp_path, block="pair")
    cmd = _repeat(cluster.address, token, "--seeds", "6", "--name", "cluster")
    r = subprocess.run(cmd, cwd=project, env=_env(token), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "a fork-server on each of 2 node(s), 2 trial slot(s)" in r.stderr
    assert r.stderr.count("forked equals a cold run bitwise") == 2  # each node verified its own
    where = [json.loads((marks / f"seed-{s}.json").read_text()) for s in range(6)]
    # Run in Ray's unpacked copy of the project, which lacks what --exclude left out.
    assert all(w["big"] is False and not w["cwd"].startswith(str(project)) for w in where)
    assert {w["nice"] for w in where} == {os.nice(0)}  # not Ray's worker niceness (15)
    # seedlock's environment, not the Ray worker's: the seed and hash seed, no token, no OMP_NUM_THREADS.
    assert [w["env"] for w in where] == [
        {
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": None,
            "RAY_AUTH_TOKEN": None,
            "SEEDLOCK_SEED": str(s),
            "CUDA_VISIBLE_DEVICES": None,
        }
        for s in range(6)
    ]
    # The twin: a plain Ray task on these nodes has both of those leftovers.
    probe = (
        f"import os, ray; ray.init(address={cluster.address!r}, log_to_driver=False)\n"
        "print(ray.get(ray.remote(lambda: [os.environ.get(k) for k in ('OMP_NUM_THREADS', 'RAY_AUTH_TOKEN')]).remote()))"
    )
    leftovers = run_py(["-c", probe], env={**_env(token), "RAY_AUTH_MODE": "token"}, timeout=120)
    assert leftovers.stdout.strip() == repr(["1", token]), leftovers.stderr
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        trials = store.trials("cluster")
        assert [t.status for t in trials] == ["ok"] * 6
        assert {t.node["id"] for t in trials if t.node} == set(cluster.raylets)  # both nodes
        assert store.metric_values("cluster", "has_data") == dict.fromkeys(range(6), 1.0)
    shown = run_seedlock(["runs", "cluster"], cwd=project, env=_env(token))
    assert shown.returncode == 0 and "node" in shown.stdout
    listed = json.loads(run_seedlock(["runs", "cluster", "--json"], cwd=project, env=_env(token)).stdout)
    assert {t["node"]["id"] for t in listed["trials"]} == set(cluster.raylets)
    (project / "big.bin").unlink()  # the local executor runs in the project itself
    r = run_seedlock(["repeat", "--seeds", "6", "--workers", "2", "--name", "local", "train.py"], cwd=project)
    assert r.returncode == 0, r.stderr
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        assert [t.fingerprint for t in store.trials("cluster")] == [
            t.fingerprint for t in store.trials("local")
        ]
        assert store.metric_values("cluster", "x") == store.metric_values("local", "x")


def test_a_trial_bigger_than_every_node_is_one_line(cluster: RayCluster, token: str, tmp_path: Path) -> None:
    project, _ = _project(tmp_path)
    cmd = _repeat(cluster.address, token, "--seeds", "2", "--cpus-per-trial", "2")
    r = subprocess.run(cmd, cwd=project, env=_env(token), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "no node of the Ray cluster has 2 CPUs for a trial" in r.stderr and "--cpus-per-trial" in r.stderr


def test_ctrl_c_stops_the_cluster_trials_and_keeps_what_finished(
    cluster: RayCluster, token: str, tmp_path: Path
) -> None:
    import psutil

    project, marks = _project(tmp_path, block="1 2 3")
    cmd = _repeat(cluster.address, token, "--seeds", "4", "--name", "stopped")
    proc = subprocess.Popen(
        cmd, cwd=project, env=_env(token), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Seed 0 ended (its slot went on to seed 2); seeds 1 and 2 hang, one on each node.
    _wait_for([marks / "seed-1.json", marks / "seed-2.json"], proc)
    pids = [json.loads((marks / f"seed-{s}.json").read_text())["pid"] for s in (1, 2)]
    assert {_raylet_of(pid, cluster.raylets) for pid in pids} == set(cluster.raylets)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "seeds left: run the same command again" in err
    assert not [p for p in pids if psutil.pid_exists(p)]  # no trial left running on the nodes
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        status = {t.seed: t.status for t in store.trials("stopped")}
    assert status[0] == "ok" and status[1] == status[2] == "interrupted"
    (tmp_path / "block").unlink()
    r = subprocess.run(cmd, cwd=project, env=_env(token), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 of these seeds already finished ok" in r.stderr and "4 ok of 4 trials" in r.stdout


def test_stopped_while_the_nodes_check_their_fork_servers_nothing_unverified_is_kept(
    cluster: RayCluster, token: str, tmp_path: Path
) -> None:
    """Both forked trials ended ok, but their nodes' cold checks had not: Ctrl-C then must not
    record them ok (never verified), as the local executor does not."""
    import psutil

    project, marks = _project(tmp_path, block="check")
    cmd = _repeat(cluster.address, token, "--seeds", "2", "--name", "unverified")
    proc = subprocess.Popen(
        cmd, cwd=project, env=_env(token), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for([marks / "seed-0.check.json", marks / "seed-1.check.json"], proc)
    cold = [json.loads((marks / f"seed-{s}.check.json").read_text())["pid"] for s in (0, 1)]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        trials = store.trials("unverified")
    assert [(t.status, t.fingerprint) for t in trials] == [("interrupted", None)] * 2
    assert all("before its node's fork-server was verified" in (t.reason or "") for t in trials)
    assert not [p for p in cold if psutil.pid_exists(p)]


def test_a_script_failing_on_some_seeds_is_verified_on_an_ok_one(tmp_path: Path) -> None:
    """Failures alike forked and cold are the script's; the node is verified by an ok trial."""
    project, _ = _project(tmp_path, block="fail-even")
    r = run_seedlock(
        [
            "repeat",
            "--executor",
            "ray",
            "--workers",
            "1",
            "--seed-list",
            "0,2,4,1,3",
            "--name",
            "odd",
            "train.py",
        ],
        cwd=project,
        env=clean_env(RAY_USAGE_STATS_ENABLED="0"),
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    assert "verified: seed 1 forked equals a cold run bitwise" in r.stderr
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        status = {t.seed: t.status for t in store.trials("odd")}
    assert status == {0: "failed", 1: "ok", 2: "failed", 3: "ok", 4: "failed"}


def test_gpu_trials_go_to_the_node_with_gpus_one_gpu_each(
    cluster: RayCluster, token: str, tmp_path: Path
) -> None:
    """Ray takes a node's declared GPUs at their word: a node "with 2 GPUs" on this CPU machine."""
    gpu_node = cluster.add(2, 2)
    project, marks = _project(tmp_path)
    cmd = _repeat(cluster.address, token, "--seeds", "4", "--gpus-per-trial", "1", "--name", "gpus")
    cmd[-1] = str(project / "train.py")  # an absolute path: the node still runs its shipped copy
    r = subprocess.run(cmd, cwd=project, env=_env(token), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "a fork-server on each of 1 node(s), 2 trial slot(s) of 1 CPU(s) and 1 GPU(s)" in r.stderr
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        assert {t.node["id"] for t in store.trials("gpus") if t.node} == {gpu_node}
    where = [json.loads((marks / f"seed-{s}.json").read_text()) for s in range(4)]
    assert {w["env"]["CUDA_VISIBLE_DEVICES"] for w in where} == {"0", "1"}  # each slot its own GPU
    assert not [w["file"] for w in where if w["file"].startswith(str(project))]


def test_a_node_killed_mid_trial_loses_only_its_trial_and_the_same_command_resumes(
    cluster: RayCluster, token: str, tmp_path: Path
) -> None:
    """Last in this file: the cluster has one node fewer afterwards."""
    project, marks = _project(tmp_path, block="3")
    cmd = _repeat(cluster.address, token, "--seeds", "6", "--name", "lost")
    proc = subprocess.Popen(
        cmd, cwd=project, env=_env(token), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for([marks / "seed-3.json"], proc)
    blocked = json.loads((marks / "seed-3.json").read_text())["pid"]
    node = _raylet_of(blocked, cluster.raylets)
    cluster.kill(node)  # SIGKILL: its raylet, its workers, the fork-server and the trial on it
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert f"node {socket.gethostname()} ({node[:8]}) went away" in err
    _gone(blocked)  # the trial died with its node: no orphan runs on
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        trials = {t.seed: t for t in store.trials("lost")}
    assert trials[3].status == "lost" and node[:8] in (trials[3].reason or "")
    assert trials[3].node == {"id": node, "host": socket.gethostname()}
    assert {t.status for s, t in trials.items() if s != 3} <= {"ok", "lost"}
    assert sum(t.status == "ok" for t in trials.values()) >= 4  # the rest went on
    (tmp_path / "block").unlink()
    r = subprocess.run(cmd, cwd=project, env=_env(token), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "6 ok of 6 trials" in r.stdout
    with Store(project / ".seedlock" / "seedlock.db", create=False) as store:
        rerun = store.trials("lost")[3].node
        assert rerun is not None and rerun["id"] in cluster.raylets and rerun["id"] != node


def test_what_cannot_be_shipped_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    project, _ = _project(tmp_path)
    env = clean_env(RAY_USAGE_STATS_ENABLED="0")
    # No cluster listens there: the size is checked before Ray is asked for anything.
    base = ["repeat", "--seeds", "2", "--executor", "ray", "--address", "127.0.0.1:1"]
    r = run_seedlock([*base, "--ship-limit", "1", "train.py"], cwd=project, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "over the 1 MiB limit (biggest: big.bin 3.0 MiB" in r.stderr and "--exclude PATTERN" in r.stderr
    (tmp_path / "outside.py").write_text(TINY)
    r = run_seedlock([*base, "../outside.py"], cwd=project, env=env)
    assert r.returncode == 2 and "is outside the working directory" in r.stderr, r.stderr
    # A linked directory is shipped with what it holds (Ray follows links): it counts.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "blob.bin").write_bytes(os.urandom(2 * 2**20))
    (project / "data").symlink_to(tmp_path / "elsewhere")
    r = run_seedlock([*base, "--exclude", "big.bin", "--ship-limit", "1", "train.py"], cwd=project, env=env)
    assert r.returncode == 2 and "(biggest: data/ 2.0 MiB" in r.stderr, r.stderr
    # A --store in the project, with its run directories: never shipped, so not counted either.
    (project / "runs").mkdir()
    (project / "runs" / "old.bin").write_bytes(os.urandom(2 * 2**20))
    store = ["--store", "results.db", "--exclude", "big.bin", "--exclude", "data", "--ship-limit", "1"]
    r = run_seedlock([*base, *store, "train.py"], cwd=project, env=env)
    assert r.returncode == 2 and "nothing answers at --address" in r.stderr, r.stderr
    # Small enough to ship, but nothing listens there: one line, not Ray's minutes of retries.
    r = run_seedlock([*base, "--exclude", "big.bin", "--exclude", "data", "train.py"], cwd=project, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "nothing answers at --address 127.0.0.1:1" in r.stderr
    assert not (project / ".seedlock").exists() or not list((project / ".seedlock").glob("runs/*/seed-*"))


def test_ray_executor_on_an_existing_cluster_by_address(tmp_path: Path) -> None:
    """`--address`: a real Ray head started apart (`ray start --head --block`), as a cluster is."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    (tmp_path / "tiny.py").write_text(
        textwrap.dedent(
            """\
            import random
            import seedlock
            seedlock.log_metric("x", random.random())
            """
        )
    )
    token = secrets.token_hex(16)
    env = clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    temp = tempfile.mkdtemp(prefix="sl-ray-", dir="/tmp")
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = []
        assert head.stdout is not None
        for line in head.stdout:  # --block prints this once the cluster is up, then blocks
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start exited: " + "".join(seen)[-2000:])
        client = clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_TOKEN=token)
        argv = [
            "repeat",
            "--seeds",
            "3",
            "--workers",
            "2",
            "--executor",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
        ]
        r = run_seedlock([*argv, "--name", "cluster", "tiny.py"], cwd=tmp_path, env=client, timeout=240)
        assert r.returncode == 0, r.stderr
        assert f"cluster 127.0.0.1:{port}" in r.stderr and "3 ok of 3 trials" in r.stdout
        r2 = run_seedlock(["repeat", "--seeds", "3", "--name", "local", "tiny.py"], cwd=tmp_path, env=client)
        assert r2.returncode == 0, r2.stderr
        with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
            assert store.metric_values("cluster", "x") == store.metric_values("local", "x")
            assert [t.fingerprint for t in store.trials("cluster")] == [
                t.fingerprint for t in store.trials("local")
            ]
    finally:
        head.terminate()  # --block: stopping the command stops the cluster it started
        try:
            head.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.communicate()
        shutil.rmtree(temp, ignore_errors=True)
