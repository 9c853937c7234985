"""The Ray that ``--executor ray`` uses: a private local cluster, or the cluster at ``--address``.

Without an address, Ray starts here with token authentication, a fresh random token per run,
and every TCP port on loopback (127.0.0.1): nothing outside this machine reaches it, and a
process here without the token is refused. The token is handed to Ray's processes through the
environment only; Ray writes no token file (``~/.ray/auth_token``) when it finds one there.
With an address, seedlock connects as a client and uses the cluster's token when one is here.

    ray, started = init(None, num_cpus=4)
    try:
        ...  # ray.remote(...), with the trials' environment stripped of SECRET_VARS
    finally:
        shutdown(started)
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError

# What a trial (the user's script) must never inherit: credentials of a Ray cluster. A Ray
# worker has them in its environment when its node was started with them (the local cluster
# puts RAY_AUTH_TOKEN there), so a trial built from a worker's or this driver's environment
# would otherwise carry them. RAY_REDIS_PASSWORD: external-Redis GCS; RAY_JOB_HEADERS: job API.
SECRET_VARS: tuple[str, ...] = ("RAY_AUTH_TOKEN", "RAY_REDIS_PASSWORD", "RAY_JOB_HEADERS")

# What init() put into os.environ for the local cluster, with the values it replaced.
_saved: dict[str, str | None] = {}


def _use_token_auth() -> None:
    """Use the cluster's token when one is here. A local ``ray.init()`` turns token auth on by
    itself when a token exists; connecting to an address does not (Ray 2.60), and a cluster
    started by ``ray start --head`` wants one. (Against a cluster without auth, a client in token
    mode connects but its actors never start, Ray 2.60: RAY_AUTH_MODE=disabled is the way out.)"""
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return  # the user's explicit choice
    if (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"
        _reload_auth()  # Ray reads the mode at import; it may be imported already


def import_ray(address: str | None = None) -> Any:
    """The ``ray`` module, or a one-line SeedlockError when it cannot be imported."""
    if address:
        _use_token_auth()
    try:
        import ray
    except ImportError as exc:
        raise SeedlockError(
            f"--executor ray needs Ray, which cannot be imported ({exc}); "
            "install it (pip install 'seedlock[ray]') or use --executor local"
        ) from None
    return ray


def _reload_auth() -> None:
    """Make this process see the RAY_AUTH_* variables as they are now. Ray caches the mode (in
    its config) and the token (in its loader) once read; private APIs, absent from a Ray without
    token auth. Config first: a draining gRPC thread must not reload the token in token mode."""
    if "ray" not in sys.modules:
        return  # read fresh at import
    import ray._raylet as raylet

    config, loader = getattr(raylet, "Config", None), getattr(raylet, "AuthenticationTokenLoader", None)
    if config is None or loader is None:
        return
    config.initialize("")
    loader.instance().reset_cache()


def _reachable(address: str, timeout: float = 10.0) -> None:
    """Raise one line when nothing listens at a ``HOST:PORT`` address: Ray itself would retry
    for minutes, printing its own warnings. Other forms (``auto``, ``ray://...``) go to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    raise SeedlockError(
        f"nothing answers at --address {address} ({why}); start the cluster's head there "
        "(`ray start --head --port=PORT`) or pass the address `ray start` printed"
    )


def _set_env(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def init(address: str | None, num_cpus: int, runtime_env: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """Start (no address) or join Ray; returns ``(ray, started_here)``. Ray already initialised
    in this process is used as it is, and left running by :func:`shutdown`."""
    ray = import_ray(address)
    if ray.is_initialized():
        return ray, False
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        _reachable(address)
        try:
            ray.init(address=address, runtime_env=runtime_env, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise SeedlockError(
                f"cannot start Ray at {address!r} ({exc}); check --address and, if the cluster "
                "uses token auth, that its token is here (~/.ray/auth_token or RAY_AUTH_TOKEN)"
            ) from None
        return ray, True
    # The token lives in this driver's os.environ while the cluster runs: Ray reads it from
    # there, and the processes it starts (GCS, raylet, agents, workers) inherit it, so it never
    # touches disk. Token mode even over a user's RAY_AUTH_MODE=disabled: only this driver and
    # the cluster's own workers ever need to connect. shutdown() puts the old values back.
    ours = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    _saved.update({name: os.environ.get(name) for name in ours})
    _set_env(ours)
    _reload_auth()
    # Loopback: Ray binds its servers to the node's IP when that is a loopback address, else to
    # every interface (gcs_server, raylet, workers on `*`, agents on 0.0.0.0). It takes the
    # node's IP from the route out, even over `_node_ip_address="127.0.0.1"`, unless the flag
    # below (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, read at import; off on macOS and Windows) is
    # off. Off for the start only: the node keeps its IP, and no variable reaches the trials.
    import ray._private.ray_constants as ray_constants

    cluster_flag = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        # "local": a new cluster even when RAY_ADDRESS or a `ray start` here would be joined.
        ray.init(
            address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env, **quiet
        )
    except BaseException as exc:  # Ctrl-C included: nothing of this run may outlive it
        ray.shutdown()  # what did start
        _restore_env()
        if isinstance(exc, (ConnectionError, RuntimeError, ValueError)):
            raise SeedlockError(
                f"cannot start Ray locally ({exc}); start a cluster with `ray start --head` and pass --address"
            ) from None
        raise
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
    return ray, True


def _restore_env() -> None:
    _set_env(_saved)
    _saved.clear()
    _reload_auth()


def shutdown(started: bool) -> None:
    """Disconnect, stopping the local cluster if :func:`init` started one (``started``), and
    give os.environ back as it was before :func:`init`."""
    if not started:
        return
    import ray

    ray.shutdown()
    if _saved:
        _restore_env()
