"""The click group behind ``seedlock``: every subcommand lives in its own module and is imported
only when used."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from seedlock.cli.commands import COMMANDS, fail
from seedlock.errors import SeedlockError


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


def main(args: list[str]) -> Any:
    try:
        return cli.main(args=args, prog_name="seedlock", standalone_mode=False)
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
