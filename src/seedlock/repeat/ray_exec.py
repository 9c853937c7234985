"""``--executor ray``: each trial is a Ray task that runs the fresh-process trial on a worker.

The task starts ``python -m seedlock.launch.boot path SCRIPT ARGS`` with ``seedlock run``'s
environment (:func:`seedlock.repeat.trial.run_fresh`), enforces ``--timeout`` itself, and returns
the :class:`~seedlock.repeat.trial.TrialResult` (exit code, stdout/stderr tails, metrics,
fingerprint); the driver alone writes to the store. Locally (no ``--address``) Ray gets
``num_cpus=W`` and the trials get this process's environment, so they are the very processes the
local executor would start: same seeds, bitwise the same fingerprints. On a cluster the script
must be at the same path on every node, and trials get the worker's own environment.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat.executors import lost
from seedlock.repeat.trial import TrialResult, TrialSpec, run_fresh


def _use_token_auth() -> None:
    """Use the cluster's token when one is here. A local ``ray.init()`` turns token auth on by
    itself when a token exists; connecting to an address does not (Ray 2.60), and a cluster
    started by ``ray start --head`` wants one. A client in token mode also talks to a cluster
    without auth, so this never stops a connection that would have worked."""
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return  # the user's explicit choice
    if (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def _import_ray(address: str | None = None) -> Any:
    if address:
        _use_token_auth()  # read by Ray once, at import
    try:
        import ray
    except ImportError as exc:
        raise SeedlockError(
            f"--executor ray needs Ray, which cannot be imported ({exc}); "
            "install it (pip install 'seedlock[ray]') or use --executor local"
        ) from None
    return ray


def check_available(address: str | None = None) -> None:
    """Raise SeedlockError at once when Ray is missing, before anything runs."""
    _import_ray(address)


class RayExecutor:
    """Up to ``workers`` trials at once as Ray tasks; ``ray.init`` here, ``ray.shutdown`` on close."""

    mode = "ray"

    def __init__(self, workers: int, address: str | None) -> None:
        ray = self._ray = _import_ray(address)
        self._started = not ray.is_initialized()
        try:
            if self._started and address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            elif self._started:
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"at {address!r}" if address else "locally"
            fix = (
                (
                    "check --address and, if the cluster uses token auth, that its token is here "
                    "(~/.ray/auth_token or RAY_AUTH_TOKEN)"
                )
                if address
                else "start a cluster with `ray start --head`"
            )
            raise SeedlockError(f"cannot start Ray {where} ({exc}); {fix}") from None
        # Locally, the trials get this process's environment (as the local executor's do);
        # on a cluster, the worker's own.
        self._base = None if address else dict(os.environ)
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_fresh)
        self._refs: dict[Any, TrialSpec] = {}
        self._stopping = False
        self._notes = [
            f"ray: trials run as Ray tasks ({'cluster ' + address if address else f'local, {workers} CPUs'})"
        ]

    def submit(self, spec: TrialSpec) -> None:
        self._refs[self._task.remote(spec, self._base, "ray")] = spec

    def wait(self, timeout: float) -> list[TrialResult]:
        if not self._refs:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:  # and whatever else is done by now
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        out = []
        for ref in ready:
            spec = self._refs.pop(ref)
            try:
                out.append(ray.get(ref))
            except ray.exceptions.TaskCancelledError:
                out.append(
                    TrialResult(
                        spec.seed,
                        spec.role,
                        "interrupted",
                        None,
                        "seedlock repeat was interrupted; run the same command again to finish it",
                        0.0,
                        "ray",
                    )
                )
            except ray.exceptions.RayError as exc:  # the worker died, the node went away...
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                out.append(lost(spec, "ray", first[:300]))
        return out

    def in_flight(self) -> int:
        return len(self._refs)

    def interrupt(self) -> None:
        # Not force=True: the task gets KeyboardInterrupt, and trial.run() kills the script's
        # process group on its way out; a killed worker would leave the script running.
        self._stopping = True
        for ref in list(self._refs):
            self._ray.cancel(ref)

    def fall_back(self, reason: str) -> None:
        return None  # Ray tasks are fresh processes already

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
