"""The fork-server: import the script's frameworks once, then fork every trial from that process.

A fresh interpreter per trial re-imports TensorFlow each time (seconds). The *zygote*, started as
``python -m seedlock.repeat.forkserver REQ_FD EVENT_FD SCRIPT``, imports the script's top-level
third-party imports (:mod:`seedlock.repeat.preimport`; the script's own code never runs there),
seeded first as a fresh trial would be, so that what the imports draw can be measured
(:mod:`seedlock.repeat.replay`). It says whether forking is safe, then serves requests: each
trial is a fresh ``os.fork()`` that sets its environment, redirects its streams to files, and
runs :func:`seedlock.launch.boot.main` (which seeds: already-imported frameworks are seeded
explicitly; then the imports' draws are replayed) and the script, as ``seedlock run`` would.

Protocol: JSON lines. Driver -> zygote ``{"id", "env", "cwd", "argv", "stdout", "stderr"}``;
zygote -> driver ``{"ready": {...}}``, ``{"started": id, "pid": P}``, ``{"exited": id, "code": C}``
(C negative: killed by signal -C). When the driver goes away (its pipe closes) the zygote kills
its children and exits. PYTHONHASHSEED is fixed when the zygote starts: one per experiment.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from seedlock.config import ENV_PARENT
from seedlock.errors import SeedlockError

JAX_USERS = {"jax", "jaxlib", "flax", "optax", "equinox", "haiku", "chex"}


def _jax_in_use(imported: list[str]) -> str | None:
    """Why JAX will run in the trials, if it will. Keras 3 imports jax even on the TensorFlow
    backend; imported and idle (no backend started, no thread) it is no reason not to fork."""
    if "jax" not in sys.modules:
        return None
    from seedlock.frameworks.jax import _backend_started

    if _backend_started():
        return "jax's runtime already started"
    users = sorted({name.partition(".")[0] for name in imported} & JAX_USERS)
    if users:
        return f"the script imports {', '.join(users)}"
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend) and backend() == "jax":
        return "Keras runs on the jax backend"
    return None


def fork_unsafe(imported: list[str]) -> list[str]:
    """Reasons this process must not fork trials: a runtime that is (or will be) multithreaded
    before the fork, or a device already opened."""
    reasons = []
    why = _jax_in_use(imported)
    if why:
        reasons.append(f"{why}, and JAX's multithreaded runtime is not fork-safe")
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "cuda", None) is not None and torch.cuda.is_initialized():
        reasons.append("torch has initialised CUDA, which a forked child cannot use")
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        reasons.append(f"the imports started threads ({names}), which a forked child would not have")
    return reasons


# seedlock's own modules that `seedlock run`'s boot imports in every trial (trace, instrumentation).
SEEDLOCK_RUNTIME = (
    "seedlock.trace",
    "seedlock.trace.instrument",
    "seedlock.trace.keras_callbacks",
    "seedlock.trace.layers",
    "seedlock.trace.metrics",
)
_draws: dict[str, int] = {}  # what the imports drew from each seeded RNG (seedlock.repeat.replay)


# --- the zygote --------------------------------------------------------------------------------


def _exit_code(exc: SystemExit) -> int:
    """What Python's own exit does with ``sys.exit(code)``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish() -> None:
    """What interpreter shutdown does before the process ends: join threads, run atexit,
    finalise the script's globals, flush."""
    import atexit

    from seedlock.launch import boot

    with contextlib.suppress(Exception):
        threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads, as at a normal exit
    atexit._run_exitfuncs()  # the trace's final record, the manifest, the script's own handlers
    with contextlib.suppress(Exception):  # a finaliser's error is printed by Python, as at shutdown
        boot.release_globals()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _child(req: Mapping[str, Any], close: list[int], zygote: int) -> int:
    """In the forked child: become the trial, run it, return its exit code."""
    os.setsid()  # its own session and group, as a fresh trial has: killed as a whole on timeout
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in close:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for path, fd in ((req["stdout"], 1), (req["stderr"], 2)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    # Die with the zygote, even when it is SIGKILLed (Ray kills an actor's children when the
    # actor dies; a trial in its own session would run on, an orphan): boot's die_with_parent.
    os.environ[ENV_PARENT] = str(zygote)
    from seedlock.launch import boot
    from seedlock.repeat import replay

    code = 0
    try:
        boot.main(["path", *req["argv"]], after_setup=lambda: replay.advance(_draws))
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        import traceback

        traceback.print_exc()
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as Python does: die of SIGINT
        os.kill(os.getpid(), signal.SIGINT)
    _finish()
    return code


def _send(events: IO[str], **msg: Any) -> None:
    events.write(json.dumps(msg) + "\n")
    events.flush()


def serve(req_fd: int, events: IO[str]) -> None:
    """Fork a child per request; report starts and exits; on EOF kill the children and return."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes select(): no polling, no threads
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, str] = {}
    buf = b""
    close = [req_fd, events.fileno(), wake_r, wake_w]
    while True:
        ready, _, _ = select.select([req_fd, wake_r], [], [])
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 4096):
                        break
                except BlockingIOError:
                    break
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            _send(events, exited=children.pop(pid), code=os.waitstatus_to_exitcode(status))
        if req_fd not in ready:
            continue
        data = os.read(req_fd, 1 << 16)
        if not data:  # the driver is gone (or done): take the children with us
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            zygote = os.getpid()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = _child(req, close, zygote)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            children[pid] = req["id"]
            _send(events, started=req["id"], pid=pid)


def main(argv: list[str]) -> None:
    req_fd, event_fd, script = int(argv[0]), int(argv[1]), argv[2]
    events = os.fdopen(event_fd, "w", encoding="utf-8")
    target = os.path.realpath(script)
    sys.path[0] = target if os.path.isdir(target) else os.path.dirname(target)  # as the trial will see it
    from seedlock import api
    from seedlock.launch.env import config_from_env
    from seedlock.repeat import replay
    from seedlock.repeat.preimport import preimport

    global _draws
    t0 = time.monotonic()
    # Seeded before the imports, as a fresh trial is, so that what they draw can be measured.
    config = config_from_env(os.environ)
    api.seed_everything(config.seed, deterministic=config.deterministic, threads=config.threads)
    for name in SEEDLOCK_RUNTIME:  # what every trial's boot imports anyway, as a fresh one does first
        importlib.import_module(name)
    imported, skipped = preimport(script, os.environ)
    _draws, cannot = replay.measure(config.seed)
    reasons = fork_unsafe(imported)
    if cannot:
        reasons.append(f"the imports drew from {', '.join(cannot)} in a way a forked trial cannot replay")
    _send(
        events,
        ready={
            "imported": imported,
            "skipped": skipped,
            "unsafe": reasons,
            "draws": _draws,
            "seconds": round(time.monotonic() - t0, 3),
        },
    )
    if reasons:
        os.read(req_fd, 1)  # wait for the driver to close us
        return
    # Out of the collector's sight, as Python's docs advise before fork(): a trial's collections
    # then never walk (and so never copy) the zygote's million objects, and W trials share them.
    # Nothing here is garbage, and nothing is a model (no user code ran): instrument's exit
    # fingerprint, which finds models with gc.get_objects(), misses nothing.
    gc.collect()
    gc.freeze()
    serve(req_fd, events)


# --- the driver's side -------------------------------------------------------------------------


class ForkServerGone(SeedlockError):
    """The zygote died or refused: the caller falls back to fresh processes."""


class ForkedProc:
    """A trial forked by the zygote; killed through its process group (it is the group leader)."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.code: int | None = None
        self.started = threading.Event()
        self.done = threading.Event()

    def wait(self, timeout: float | None) -> int | None:
        if not self.done.wait(timeout):
            raise subprocess.TimeoutExpired("forked trial", timeout or 0.0)
        return self.code

    def kill(self) -> None:
        if self.pid is not None and not self.done.is_set():
            from seedlock.launch.process import killpg

            killpg(self.pid)


class ForkServer:
    """Start the zygote for ``script`` with ``env`` (the trials' environment, seed aside) and fork trials from it."""

    def __init__(self, script: str, env: Mapping[str, str], cwd: str, log: str) -> None:
        req_r, self._req_w = os.pipe()
        event_r, event_w = os.pipe()
        with open(log, "wb") as out:
            self._p = subprocess.Popen(
                [sys.executable, "-m", "seedlock.repeat.forkserver", str(req_r), str(event_w), script],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(req_r, event_w),
                start_new_session=True,
            )
        os.close(req_r)
        os.close(event_w)
        self.log = log
        self.info: dict[str, Any] | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._procs: dict[str, ForkedProc] = {}
        self._next = 0
        self._gone = False
        self._events = os.fdopen(event_r, encoding="utf-8")
        self._reader = threading.Thread(target=self._read, name="seedlock-forkserver", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._events:
            msg = json.loads(line)
            if "ready" in msg:
                self.info = msg["ready"]
                self._ready.set()
            elif "started" in msg:
                with self._lock:
                    proc = self._procs[msg["started"]]
                proc.pid = msg["pid"]
                proc.started.set()
            elif "exited" in msg:
                with self._lock:
                    proc = self._procs.pop(msg["exited"])
                proc.code = msg["code"]
                proc.done.set()
        with self._lock:  # EOF: the zygote is gone; whatever it ran is lost
            self._gone = True
            for proc in self._procs.values():
                proc.started.set()
                proc.done.set()
            self._procs.clear()
        self._ready.set()

    def ready(self) -> dict[str, Any]:
        """Wait for the imports; their report (``imported``, ``skipped``, ``unsafe``, ``seconds``)."""
        self._ready.wait()
        if self.info is None:
            raise ForkServerGone(f"the fork server exited while importing (see {self.log})")
        return self.info

    def spawn(
        self, env: Mapping[str, str], cwd: str, argv: list[str], stdout: str, stderr: str
    ) -> ForkedProc:
        self.ready()
        proc = ForkedProc()
        with self._lock:
            if self._gone:
                raise ForkServerGone(f"the fork server is gone (see {self.log})")
            self._next += 1
            key = str(self._next)
            self._procs[key] = proc
        msg = json.dumps(
            {"id": key, "env": dict(env), "cwd": cwd, "argv": argv, "stdout": stdout, "stderr": stderr}
        )
        data = (msg + "\n").encode()
        try:
            with self._write_lock:  # a request is longer than PIPE_BUF: never interleave two
                while data:
                    data = data[os.write(self._req_w, data) :]
        except OSError as exc:
            raise ForkServerGone(f"the fork server is gone ({exc}; see {self.log})") from None
        proc.started.wait()
        if proc.pid is None:
            raise ForkServerGone(f"the fork server died starting a trial (see {self.log})")
        return proc

    def close(self) -> None:
        """Closing the request pipe tells the zygote to kill what still runs and exit."""
        with contextlib.suppress(OSError):
            os.close(self._req_w)
        try:
            self._p.wait(10)
        except subprocess.TimeoutExpired:
            self._p.kill()
            self._p.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
