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
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

R = TypeVar("R", covariant=True)

# subprocess (~17 ms to import) is imported where it is used: `seedlock run` needs only boot_argv.


def boot_argv(target: str, args: list[str], *, module: bool = False) -> list[str]:
    """``python -m seedlock.launch.boot path|module TARGET ARGS``: the child's command line."""
    return [sys.executable, "-m", "seedlock.launch.boot", "module" if module else "path", target, *args]


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


class FreshProcess:
    """``argv`` started in its own session, its output in ``stdout`` and ``stderr`` (files)."""

    def __init__(self, argv: list[str], env: Mapping[str, str], cwd: str | os.PathLike[str] | None,
                 stdout: Path, stderr: Path) -> None:
        import subprocess

        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            self._p = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err, start_new_session=True)
        self.pid = self._p.pid

    def wait(self, timeout: float | None) -> int:
        """The exit code (negative: killed by that signal); raises subprocess.TimeoutExpired."""
        return self._p.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group: the script's own children too."""
        if self._p.returncode is None:
            killpg(self._p.pid)
