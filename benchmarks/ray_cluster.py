"""`seedlock repeat --executor ray` on a Ray cluster simulated on this machine, against the local fork-server.

20 seeds of seed 002's MLP (examples/seed002_mlp.py, as benchmarks/repeat_speed.py uses), measured in one
run, on clusters started by tests/scripts/ray/cluster.py (Ray's own ``ray.cluster_utils.Cluster``: a head
without CPUs and N worker nodes of 1 CPU each, token-authenticated), each one fresh for its run:

* ``repeat --executor ray --address ADDR --workers 2`` on a 2-node cluster, against ``--workers 1`` on a
  1-node cluster: the speed-up of two nodes (target >= 1.8x), whole command, wall-clock;
* ``repeat --workers 1`` against ``repeat --workers 2`` with the local fork-server, same script and seeds:
  how far two trials at once can speed this script up on this 2-core machine at all (two Keras fits at
  once each run ~1.4x slower than one alone, see repeat_speed.py), and the cluster's speed-up over that;
* the per-trial time of the Ray path on one node against the local fork-server, both ``--workers 1``
  (target <= 1.1x): the median interval between one trial's script starting and the next one's
  (start-to-start: the trial's fit, its exit, the result reaching the driver, the store, the next fork),
  split into the script's own run (its first line to its last) and the gap around it; also the whole
  command's wall time / seeds, which includes the start-up and the one cold verification run per node;
* the same 1-node Ray run (10 seeds) on a cluster started with ``RAY_worker_niceness=0``: Ray starts its
  workers at niceness 15, the fork-server actor is one, and its trials inherit it (each trial's niceness
  is recorded), so on a machine shared with other work they get less of the CPU than local trials;
* time from ``repeat`` starting to the first trial running: the first line of the first trial (the
  cold verification run included) and the first forked trial's first line (its imports are done in the
  zygote, so its fit begins there), from a mark each trial appends to a file; also a second, small
  ``repeat`` on the same 1-node cluster, once warm (its workers and the shipped directory already there).

Every ``repeat`` gets a store of its own; runs alternate local/Ray, in reversed order in the second
round (ABBA), and each configuration's two runs are averaged; the load average as each run ends is
printed with it (this benchmark's own processes count ~1-2). Takes about 16 minutes.

``--one-thread`` runs every trial (local and on the nodes) with TensorFlow and OpenMP on one thread, so
that a simulated node of 1 CPU really has one: without it a fit alone uses both cores here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "seed002_mlp.py"
CLUSTER = ROOT / "tests" / "scripts" / "ray" / "cluster.py"
SEEDS, ROUNDS = 20, 2
# --one-thread: each trial's TensorFlow on one thread, so a "node of 1 CPU" uses one core. Without it a
# fit alone spreads over both cores of this machine and a 1-node baseline gets the whole machine.
ONE_THREAD = False
NICE0_SEEDS = 10  # the same 1-node run with the trials at niceness 0: enough for a median per trial

# Prepended to the script (after its imports, and at its end): one line per trial and phase, appended to
# a file outside the working directory (the Ray nodes are this machine). Check runs are told apart by
# their run directory, which ends in ".check" (SEEDLOCK_METRICS lies in it). The last field: the trial's niceness.
MARK = """import os as _os, time as _time
def _mark(phase):
    role = "check" if ".check" in _os.environ.get("SEEDLOCK_METRICS", "") else "trial"
    line = f"{{_os.environ.get('SEEDLOCK_SEED')}} {{role}} {{phase}} {{_time.time()!r}} {{_os.nice(0)}}\\n"
    fd = _os.open({marks!r}, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT)
    _os.write(fd, line.encode())
    _os.close(fd)
