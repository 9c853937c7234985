"""What seeding did: the :class:`SeedReport` returned by ``seed_everything``."""

from __future__ import annotations

from typing import Literal, NamedTuple

Status = Literal["seeded", "switched", "verified", "pending", "skipped", "warning", "failed"]
# Statuses that mean "something the user asked for did not happen".
PROBLEMS: frozenset[str] = frozenset({"warning", "failed"})


class Entry(NamedTuple):
    component: str  # "tensorflow", "python.hashseed", ...
    status: Status
    detail: str


class SeedReport:
    """The record of one ``seed_everything`` call, and of the adapters that acted later on import.

    >>> r = SeedReport(seed=1, deterministic=True)
    >>> r.add("python", "seeded", "random.seed(1)")
    >>> r.problems()
    []
    >>> print(r)
    seedlock: master seed 1, deterministic ops on
      python           seeded    random.seed(1)
    """

    def __init__(self, seed: int, deterministic: bool, threads: int | None = None) -> None:
        self.seed = seed
        self.deterministic = deterministic
        self.threads = threads
        self.entries: list[Entry] = []

    def add(self, component: str, status: Status, detail: str) -> None:
        self.entries.append(Entry(component, status, detail))

    def by_status(self, *statuses: str) -> list[Entry]:
        return [e for e in self.entries if e.status in statuses]

    def problems(self) -> list[Entry]:
        """Entries saying something asked for did not (or could not) take effect."""
        return [e for e in self.entries if e.status in PROBLEMS]

    def components(self, status: str | None = None) -> list[str]:
        return [e.component for e in self.entries if status is None or e.status == status]

    def to_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "deterministic": self.deterministic,
            "threads": self.threads,
            "entries": [e._asdict() for e in self.entries],
        }

    def lines(self) -> list[str]:
        det = "on" if self.deterministic else "off"
        head = f"seedlock: master seed {self.seed}, deterministic ops {det}"
        if self.threads is not None:
            head += f", threads {self.threads}"
        return [head] + [f"  {e.component:<16} {e.status:<9} {e.detail}" for e in self.entries]

    def __str__(self) -> str:
        return "\n".join(self.lines())
