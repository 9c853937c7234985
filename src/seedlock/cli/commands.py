"""The table of ``seedlock``'s subcommands, and the one way a command fails on bad input."""

from __future__ import annotations

import sys

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("seedlock.cli.run", "run", "Run a script seeded and deterministic, env set before it starts."),
    "check": (
        "seedlock.cli.verify",
        "check",
        "Re-run a script in fresh processes: REPRODUCIBLE, or where it diverged and why.",
    ),
    "diff": (
        "seedlock.cli.verify",
        "diff",
        "Compare two traces: first divergent step/tensor, and what differs between machines.",
    ),
    "doctor": (
        "seedlock.cli.doctor",
        "doctor",
        "Audit the environment, or scan scripts for nondeterminism sources with file:line.",
    ),
    "repeat": (
        "seedlock.cli.repeat",
        "repeat",
        "Run a script over many seeds into the store; resumable, forked, or on Ray.",
    ),
    "runs": ("seedlock.cli.stats", "runs", "List experiments in the store, or one experiment's trials."),
    "stats": (
        "seedlock.cli.stats",
        "stats",
        "Summarise an experiment's metrics over seeds, with confidence intervals.",
    ),
    "compare": (
        "seedlock.cli.compare",
        "compare",
        "Compare two or more experiments: differences, CIs, tests (Holm), P(A>B).",
    ),
    "power": ("seedlock.cli.compare", "power", "How many seeds per experiment to detect a given difference."),
    "report": ("seedlock.cli.stats", "report", "Write one self-contained HTML report of experiments."),
    "export": (
        "seedlock.cli.export",
        "export",
        "Export an experiment to another tool: `seedlock export mlflow EXP`.",
    ),
}


def fail(message: str) -> None:
    """One line, exit 2."""
    print(f"seedlock: error: {message}", file=sys.stderr)
    sys.exit(2)
