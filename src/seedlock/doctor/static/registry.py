"""The rule registry: each rule is a small generator function behind :func:`rule`.

A rule gets a parsed :class:`~seedlock.doctor.static.context.Module` and yields
``(node, message)`` pairs; the scanner adds the location, the rule's level, why and fix,
and drops the pairs a ``# seedlock: ignore[...]`` comment suppresses.

>>> @rule("SL999", "info", "an example rule", why="it is an example", fix="nothing to do")
... def sl999(m):
...     yield from ()
>>> RULES["SL999"].title
'an example rule'
>>> del RULES["SL999"]
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from seedlock.doctor.findings import Status
from seedlock.doctor.static.context import Module

Hit = tuple[ast.AST, str]
CheckFn = Callable[[Module], Iterator[Hit]]

# The rule for a file that cannot be read or parsed; the scan goes on with the next file.
SYNTAX_ERROR = "SL001"


@dataclass(frozen=True)
class Rule:
    id: str
    level: Status
    title: str
    why: str
    fix: str
    check: CheckFn | None = None


RULES: dict[str, Rule] = {
    SYNTAX_ERROR: Rule(
        SYNTAX_ERROR,
        "error",
        "file could not be parsed",
        why="a file that does not parse cannot be checked (and will not run)",
        fix="fix the syntax error, or exclude the file from the scan",
    ),
}


def rule(rule_id: str, level: Status, title: str, *, why: str, fix: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under a stable ID."""

    def register(fn: CheckFn) -> CheckFn:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, level, title, why=why, fix=fix, check=fn)
        return fn

    return register
