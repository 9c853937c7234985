"""The one record every doctor check produces: a :class:`Finding`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "info", "warn", "error"]
STATUSES: tuple[Status, ...] = ("ok", "info", "warn", "error")
# Statuses that make `seedlock doctor` exit 1.
FAILING: frozenset[str] = frozenset({"warn", "error"})


@dataclass(frozen=True)
class Finding:
    """One thing the doctor noticed, with why it matters and how to fix it.

    Static-scan findings carry a location (``file``, ``line``, 1-based ``col``); environment
    findings do not. ``id`` is stable: a rule ID such as ``SL101`` or an audit ID such as
    ``env.hashseed``.

    >>> f = Finding("SL101", "warn", "np.random.default_rng() without a seed", fix="pass a seed",
    ...             file="train.py", line=3, col=7)
    >>> f.location()
    'train.py:3:7'
    >>> f.failing
    True
    >>> f.to_dict()["id"]
    'SL101'
    """

    id: str
    status: Status
    title: str
    why: str = ""
    fix: str = ""
    file: str | None = None
    line: int | None = None
    col: int | None = None

    @property
    def message(self) -> str:
        """The title: what was found (the word linters use)."""
        return self.title

    @property
    def failing(self) -> bool:
        return self.status in FAILING

    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line or 0}:{self.col or 0}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.file is None:  # environment findings: no location keys at all
            for key in ("file", "line", "col"):
                out.pop(key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def failing(findings: list[Finding]) -> list[Finding]:
    """The findings at warn or error level: the ones that make the exit code 1."""
    return [f for f in findings if f.failing]
