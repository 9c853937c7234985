"""``--executor ray``: a fork-server on every node of a Ray cluster, the driver scheduling trials.

One :class:`~seedlock.repeat.ray_node.NodeServer` actor per node that fits a trial, pinned to it
and holding the CPUs and GPUs of its slots (``--cpus-per-trial``, ``--gpus-per-trial``): Ray
reserves them, this driver fills them, least-loaded node first. Each actor forks its node's
trials from a zygote that imported the frameworks once, and verifies it against a cold run
(:mod:`seedlock.repeat.ray_node`). With ``--address`` the working directory is shipped to every
node as Ray's ``working_dir`` (:mod:`seedlock.repeat.ship`); without, Ray starts here
(:mod:`seedlock.repeat.ray_cluster`: a fresh token, loopback) and trials run in this directory.

Every result comes back to the driver, which alone writes the store, with the node that ran it.
A node that dies takes its trials in flight with it: they come back ``lost``, naming the node,
the others go on, and the same command reruns them. An interrupt kills every trial on every node
(the finished ones are already recorded).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat import ray_cluster
from seedlock.repeat.executors import lost
from seedlock.repeat.ray_node import NodeServer, gpus_for, numeric_vars, slots_on
from seedlock.repeat.ship import DEFAULT_LIMIT_MIB, runtime_env
from seedlock.repeat.storefile import TrialStatus
from seedlock.repeat.trial import TrialResult, TrialSpec, classify

WAIT_NOTE_S = 10  # seconds without a node ready before saying what is awaited


@dataclass(frozen=True)
class RaySettings:
    """What ``repeat`` was told about Ray."""

    workers: int = 1  # 0 with an address: as many as the cluster's slots
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    excludes: list[str] = field(default_factory=list)
    ship_limit_mib: float = DEFAULT_LIMIT_MIB


def check_available(address: str | None = None) -> None:
    """Raise SeedlockError at once when Ray is missing, before anything runs."""
    ray_cluster.import_ray(address)


@dataclass
class _Node:
    id: str
    host: str
    slots: int
    handle: Any
    ready_ref: Any
    ready: bool = False
    alive: bool = True
    busy: int = 0

    @property
    def label(self) -> str:
        return f"{self.host} ({self.id[:8]})"


class RayExecutor:
    """The trials of one ``repeat`` on the nodes of a Ray cluster; ``close`` ends the actors."""

    mode = "ray"

    def __init__(
        self,
        settings: RaySettings,
        *,
        script: str | None,
        shipped: str | None,
        cwd: str,
        hashseed: int,
        rundirs: str,
    ) -> None:
        """``script``: what each node's zygote imports (None: no forking); ``shipped``: the
        script that must be inside ``cwd``, the directory shipped with ``--address``."""
        s = self.settings = settings
        env = runtime_env(cwd, shipped, s.excludes, s.ship_limit_mib) if s.address else None
        ray, self._started = ray_cluster.init(s.address, max(1, math.ceil(s.workers * s.cpus_per_trial)), env)
        self._ray = ray
        self._notes: list[str] = []
        self._queue: list[TrialSpec] = []
        self._refs: dict[Any, tuple[TrialSpec, _Node]] = {}
        self._done: list[TrialResult] = []
        self._stopping = False
        self.nodes: list[_Node] = []
        try:
            self._start_nodes(
                ray, script, hashseed, None if s.address else rundirs, cwd if s.address else None
            )
            self._first_ready()
        except BaseException:
            self.close()
            raise

    def _start_nodes(
        self, ray: Any, script: str | None, hashseed: int, rundirs: str | None, origin: str | None
    ) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        s = self.settings
        remote = ray.remote(NodeServer)
        alive = [n for n in ray.nodes() if n.get("Alive")]
        for n in alive:
            slots = slots_on(n.get("Resources", {}), s.cpus_per_trial, s.gpus_per_trial)
            if slots < 1:
                continue
            handle = remote.options(
                num_cpus=slots * s.cpus_per_trial,
                num_gpus=gpus_for(slots, s.gpus_per_trial),
                max_concurrency=slots + 4,  # its trials, plus stop() while they run
                max_restarts=0,
                # Ray starts its workers at niceness 15, which the trials would inherit: on a busy
                # node they would lose the CPU to everything else (measured: 1.45x per trial).
                # Merged with the job's runtime env (working_dir); a trial never sees RAY_*.
                runtime_env={"env_vars": {"RAY_worker_niceness": "0"}},
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
            ).remote(script, numeric_vars(os.environ), hashseed, slots, s.gpus_per_trial, rundirs, origin)
            host = n.get("NodeManagerHostname") or n.get("NodeManagerAddress") or "?"
            self.nodes.append(_Node(n["NodeID"], host, slots, handle, handle.info.remote()))
        if not self.nodes:
            per = f"{s.cpus_per_trial:g} CPUs" + (
                f" and {s.gpus_per_trial:g} GPUs" if s.gpus_per_trial else ""
            )
            have = "; ".join(
                f"{n.get('NodeManagerAddress', '?')}: {n.get('Resources', {}).get('CPU', 0):g} CPUs, "
                f"{n.get('Resources', {}).get('GPU', 0):g} GPUs"
                for n in alive
            )
            raise SeedlockError(
                f"no node of the Ray cluster has {per} for a trial (nodes: {have or 'none'}); "
                "lower --cpus-per-trial/--gpus-per-trial or add nodes"
            )
        where = f"cluster {s.address}" if s.address else "local"
        slots = sum(n.slots for n in self.nodes)
        self._notes.append(
            f"ray: {where}: a fork-server on each of {len(self.nodes)} node(s), {slots} trial slot(s) "
            f"of {s.cpus_per_trial:g} CPU(s)"
            + (f" and {s.gpus_per_trial:g} GPU(s)" if s.gpus_per_trial else "")
        )

    def _first_ready(self) -> None:
        """Wait until one node's fork-server actor is up (its zygote imports on): a cluster where
        none can start one is one line before any seed is claimed, not a store full of lost trials."""
        ray, why, waited = self._ray, "", 0
        while not any(n.ready for n in self.nodes):
            pending = [n.ready_ref for n in self.nodes if n.alive and not n.ready]
            if not pending:
                hint = (
                    "; if the cluster runs without token auth while a token is here (~/.ray/auth_token or "
                    "RAY_AUTH_TOKEN), set RAY_AUTH_MODE=disabled"
                    if "references to the actor were removed" in why
                    else ""
                )
                raise SeedlockError(
                    f"no node of the Ray cluster could start seedlock's fork-server actor ({_first_line(why)}); "
                    f"check that every node has seedlock and the script's packages installed{hint}"
                )
            # Short steps: Ctrl-C gets through, and a cluster too busy to place an actor is said.
            ready, _ = ray.wait(pending, num_returns=1, timeout=1.0)
            waited += 1
            if not ready:
                if waited == WAIT_NOTE_S:
                    print(
                        f"seedlock: ray: waiting for a node to start seedlock's fork-server actor (each holds "
                        f"its node's trial slots: {self._per_node()}); the cluster's resources may be in use "
                        "by other jobs (see `ray status`)",
                        file=sys.stderr,
                        flush=True,
                    )
                continue
            node = next(n for n in self.nodes if n.ready_ref == ready[0])
            why = self._node_ready(node) or why

    def _per_node(self) -> str:
        s = self.settings
        gpus = f" and {s.gpus_per_trial:g} GPUs" if s.gpus_per_trial else ""
        return ", ".join(f"{n.label}: {n.slots} x {s.cpus_per_trial:g} CPUs{gpus}" for n in self.nodes)

    @property
    def slots(self) -> int:
        """Trials the cluster can run at once: every node's slots."""
        return sum(n.slots for n in self.nodes if n.alive)

    # -- scheduling -----------------------------------------------------------------------------

    def submit(self, spec: TrialSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and not self._stopping:
            free = [n for n in self.nodes if n.alive and n.ready and n.busy < n.slots]
            if not free:
                break
            node = max(free, key=lambda n: (n.slots - n.busy, -n.busy))
            spec = self._queue.pop(0)
            node.busy += 1
            self._refs[node.handle.run.remote(spec)] = (spec, node)
        if self._queue and not any(n.alive for n in self.nodes):
            why = "lost: every node running this experiment went away; run the same command again"
            self._done += [_ended(spec, "lost", why) for spec in self._queue]
            self._queue.clear()

    def wait(self, timeout: float) -> list[TrialResult]:
        ray = self._ray
        pending = [n.ready_ref for n in self.nodes if n.alive and not n.ready]
        refs = list(self._refs) + pending
        if refs and not self._done:
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            if ready:  # and whatever else is done by now
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                if ref in self._refs:
                    self._finished(ref)
                else:
                    self._node_ready(next(n for n in self.nodes if n.ready_ref == ref))
        self._dispatch()
        out, self._done = self._done, []
        return out

    def _node_ready(self, node: _Node) -> str | None:
        """Take a node's "ready" answer; the error text when its actor could not start."""
        try:
            info = self._ray.get(node.ready_ref)
        except self._ray.exceptions.RayError as exc:
            node.alive = False
            self._notes.append(f"ray: node {node.label} could not start its fork-server: {_first_line(exc)}")
            return str(exc)
        node.ready = True
        node.host = info.get("host", node.host)
        return None

    def _finished(self, ref: Any) -> None:
        ray = self._ray
        spec, node = self._refs.pop(ref)
        node.busy -= 1
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:  # ActorDiedError, ActorUnavailableError too
            if node.alive:
                node.alive = False
                self._notes.append(f"ray: node {node.label} went away: {_first_line(exc)}")
            why = f"lost: node {node.label} went away while it ran; run the same command again to rerun it"
            self._done.append(_ended(spec, "lost", why, node))
            return
        except ray.exceptions.RayError as exc:
            self._done.append(lost(spec, "ray", _first_line(exc)[:300]))
            return
        self._notes.extend(result.notes)
        result.notes = []
        self._done.append(result)

    def in_flight(self) -> int:
        return len(self._queue) + len(self._refs) + len(self._done)

    def interrupt(self) -> None:
        self._stopping = True
        why = classify(None, timed_out=False, interrupted=True, stderr="", timeout=None)[1] or ""
        self._done += [_ended(spec, "interrupted", why) for spec in self._queue]
        self._queue.clear()
        for node in self.nodes:
            if node.alive:
                node.handle.stop.remote()  # kills its trials' process groups: they return interrupted

    def fall_back(self, reason: str) -> None:
        return None  # each node decides for itself (ray_node)

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    def close(self) -> None:
        ray = self._ray
        for node in self.nodes:
            if node.alive:
                with contextlib.suppress(Exception):
                    ray.get(node.handle.close.remote(), timeout=30)
            with contextlib.suppress(Exception):
                ray.kill(node.handle)
        ray_cluster.shutdown(self._started)


def _ended(spec: TrialSpec, status: TrialStatus, reason: str, node: _Node | None = None) -> TrialResult:
    """The result of a trial that ended without a node's answer: lost with its node, never run."""
    where = None if node is None else {"id": node.id, "host": node.host}
    return TrialResult(spec.seed, spec.role, status, None, reason, 0.0, "ray", node=where)


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
