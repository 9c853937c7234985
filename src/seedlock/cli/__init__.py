"""The ``seedlock`` command: a thin shell over the API.

click and every subcommand are imported only when used, so that ``seedlock run`` starts fast:
a well-formed ``seedlock run`` command line is parsed without click
(:mod:`seedlock.launch.command`). Bad input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Any

from seedlock.errors import SeedlockError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("seedlock.cli.run", "run", "Run a script seeded and deterministic, env set before it starts."),
    "check": ("seedlock.cli.verify", "check", "Re-run a script in fresh processes: REPRODUCIBLE, or where it diverged and why."),
    "diff": ("seedlock.cli.verify", "diff", "Compare two traces: first divergent step/tensor, and what differs between machines."),
    "doctor": ("seedlock.cli.doctor", "doctor", "Audit the environment, or scan scripts for nondeterminism sources with file:line."),
    "repeat": ("seedlock.cli.repeat", "repeat", "Run a script over many seeds into the store; resumable, forked, or on Ray."),
    "runs": ("seedlock.cli.stats", "runs", "List experiments in the store, or one experiment's trials."),
    "stats": ("seedlock.cli.stats", "stats", "Summarise an experiment's metrics over seeds, with confidence intervals."),
    "compare": ("seedlock.cli.stats", "compare", "Compare two experiments: differences, CIs, tests, P(A>B)."),
    "power": ("seedlock.cli.stats", "power", "How many seeds per experiment to detect a given difference."),
    "report": ("seedlock.cli.stats", "report", "Write one self-contained HTML report of experiments."),
    "export": ("seedlock.cli.export", "export", "Export an experiment to another tool: `seedlock export mlflow EXP`."),
}


def fail(message: str) -> None:
    """One line, exit 2."""
    print(f"seedlock: error: {message}", file=sys.stderr)
    sys.exit(2)


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
