"""What the store holds, as Python values: :class:`Experiment`, :class:`Trial` (one seed of one
experiment) and :class:`ExperimentRuns` (an experiment's trial counts). :class:`~seedlock.repeat.store.Store`
makes them from its rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seedlock.repeat.storefile import TrialStatus


@dataclass(frozen=True)
class Experiment:
    """A named script + arguments, run over many seeds."""

    id: int
    name: str
    script: str | None
    args: list[str]
    created: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Trial:
    """One seed of one experiment: its status and what it left behind."""

    id: int
    experiment: str
    seed: int
    status: TrialStatus
    exit_code: int | None
    reason: str | None
    duration_s: float | None
    stderr_tail: str | None
    fingerprint: str | None
    manifest: dict[str, Any] | None
    started: str | None
    finished: str | None
    node: dict[str, str] | None = None  # the Ray node that ran it: {"id", "host"}

    @property
    def where(self) -> str:
        """The node that ran it, as `runs` and the report show it: host and the id's first 8."""
        return f"{self.node.get('host', '?')} {self.node.get('id', '')[:8]}" if self.node else ""


@dataclass(frozen=True)
class ExperimentRuns:
    """An experiment and how many of its trials ended in each status (for ``seedlock runs``)."""

    experiment: Experiment
    counts: dict[TrialStatus, int] = field(default_factory=dict)
    last_finished: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())
