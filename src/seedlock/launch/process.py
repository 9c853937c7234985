"""A run of the boot in a fresh process, as ``seedlock check`` and ``seedlock repeat`` start them.

The process gets a session of its own: Ctrl-C in the terminal reaches seedlock, which decides
what happens to its runs, and a timeout kills the script's own children (DataLoader workers,
pools) with it. Its stdout and stderr go to files, so that nothing it printed is lost when it
crashes, hangs or is killed.

>>> boot_argv("train.py", ["--lr", "0.1"])[-4:]
['path', 'train.py', '--lr', '0.1']
>>> boot_argv("pkg.train", [], module=True)[-2:]
['module', 'pkg.train']
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from seedlock.config import ENV_PARENT

if TYPE_CHECKING:
    from pathlib import Path

R = TypeVar("R", covariant=True)
W = TypeVar("W", bound="Waitable[Any]")

# subprocess (~17 ms to import) is imported where it is used: `seedlock run` needs only boot_argv.


def boot_argv(target: str, args: list[str], *, module: bool = False) -> list[str]:
    """``python -m seedlock.launch.boot path|module TARGET ARGS``: the child's command line.

    ``-P`` (Python 3.11+): ``-m`` would put the current directory first on ``sys.path``, where a
    ``random.py`` or ``seedlock.py`` took the place of the real one; boot puts the script's own
    directory there, as ``python SCRIPT`` does."""
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [
        sys.executable,
        *safe,
        "-m",
        "seedlock.launch.boot",
        "module" if module else "path",
        target,
        *args,
    ]


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (the OS's pick)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_rendezvous(env: dict[str, str], base: Mapping[str, str]) -> None:
    """Runs go on side by side: a distributed job's rendezvous must not meet another run's. torchrun
    reads PET_MASTER_PORT, torch.distributed's env:// MASTER_PORT; a port the user set is kept."""
    if not {"MASTER_PORT", "PET_MASTER_PORT"} & set(base):
        env["MASTER_PORT"] = env["PET_MASTER_PORT"] = str(free_port())


def die_with_parent() -> None:
    """In a run of ``check`` or ``repeat``: be SIGKILLed when seedlock dies, even by SIGKILL
    (Linux's parent-death signal; the run's own session keeps the terminal's Ctrl-C from it).
    The thread that started the run waits for it, so the signal does not come early."""
    parent = os.environ.pop(ENV_PARENT, None)  # the script's own subprocesses are not runs
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # seedlock died before the prctl
        os.kill(os.getpid(), signal.SIGKILL)


def killpg(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (the process alone if it leads none yet)."""
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet its own group leader, or already gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Waitable(Protocol[R]):
    """A running process: a fresh one, or a trial forked by ``repeat``'s fork-server."""

    def wait(self, timeout: float | None) -> R:
        """The exit code (negative: killed by that signal); raises subprocess.TimeoutExpired."""

    def kill(self) -> None:
        """SIGKILL its process group."""


def wait_or_kill(proc: Waitable[R], timeout: float | None) -> tuple[R, bool]:
    """Wait up to ``timeout`` seconds, killing the group then: ``(exit code, timed out)``.
    Whatever interrupts the wait (Ctrl-C, a cancelled Ray task) kills the group too: never
    leave the script running."""
    import subprocess

    try:
        try:
            return proc.wait(timeout), False
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(None), True
    except BaseException:
        proc.kill()
        raise


class Live:
    """The processes a command started and has not seen end, so that one call kills them all
    (Ctrl-C, SIGTERM, an interrupted ``repeat``): each is waited for in a worker thread, and its
    own session keeps the terminal's Ctrl-C from reaching it."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._procs: set[Waitable[Any]] = set()
        self.stopped = threading.Event()

    def add(self, proc: W) -> W:
        with self._lock:
            self._procs.add(proc)
        if self.stopped.is_set():  # started as the stop came
            proc.kill()
        return proc

    def discard(self, proc: Waitable[Any]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def prune(self) -> None:
        """Forget the processes that have ended."""
        with self._lock:
            self._procs = {p for p in self._procs if not _ended(p)}

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.kill()


def _ended(proc: Waitable[Any]) -> bool:
    try:
        proc.wait(0)
    except Exception:
        return False
    return True


class FreshProcess:
    """``argv`` started in its own session, its output in ``stdout`` and ``stderr`` (files)."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None,
        stdout: Path,
        stderr: Path,
    ) -> None:
        import subprocess

        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            self._p = subprocess.Popen(
                argv,
                env={**env, ENV_PARENT: str(os.getpid())},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self._p.pid

    def wait(self, timeout: float | None) -> int:
        """The exit code (negative: killed by that signal); raises subprocess.TimeoutExpired."""
        return self._p.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group: the script's own children too."""
        if self._p.returncode is None:
            killpg(self._p.pid)
