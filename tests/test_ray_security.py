"""The local Ray cluster of ``repeat --executor ray`` (:mod:`seedlock.repeat.ray_cluster`): token
auth with a fresh token that never touches disk, every TCP port on loopback. One real cluster,
started by ``ray_cluster.init(None, 1)`` in a process of its own, serves the whole module."""

from __future__ import annotations

import ipaddress
import json
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, run_py, run_together

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

# Starts Ray (seedlock's way, or plain `ray.init`), prints what the test needs (the token: for
# the test only), and keeps it up until a line arrives on stdin; then shuts down and prints the
# auth variables of its environment.
HOLDER = """\
import json, logging, os, sys
from seedlock.repeat import ray_cluster
if sys.argv[1] == "seedlock":
    ray, started = ray_cluster.init(None, 1)
else:
    import ray
    started = bool(ray.init(address="local", num_cpus=1, include_dashboard=False,
                            logging_level=logging.ERROR, log_to_driver=False))
print(json.dumps({"address": ray.get_runtime_context().gcs_address,
                  "node_ip": ray.util.get_node_ip_address(),
                  "token": os.environ.get("RAY_AUTH_TOKEN")}), flush=True)
sys.stdin.readline()
ray_cluster.shutdown(started)
after = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
print(json.dumps({"env": after, "initialized": ray.is_initialized()}), flush=True)
"""

# Joins the cluster at argv[1] and runs a task, with whatever token its environment holds.
CLIENT = """\
import json, logging, sys
import ray
try:
    ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False)
except Exception as exc:  # the cause says why (Ray wraps it in a ConnectionError)
    print(json.dumps({"connected": False, "error": f"{exc!r} from {exc.__cause__!r}"}))
    raise SystemExit(0)
try:
    answer = ray.get(ray.remote(lambda: 42).remote(), timeout=60)
except Exception as exc:
    print(json.dumps({"connected": True, "task": None, "error": repr(exc)}))
else:
    print(json.dumps({"connected": True, "task": answer}))
"""


class Holder:
    """A process holding a Ray cluster: ``wait()`` for it, then ``info`` (address, node IP,
    token), ``pid``, ``listening()``, ``stop()``."""

    def __init__(self, mode: str, root: Path, env: dict[str, str]) -> None:
        (root / "holder.py").write_text(HOLDER)
        self.mode, self.err = mode, root / f"{mode}.err"
        with self.err.open("w") as err:  # a file: Ray's stderr must not fill a pipe nobody reads
            self.proc = subprocess.Popen(
                [sys.executable, str(root / "holder.py"), mode],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.pid = self.proc.pid
        self.info: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None

    def wait(self) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 180)  # Ray up, or the holder dead
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            pytest.fail(f"Ray did not start ({self.mode}): {self.err.read_text()[-3000:]}")
        self.info = json.loads(line)

    def listening(self) -> list[tuple[str, int, str]]:
        """(ip, port, process name) of every TCP socket listening in the holder's process tree."""
        me = psutil.Process(self.pid)
        out = []
        for proc in [me, *me.children(recursive=True)]:
            try:
                conns = proc.net_connections(kind="tcp")
                out += [(c.laddr.ip, c.laddr.port, proc.name()) for c in conns if c.status == "LISTEN"]
            except psutil.NoSuchProcess:  # a worker that came and went
                pass
        return out

    def stop(self) -> dict[str, Any] | None:
        """Tell the holder to shut Ray down; its last line (None if it died before)."""
        if self.proc.poll() is None:
            out, _ = self.proc.communicate("\n", timeout=120)
            lines = out.strip().splitlines()
            self.final = json.loads(lines[-1]) if self.proc.returncode == 0 and lines else None
        return self.final


def loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:  # gRPC's dual-stack sockets
        addr = addr.ipv4_mapped
    return addr.is_loopback


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sl-sec-", dir="/tmp"))  # Ray's socket paths must stay short
    (path / "home").mkdir()  # a HOME of its own: no ~/.ray/auth_token there, none written to ours
    (path / "client.py").write_text(CLIENT)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ray_env(root: Path, **extra: str) -> dict[str, str]:
    env = clean_env(RAY_USAGE_STATS_ENABLED="0", HOME=str(root / "home"), RAY_TMPDIR=str(root / "rt"))
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        env.pop(var, None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def clusters(root: Path) -> Iterator[dict[str, Holder]]:
    """seedlock's cluster and, its twin, plain ``ray.init``'s, started side by side."""
    (root / "plain" / "home").mkdir(parents=True)
    holders: dict[str, Holder] = {}
    try:
        # RAY_AUTH_MODE=disabled in the user's environment: seedlock's cluster uses a token anyway.
        holders["seedlock"] = Holder("seedlock", root, ray_env(root, RAY_AUTH_MODE="disabled"))
        holders["plain"] = Holder("plain", root / "plain", ray_env(root / "plain"))
        for holder in holders.values():
            holder.wait()
        yield holders
    finally:
        for holder in holders.values():
            holder.stop()


@pytest.fixture(scope="module")
def cluster(clusters: dict[str, Holder]) -> Holder:
    return clusters["seedlock"]


def client_env(root: Path, **extra: str) -> dict[str, str]:
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: else Ray rewrites 127.0.0.1 in the address to this
    # machine's outward IP, where the cluster does not listen. RAY_gcs_server_port_wait_time_s:
    # a refused client gives up after 3 tries, not 20.
    return ray_env(root, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_gcs_server_port_wait_time_s="3", **extra)


def client(root: Path, address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_py([str(root / "client.py"), address], env=env, timeout=180)


def outcome(r: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_process_without_the_token_cannot_join_the_local_cluster(cluster: Holder, root: Path) -> None:
    address = cluster.info["address"]
    runs = run_together(
        lambda: client(root, address, client_env(root)),
        lambda: client(root, address, client_env(root, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)),
    )
    for out in map(outcome, runs):  # no token at all, and a wrong one
        assert out["connected"] is False
        assert "InvalidAuthToken" in out["error"]  # refused for its token, not unreachable


@pytest.mark.slow
def test_the_same_process_with_the_token_joins_and_runs_a_task(cluster: Holder, root: Path) -> None:
    token = cluster.info["token"]
    assert isinstance(token, str) and len(token) == 64
    env = client_env(root, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    assert outcome(client(root, cluster.info["address"], env)) == {"connected": True, "task": 42}


@pytest.mark.slow
def test_every_port_of_the_local_cluster_is_on_loopback(cluster: Holder) -> None:
    sockets = cluster.listening()
    assert {"gcs_server", "raylet"} <= {name for _, _, name in sockets}, sockets
    assert [s for s in sockets if not loopback(s[0])] == []
    assert cluster.info["address"].startswith("127.0.0.1:")


@pytest.mark.slow
def test_plain_ray_init_listens_on_every_interface_and_writes_a_token(clusters: dict[str, Holder]) -> None:
    """The twin: Ray's own default (Ray 2.60), what seedlock started before."""
    plain = clusters["plain"]
    sockets = plain.listening()
    plain.stop()
    assert plain.final is not None and plain.final["initialized"] is False
    if loopback(plain.info["node_ip"]):
        pytest.skip("this machine has no outward IP: plain Ray is on loopback too")
    assert any(name == "gcs_server" and not loopback(ip) for ip, _, name in sockets), sockets
    home = plain.err.parent / "home"
    assert (home / ".ray" / "auth_token").is_file()  # the token Ray generated, on disk


@pytest.mark.slow
def test_the_token_is_not_written_to_disk(cluster: Holder, root: Path) -> None:
    token = cluster.info["token"].encode()
    assert not (root / "home" / ".ray").exists()  # Ray writes a generated token there
    places = [root / "home", root / "rt", Path.home() / ".ray"]  # rt: Ray's temp dir, sessions, logs
    files = [p for place in places if place.is_dir() for p in place.rglob("*") if p.is_file()]
    assert any(p.name == "gcs_server.out" for p in files)  # the session's logs are there to search
    assert [p for p in files if token in p.read_bytes()] == []


@pytest.mark.slow
def test_shutdown_stops_the_cluster_and_gives_the_environment_back(cluster: Holder) -> None:
    procs = psutil.Process(cluster.pid).children(recursive=True)
    final = cluster.stop()
    assert final == {"env": {"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": None}, "initialized": False}
    _, alive = psutil.wait_procs(procs, timeout=60)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []  # zombies: dead, unreaped
