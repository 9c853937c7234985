"""``seedlock run``: click's parser, for what :func:`seedlock.launch.command.parse` leaves to it
(help, and the messages for bad command lines). Both read one table of options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from seedlock.launch.command import MODULE_FLAGS, OPTIONS, RunArgs, execute, is_command


class LauncherCommand(click.Command):
    """Options stop at the script, or right after ``-m MODULE``: the rest belongs to the target,
    ``--help`` included, as with ``python -m MODULE --help`` (``run`` and ``check`` alike)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            flag for p in self.params if isinstance(p, click.Option) and not p.is_flag for flag in p.opts
        }
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in MODULE_FLAGS and i + 1 < len(args):
                args = [*args[: i + 2], "--", *args[i + 2 :]]
                break
            if arg.startswith("--module=") or (
                arg.startswith("-m") and len(arg) > 2 and not arg.startswith("--")
            ):
                args = [*args[: i + 1], "--", *args[i + 1 :]]
                break
            if arg == "--":
                ctx.meta["seedlock.dashes"] = True  # `run -- COMMAND`: see launch.command.is_command
                break
            if not arg.startswith("-"):
                break
            i += 2 if arg in takes_value else 1
        return super().parse_args(ctx, args)


def _options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(OPTIONS):
        kwargs: dict[str, Any] = {"help": opt.help, "metavar": opt.metavar}
        if not opt.takes_value:
            kwargs["is_flag"] = True
        if opt.default is not None:
            kwargs.update(default=opt.default, show_default=True)
        if opt.choices is not None:
            kwargs["type"] = click.Choice(opt.choices)
        f = click.option(*opt.flags, opt.dest, **kwargs)(f)
    return f


@click.command(
    cls=LauncherCommand,
    context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False},
    epilog="Example: seedlock run --seed 42 train.py --epochs 3",
)
@_options
@click.argument("target", nargs=-1, type=click.UNPROCESSED)
def run(module: str | None, target: tuple[str, ...], **params: Any) -> None:
    """Run SCRIPT [ARGS...] seeded and deterministic, in a fresh interpreter; or, after --, any
    COMMAND (torchrun, a shell script) whose Python processes are all seeded.

    PYTHONHASHSEED, CUBLAS_WORKSPACE_CONFIG, XLA_FLAGS and thread variables are set before
    the interpreter starts; every RNG is seeded and every framework switched to deterministic
    ops the moment your script imports it. Exit code and signals are the script's own.
    """
    dashes = bool(click.get_current_context().meta.get("seedlock.dashes"))
    if module is None and not target:
        if dashes:
            raise click.UsageError(
                "nothing after --; pass a command, e.g. seedlock run -- torchrun --nproc-per-node 2 train.py"
            )
        raise click.UsageError("missing SCRIPT; usage: seedlock run [OPTIONS] SCRIPT [ARGS]... or -m MODULE")
    execute(RunArgs(module=module, target=target, command=dashes and is_command(target), **params))
