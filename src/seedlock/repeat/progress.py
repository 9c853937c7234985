"""What ``seedlock repeat`` shows while it runs, on stderr: a rich progress bar on a terminal
(done, failed, running, ETA), else one plain line per finished trial, for logs and CI.

>>> p = Progress("baseline", total=2, tty=False, stream=sys.stdout)
>>> p.trial(0, "ok", 1.5, None)
seedlock: baseline: [1/2] seed 0 ok in 1.50 s
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from seedlock.repeat.storefile import TrialStatus


class Progress:
    def __init__(
        self, name: str, total: int, *, tty: bool | None = None, stream: TextIO | None = None
    ) -> None:
        self.name = name
        self._stream = stream
        self.total = total
        self.done = 0
        self.failed = 0
        self.running = 0
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty() if tty is None else tty:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            console = Console(stderr=True, highlight=False, markup=False, emoji=False)
            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("failed {task.fields[failed]}  running {task.fields[running]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(name, total=total, failed=0, running=0)
            self._bar.start()

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=self.done + self.failed,
                total=self.total,
                failed=self.failed,
                running=self.running,
            )

    def say(self, line: str) -> None:
        """A message: above the bar on a terminal, a line of its own otherwise."""
        if self._bar is not None:
            self._bar.console.print(f"seedlock: {line}")
        else:
            print(f"seedlock: {line}", file=self._stream or sys.stderr, flush=True)

    def set_running(self, n: int) -> None:
        self.running = n
        self._refresh()

    def set_total(self, total: int) -> None:
        self.total = total
        self._refresh()

    def trial(self, seed: int, status: TrialStatus, seconds: float, reason: str | None) -> None:
        """One trial ended."""
        if status == "ok":
            self.done += 1
        elif status != "interrupted":
            self.failed += 1
        if self._bar is not None:
            if status not in ("ok", "interrupted"):
                self._bar.console.print(f"seedlock: seed {seed} {status}: {reason}")
            self._refresh()
            return
        why = f": {reason}" if reason and status != "ok" else ""
        print(
            f"seedlock: {self.name}: [{self.done + self.failed}/{self.total}] seed {seed} {status} in {seconds:.2f} s{why}",
            file=self._stream or sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