"""


@dataclass
class Run:
    """One ``repeat`` command: what it took and what its trials marked."""

    wall: float
    marks: list[tuple[int, str, str, float]]  # seed, role, phase, time (relative to the command's start)
    trials: list[dict[str, object]]  # the store's rows
    claimed: float  # the first seed claimed (the store's ``started``), relative to the command's start
    nice: set[int]  # the niceness of the trials' processes
    load: float  # the 1-minute load average as the command ended
    notes: list[str] = field(default_factory=list)

    def first(self, phase: str, role: str | None = None) -> float:
        return min(t for _, r, p, t in self.marks if p == phase and (role is None or r == role))

    def per_trial(self) -> tuple[float, float, float]:
        """(start-to-start, the script's own run, the gap) medians over the trials run one at a time."""
        times = {(s, r, p): t for s, r, p, t in self.marks}
        order = sorted((t, s) for (s, r, p), t in times.items() if r == "trial" and p == "start")
        steps = [b[0] - a[0] for a, b in zip(order, order[1:], strict=False)]
        body = [times[(s, "trial", "end")] - t for t, s in order]
        gaps = [b[0] - times[(a[1], "trial", "end")] for a, b in zip(order, order[1:], strict=False)]
        return statistics.median(steps), statistics.median(body), statistics.median(gaps)

    def span(self) -> float:
        """From the first forked trial's start to the last trial's end: the steady part of the run."""
        ends = [t for _, r, p, t in self.marks if p == "end" and r == "trial"]
        return max(ends) - self.first("start", "trial")

    def nodes(self) -> int:
        return len({str(t["node"]) for t in self.trials})


class Cluster:
    """tests/scripts/ray/cluster.py in the background: a fresh cluster of ``nodes`` 1-CPU nodes."""

    def __init__(self, temp: Path, nodes: int, env: dict[str, str]) -> None:
        t = time.perf_counter()
        self.proc = subprocess.Popen(
            [PY, str(CLUSTER), str(temp), str(nodes)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the cluster did not start ({self.proc.wait()})")
        self.address: str = json.loads(line)["address"]
        self.start_s = time.perf_counter() - t

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def repeat(
    work: Path,
    marks: Path,
    store: Path,
    workers: int,
    env: dict[str, str],
    *extra: str,
    seeds: int | None = None,
) -> Run:
    seeds = seeds or SEEDS
    seedlock_bin = str(Path(PY).with_name("seedlock"))
    cmd = [seedlock_bin, "repeat", "--seeds", str(seeds), "--workers", str(workers), "--store", str(store)]
    cmd += [*extra, SCRIPT.name]
    marks.unlink(missing_ok=True)
    t0, w = time.time(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - w
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    rows, nice = [], set()
    for line in marks.read_text().splitlines():
        seed, role, phase, t, niceness = line.split()
        rows.append((int(seed), role, phase, float(t) - t0))
        nice.add(int(niceness))
    with sqlite3.connect(store) as db:
        db.row_factory = sqlite3.Row
        trials = [dict(r) for r in db.execute("SELECT seed, status, duration_s, started, node FROM trials")]
    if sorted(str(t["status"]) for t in trials) != ["ok"] * seeds:
        raise SystemExit(f"{' '.join(cmd)}: not {seeds} ok trials: {trials}")
    claimed = min(datetime.fromisoformat(str(t["started"])).timestamp() for t in trials) - t0
    notes = [
        line.strip()
        for line in (done.stdout + done.stderr).splitlines()
        if any(k in line for k in ("ray:", "verified", "fork-server:"))
    ]
    return Run(wall, rows, trials, claimed, nice, os.getloadavg()[0], notes)


def mean(runs: list[Run], f: Callable[[Run], float]) -> float:
    return statistics.fmean(f(r) for r in runs)


def main() -> None:
    token = secrets.token_hex(16)
    cluster_env = clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    env = clean_env(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_TOKEN=token)
    if ONE_THREAD:  # every trial on one core, local or on a node: a 1-CPU node is one CPU
        env.update(OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        print("--one-thread: OMP_NUM_THREADS=TF_NUM_INTRAOP_THREADS=TF_NUM_INTEROP_THREADS=1", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="slrb", dir="/tmp"))  # Ray's socket paths must stay short
    runs: dict[str, list[Run]] = {k: [] for k in ("local1", "local2", "ray1", "ray2", "warm1", "nice0")}
    cluster_start: dict[int, list[float]] = {1: [], 2: []}
    load = os.getloadavg()[0]
    try:
        work, marks = tmp / "w", tmp / "marks.txt"
        work.mkdir()
        text = SCRIPT.read_text()
        head, imports_end, rest = text.partition("import numpy as np  # noqa: E402\n")
        (work / SCRIPT.name).write_text(
            MARK.format(marks=str(marks))
            + '_mark("start")\n'
            + head
            + imports_end
            + '_mark("imported")\n'
            + rest
            + '_mark("end")\n'
        )
        count = 0

        def local(workers: int) -> None:
            nonlocal count
            count += 1
            runs[f"local{workers}"].append(repeat(work, marks, tmp / f"s{count}.db", workers, env))

        def on_cluster(nodes: int, nice0: bool = False) -> None:
            nonlocal count
            # Ray starts its workers at niceness 15 (its worker_niceness), and the trials inherit it.
            c = Cluster(
                tmp / f"r{count}",
                nodes,
                {**cluster_env, "RAY_worker_niceness": "0"} if nice0 else cluster_env,
            )
            if not nice0:
                cluster_start[nodes].append(c.start_s)
            try:
                todo = [(f"ray{nodes}", SEEDS)] + ([("warm1", 2)] if nodes == 1 else [])
                for name, seeds in [("nice0", NICE0_SEEDS)] if nice0 else todo:
                    count += 1
                    extra = ["--executor", "ray", "--address", c.address]
                    runs[name].append(
                        repeat(work, marks, tmp / f"s{count}.db", nodes, env, *extra, seeds=seeds)
                    )
            finally:
                c.close()

        order = [
            lambda: on_cluster(1),
            lambda: local(1),
            lambda: on_cluster(1, nice0=True),
            lambda: on_cluster(2),
            lambda: local(2),
        ]
        for r in range(ROUNDS):
            for step in order if r % 2 == 0 else order[::-1]:
                step()
                print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(runs, cluster_start)
    print(f"load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after")


def report(runs: dict[str, list[Run]], cluster_start: dict[int, list[float]]) -> None:
    wall = {k: mean(v, lambda r: r.wall) for k, v in runs.items()}
    span = {k: mean(v, Run.span) for k, v in runs.items()}
    print(
        f"{SEEDS} seeds of {SCRIPT.name}, {ROUNDS} runs each (mean); cluster start-up (not in the times below): "
        f"1 node {statistics.fmean(cluster_start[1]):.1f} s, 2 nodes {statistics.fmean(cluster_start[2]):.1f} s"
    )
    print(f"  {'':<38} {'wall':>8} {'(runs)':>13} {'steady':>8}  {'load at end':>11}  nodes  nice")
    for key, name in [
        ("local1", "local fork-server, --workers 1"),
        ("local2", "local fork-server, --workers 2"),
        ("ray1", "Ray, 1 node, --workers 1"),
        ("ray2", "Ray, 2 nodes, --workers 2"),
        ("nice0", f"  1 node, trials at nice 0, {NICE0_SEEDS} seeds"),
        ("warm1", "  1 node, a 2nd repeat, 2 seeds"),
    ]:
        each = " ".join(f"{r.wall:.1f}" for r in runs[key])
        loads = " ".join(f"{r.load:.1f}" for r in runs[key])
        used = "/".join(str(r.nodes()) for r in runs[key]) if not key.startswith("local") else "-"
        nice = ",".join(str(n) for n in sorted(set().union(*(r.nice for r in runs[key]))))
        print(
            f"  {name:<38} {wall[key]:7.1f} s {each:>13} {span[key]:7.1f} s  {loads:>11}  {used:>5}  {nice}"
        )
    print("  (steady: from the first forked trial's start to the last trial's end)")
    ray_x, local_x = wall["ray1"] / wall["ray2"], wall["local1"] / wall["local2"]

    def rounds(a: str, b: str) -> str:
        return ", ".join(f"{x.wall / y.wall:.2f}" for x, y in zip(runs[a], runs[b], strict=True))

    print("speed-up of a second worker: wall [each round] (steady):")
    ok = "OK" if ray_x >= 1.8 else "MISSED"
    print(
        f"  Ray, 2 nodes over 1 node        {ray_x:5.2f}x [{rounds('ray1', 'ray2')}] "
        f"({span['ray1'] / span['ray2']:.2f}x)  (target >= 1.8: {ok})"
    )
    print(
        f"  local, 2 workers over 1         {local_x:5.2f}x [{rounds('local1', 'local2')}] "
        f"({span['local1'] / span['local2']:.2f}x)"
    )
    print(f"  Ray's over local's              {ray_x / local_x:5.2f}")
    one = ("local1", "ray1", "nice0")
    step = {k: mean(runs[k], lambda r: r.per_trial()[0]) for k in one}
    body = {k: mean(runs[k], lambda r: r.per_trial()[1]) for k in one}
    gap = {k: mean(runs[k], lambda r: r.per_trial()[2]) for k in one}
    dur = {
        k: mean(runs[k], lambda r: statistics.median(float(str(t["duration_s"])) for t in r.trials))
        for k in step
    }
    print("per trial, one node, --workers 1 (medians over the trials, mean of the runs):")
    print(f"  {'':<32} {'start-to-start':>14} {'script':>8} {'gap':>8} {'duration_s':>11} {'wall/N':>9}")
    for key, name, n in [
        ("local1", "local fork-server", SEEDS),
        ("ray1", "Ray, 1 node", SEEDS),
        ("nice0", f"  trials at nice 0 ({NICE0_SEEDS} seeds)", NICE0_SEEDS),
    ]:
        print(
            f"  {name:<32} {step[key]:12.2f} s {body[key]:6.2f} s {gap[key]:6.2f} s {dur[key]:9.2f} s "
            f"{wall[key] / n:7.2f} s"
        )
    ratio = step["ray1"] / step["local1"]
    print(
        f"  Ray / local: start-to-start {ratio:.2f}x (target <= 1.1: {'OK' if ratio <= 1.1 else 'MISSED'}), "
        f"script {body['ray1'] / body['local1']:.2f}x, wall/N {wall['ray1'] / wall['local1']:.2f}x, "
        f"duration_s {dur['ray1'] / dur['local1']:.2f}x"
    )
    print(
        f"  Ray at nice 0 / local: start-to-start {step['nice0'] / step['local1']:.2f}x, "
        f"script {body['nice0'] / body['local1']:.2f}x"
    )
    print("from `repeat` starting to (mean of the runs):")
    print(f"  {'':<36} {'first trial line':>16} {'first forked trial':>19} {'first seed claimed':>19}")
    for key, name in [
        ("local1", "local fork-server, --workers 1"),
        ("local2", "local fork-server, --workers 2"),
        ("ray1", "Ray, fresh 1-node cluster"),
        ("ray2", "Ray, fresh 2-node cluster"),
        ("warm1", "Ray, 1-node cluster, 2nd repeat"),
    ]:
        a = mean(runs[key], lambda r: r.first("start"))
        b = mean(runs[key], lambda r: r.first("start", "trial"))
        c = mean(runs[key], lambda r: r.claimed)
        print(f"  {name:<36} {a:14.2f} s {b:17.2f} s {c:17.2f} s")
    print("notes of the last run of each:")
    for key in ("local1", "ray1", "ray2"):
        for line in runs[key][-1].notes:
            print(f"  {key}: {line}")


if __name__ == "__main__":
    ONE_THREAD = "--one-thread" in sys.argv
    argv = [a for a in sys.argv[1:] if a != "--one-thread"]
    if argv:  # a quick try of the script itself: SEEDS [ROUNDS]
        SEEDS, ROUNDS = int(argv[0]), int(argv[1]) if len(argv) > 1 else ROUNDS
        NICE0_SEEDS = min(NICE0_SEEDS, SEEDS)
    main()
