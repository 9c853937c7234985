"""The ``seedlock`` command: a thin shell over the API.

click and every subcommand are imported only when used, so that ``seedlock run`` starts fast:
a well-formed ``seedlock run`` command line is parsed without click
(:mod:`seedlock.launch.command`). Bad input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Any

from seedlock.cli.commands import COMMANDS, fail
from seedlock.errors import SeedlockError

__all__ = ["COMMANDS", "fail", "main"]


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["run"]:
        from seedlock.launch import command

        parsed = command.parse(args[1:])
        if parsed is not None:
            try:
                command.execute(parsed)
            except SeedlockError as exc:
                fail(str(exc))
    from seedlock.cli import app

    return app.main(args)
