"""The fork-server of one Ray node: a long-lived actor that runs that node's trials.

``--executor ray`` starts one :class:`NodeServer` per node (pinned there, holding the CPUs and
GPUs of its trial slots). It starts the node's zygote (:mod:`seedlock.repeat.forkserver`), which
imports the script's frameworks once, and forks each trial from it; where forking is unsafe
(JAX, CUDA initialised, threads) or the zygote dies, its trials are fresh processes, as on one
machine. Each node verifies its own zygote: the first trial forked there is run again cold, and
the two must be bitwise equal; until then the node's other forked results wait, and if they
differ the node reruns them fresh. Trials start in the node's copy of the working directory (Ray's
``working_dir``) with seedlock's environment: the seed, PYTHONHASHSEED and determinism variables,
and the driver's values of the variables that change numerics (thread counts, TF/XLA/cuBLAS
settings), never the worker's own (Ray sets ``OMP_NUM_THREADS=1`` in its workers).

>>> node_env({"PATH": "/bin", "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "token"}, {"TF_DETERMINISTIC_OPS": "1"})
{'PATH': '/bin', 'TF_DETERMINISTIC_OPS': '1'}
>>> slot_devices(["0", "1", "2", "3"], slots=2, per_trial=2.0), slot_devices(["5"], slots=2, per_trial=0.5)
(['0,1', '2,3'], ['5', '5'])
>>> slots_on({"CPU": 6, "GPU": 2}, 1, 0.4), gpus_for(4, 0.4), slot_devices(["0", "1"], slots=4, per_trial=0.4)
(4, 2.0, ['0', '0', '1', '1'])
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import shutil
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from seedlock.repeat.executors import LocalExecutor, lost
from seedlock.repeat.trial import SECRET_VARS, TrialResult, TrialSpec, zygote_env

# Variables that change what a trial computes (thread counts, kernels, determinism): a trial gets
# the driver's value of each, or none, whatever the node's worker has.
NUMERIC_PREFIXES = (
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "BLIS_",
    "VECLIB_",
    "NUMEXPR_",
    "TF_",
    "XLA_",
    "KERAS_",
    "JAX_",
    "CUBLAS_",
    "CUDNN_",
    "NVIDIA_TF32",
    "TORCH_",
    "PYTORCH_",
    "CUDA_VISIBLE_DEVICES",
)


def numeric_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that change numerics: what the driver ships to every node."""
    return {
        k: v for k, v in environ.items() if k.startswith(NUMERIC_PREFIXES) and k != "CUDA_VISIBLE_DEVICES"
    }


def node_env(worker: Mapping[str, str], driver: Mapping[str, str]) -> dict[str, str]:
    """A trial's base environment on a node: the worker's, less its numeric variables, secrets
    and Ray's own ``RAY_*`` settings (a trial that starts Ray itself must not join this cluster),
    plus the driver's numeric variables."""
    env = {
        k: v
        for k, v in worker.items()
        if not k.startswith((*NUMERIC_PREFIXES, "RAY_")) and k not in SECRET_VARS
    }
    env.update(driver)
    return env


def per_gpu(per_trial: float) -> int:
    """Trials that share one GPU at ``per_trial`` (a fraction below 1) each: never more than fit."""
    return max(1, math.floor(1 / per_trial + 1e-9))


