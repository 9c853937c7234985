"""The ``seedlock`` command: a thin shell over the API.

Every subcommand lives in its own module and is imported only when used, so that
``seedlock run`` starts fast. Bad input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

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


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seedlock")
def cli() -> None:
    """Make deep-learning training runs reproducible, and prove it.

    \b
    Example:
      seedlock run --seed 42 train.py --epochs 3
    """


def fail(message: str) -> None:
    """One line, exit 2."""
    click.echo(f"seedlock: error: {message}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="seedlock", standalone_mode=False)
    except click.exceptions.NoSuchOption as exc:
        hint = f" (did you mean {', '.join(exc.possibilities)}?)" if exc.possibilities else ""
        cmd = exc.ctx.command_path if exc.ctx else "seedlock"
        fail(f"no such option: {exc.option_name}{hint}; see `{cmd} --help`")
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "seedlock"
        fail(f"{exc.format_message().rstrip('.')}; see `{cmd} --help`")
    except click.ClickException as exc:
        fail(exc.format_message())
    except SeedlockError as exc:
        fail(str(exc))
    except click.exceptions.Abort:
        click.echo("seedlock: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
