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
    >>> r.add("numpy", "pending", "not imported yet: seeded on import")
    >>> r.add("numpy", "seeded", "np.random.seed(1)")  # imported since: no longer pending
    >>> [e.status for e in r.current()]
    ['seeded', 'seeded']

    It stands for its seed where an int is expected, as the int Lightning's ``seed_everything``
    returns does: ``int(report)``, ``torch.manual_seed(report)``, ``np.random.seed(report)``,
    ``seedlock.seed_everything(report)``. Python's ``random.seed`` and NumPy's ``default_rng``
    take only a real int: give them ``int(report)``.

    >>> int(r), r.__index__()
    (1, 1)
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

    def lines(self, since: int = 0, *, pending: bool = True) -> list[str]:
        """The header, then entries ``since`` on; a "pending" entry whose framework has been
        imported (and so has entries after it) is left out, and all of them with ``pending=False``."""
        det = "on" if self.deterministic else "off"
        head = f"seedlock: master seed {self.seed}, deterministic ops {det}"
        if self.threads is not None:
            head += f", threads {self.threads}"
        shown = [e for i, e in self._current() if i >= since and (pending or e.status != "pending")]
        return [head] + [f"  {e.component:<16} {e.status:<9} {e.detail}" for e in shown]

    def pending(self) -> list[str]:
        """The frameworks still waiting to be imported (seeded when they are).

        >>> r = SeedReport(seed=1, deterministic=True)
        >>> r.add("numpy", "pending", "not imported yet"); r.add("torch", "pending", "not imported yet")
        >>> r.add("numpy", "seeded", "np.random.seed(1)")
        >>> r.pending()
        ['torch']
        """
        return [e.component for e in self.current() if e.status == "pending"]

    def _current(self) -> list[tuple[int, Entry]]:
        """(index, entry) without the "pending" entries of frameworks imported since."""
        done: set[str] = set()
        out = []
        for i in range(len(self.entries) - 1, -1, -1):
            e = self.entries[i]
            if not (e.status == "pending" and e.component in done):
                out.append((i, e))
            if e.status != "pending":
                done.add(e.component)
        return out[::-1]

    def current(self) -> list[Entry]:
        """The entries, less the "pending" ones of frameworks that have been imported since."""
        return [e for _, e in self._current()]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __int__(self) -> int:
        return self.seed

    def __index__(self) -> int:  # what torch, NumPy and seedlock check for an int-like seed
        return self.seed