def slot_devices(gpu_ids: list[str], *, slots: int, per_trial: float) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each trial slot of a node, from the GPUs Ray gave its actor:
    ``per_trial`` whole GPUs each, or a fraction below 1 packed GPU by GPU."""
    if per_trial >= 1:
        n = int(per_trial)
        return [",".join(gpu_ids[i * n : (i + 1) * n]) for i in range(slots)]
    return [gpu_ids[i // per_gpu(per_trial)] for i in range(slots)]


def gpus_for(slots: int, per_trial: float) -> float:
    """Whole GPUs the actor of ``slots`` slots asks Ray for (Ray wants whole numbers above 1)."""
    if per_trial <= 0:
        return 0.0
    return float(slots * int(per_trial)) if per_trial >= 1 else float(math.ceil(slots / per_gpu(per_trial)))


class NodeServer:
    """The body of the per-node actor (made remote by :mod:`seedlock.repeat.ray_exec`)."""

    def __init__(
        self,
        script: str | None,
        driver_vars: dict[str, str],
        hashseed: int,
        slots: int,
        gpus_per_trial: float,
        rundirs: str | None,
        origin: str | None = None,
    ) -> None:
        """``rundirs``: the driver's run directories when they are on this machine (a local Ray),
        else None (a temporary directory here); ``origin``: the driver's working directory when
        it was shipped (paths under it are mapped to this node's copy)."""
        import ray

        self.node = {"id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}
        self._label = f"node {self.node['host']} ({self.node['id'][:8]})"  # what its notes begin with
        self.cwd = os.getcwd()  # the node's copy of the working directory (Ray's working_dir)
        self.origin = origin
        self.keep = bool(rundirs)  # a temporary root is removed at close, unless it explains a failure
        self.root = rundirs if rundirs else tempfile.mkdtemp(prefix="seedlock-node-")
        script = self._here(script) if script else script
        self.base = node_env(os.environ, driver_vars)
        devices: list[str | None] = [None] * slots
        if gpus_per_trial > 0:
            devices = list(
                slot_devices([str(g) for g in ray.get_gpu_ids()], slots=slots, per_trial=gpus_per_trial)
            )
        self._slots: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        for d in devices:
            self._slots.put(d)
        zygote = zygote_env(TrialSpec(0, script or "", [], self.cwd, self.root, hashseed=hashseed), self.base)
        log = os.path.join(self.root, f"forkserver-{self.node['id'][:12]}.log")
        self.local = LocalExecutor(
            slots, script=script, cwd=self.cwd, zygote_env=zygote, log=log, base=self.base
        )
        # Verification of this node's zygote: pending, passed or failed.
        self._cond = threading.Condition()
        self._state = "pending" if script is not None else "passed"
        self._checking = False
        self._confirmed = False  # a forked failure was matched by a cold one: the script's own
        self._stopped = False
        self._notes: list[str] = []

    def info(self) -> dict[str, Any]:
        """Where it is: the driver's "node ready", as soon as the actor is up. The zygote imports
        meanwhile; the node's first trial starts its cold twin at once, beside those imports."""
        return {**self.node, "cwd": self.cwd, "root": self.root}

    def _say(self, line: str) -> None:
        self._notes.append(f"{self._label}: {line}")

    def run(self, spec: TrialSpec) -> TrialResult:
        device = self._slots.get()
        try:
            local = replace(
                spec,
                script=self._here(spec.script),
                args=[self._here(a) for a in spec.args],
                cwd=self.cwd,
                rundir=os.path.join(self.root, os.path.basename(spec.rundir)),
                devices=device,
            )
            result = self._verified(local)
        finally:
            self._slots.put(device)
        result.node = dict(self.node)
        result.mode = f"ray-{result.mode}"  # ray-fork or ray-fresh: the manifest's executor
        notes = [f"{self._label}: {line}" for line in self.local.notes()]
        with self._cond:  # _decide appends under it, from another trial's thread
            result.notes, self._notes = notes + self._notes, []
        return result

    def _here(self, path: str) -> str:
        """A path of the driver's working directory as this node's copy has it: an absolute
        script path must not run the driver's file where the same path exists (NFS, one machine)."""
        if self.origin and os.path.isabs(path):
            rel = os.path.relpath(path, self.origin)
            if not rel.startswith(os.pardir):
                return rel
        return path

    def _verified(self, spec: TrialSpec) -> TrialResult:
        """Run the trial forked. The node's first trial is compared with a cold run of its seed;
        the others wait for that verdict, and are rerun fresh if it fails. Once a failure was
        confirmed cold, failed forked trials are the script's own and only an ok one can verify
        the node (as ``driver.Driver`` does on one machine)."""
        with self._cond:
            first = self._state == "pending" and not (self._checking or self._confirmed or self._stopped)
            # A twin beside the trial holds no slot: only where it shares no GPU with the trial.
            first = first and self.local.server is not None and spec.devices is None
            self._checking = self._checking or first
        if first:
            return self._first(spec)
        forked = self.local.run_one(spec)
        if forked.mode != "fork":
            return forked
        with self._cond:
            while self._state == "pending" and not self._stopped:
                if forked.status != "ok" and self._confirmed:
                    return forked
                if not self._checking:
                    self._checking = True
                    break
                self._cond.wait()
            else:
                if self._state == "passed":
                    return forked
                if self._state == "pending":  # stopped before this node was verified
                    return _unverified(forked)
        if self._state == "pending":
            self._decide(spec, forked, self._cold(spec))
        return self._after(spec, forked)

    def _first(self, spec: TrialSpec) -> TrialResult:
        """The node's first trial: its cold twin starts at once, beside the zygote's imports (as
        the local executor's check does), and the forked run follows when the zygote is ready."""
        box: list[TrialResult] = []
        cold = threading.Thread(
            target=lambda: box.append(self._cold(spec)), name="seedlock-cold", daemon=True
        )
        cold.start()
        decided = False
        try:
            forked = self.local.run_one(spec)
            cold.join()
            if forked.mode != "fork":  # the zygote refused (JAX, CUDA, threads) or died: nothing to verify
                return forked
            self._decide(spec, forked, box[0])
            decided = True
        finally:
            if not decided:  # never leave the node's other trials waiting for a check that ended
                cold.join()
                with self._cond:
                    self._checking = False
                    self._cond.notify_all()
        return self._after(spec, forked)

    def _after(self, spec: TrialSpec, forked: TrialResult) -> TrialResult:
        """A forked result once its node's check is decided."""
        if self._state == "failed":
            return self._fresh(spec)
        if self._state == "passed" or (forked.status != "ok" and self._confirmed):
            return forked
        return _unverified(forked)

    def _fresh(self, spec: TrialSpec) -> TrialResult:
        """Run it again fresh (the node fell back), its forked run kept aside for ``seedlock diff``."""
        kept = spec.rundir + ".forked"
        shutil.rmtree(kept, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rename(spec.rundir, kept)
        return self.local.run_one(spec)

    def _cold(self, spec: TrialSpec) -> TrialResult:
        check = replace(spec, role="check", rundir=spec.rundir + ".check")
        try:
            return self.local.run_one(check)
        except Exception as exc:  # noqa: BLE001 - an OS error around the run: the check failed
            return lost(check, "fresh", f"{type(exc).__name__}: {exc}")

    def _decide(self, spec: TrialSpec, forked: TrialResult, cold: TrialResult) -> None:
        with self._cond:
            if self._stopped:
                pass
            elif cold.status == forked.status == "ok" and cold.fingerprint == forked.fingerprint:
                self._state = "passed"
                self._say(
                    f"verified: seed {spec.seed} forked equals a cold run bitwise "
                    f"(fingerprint {str(cold.fingerprint)[:16]})"
                )
            elif cold.status == forked.status != "ok":
                self._confirmed = True  # the script's own failure: the next ok trial verifies
            else:
                how = (
                    f"fingerprint {forked.fingerprint} vs {cold.fingerprint}"
                    if cold.status == forked.status
                    else f"{forked.status} forked vs {cold.status} cold"
                )
                self._state = "failed"
                self.keep = True  # its run directories show where they differ
                self._say(
                    f"warning: seed {spec.seed} forked differs from a cold run ({how}); rerunning this node's "
                    f"trials fresh (where they differ, on this node: seedlock diff "
                    f"{spec.rundir}.forked/trace.jsonl {spec.rundir}.check/trace.jsonl)"
                )
                self.local.fall_back(f"a forked trial differed from a cold run of seed {spec.seed}")
            self._checking = False
            self._cond.notify_all()

    def stop(self) -> int:
        """Kill every trial running here (the driver was interrupted); they return as interrupted."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self.local.interrupt()
        return 0

    def close(self) -> None:
        self.local.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _unverified(r: TrialResult) -> TrialResult:
    """A forked result from before its node was verified: not trusted, run again next time."""
    return replace(
        r,
        status="interrupted",
        fingerprint=None,
        reason="finished before its node's fork-server was verified; run the same command again",
    )


def slots_on(resources: Mapping[str, float], cpus: float, gpus: float) -> int:
    """How many trials of ``cpus`` CPUs and ``gpus`` GPUs fit on a node with ``resources``."""
    n = math.floor(resources.get("CPU", 0) / cpus + 1e-9) if cpus > 0 else 1 << 20
    if gpus >= 1:
        n = min(n, math.floor(resources.get("GPU", 0) / gpus + 1e-9))
    elif gpus > 0:
        n = min(n, math.floor(resources.get("GPU", 0) + 1e-9) * per_gpu(gpus))
    return n if n < 1 << 20 else 1
