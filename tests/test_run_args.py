"""`seedlock run`'s command line is parsed without click when it is well formed (start-up), and
then exactly as click parses it; anything else goes to click."""

from __future__ import annotations

import itertools

import click
import pytest

from conftest import SCRIPTS, run_py
from seedlock.cli.run import run
from seedlock.launch.command import is_command, parse

TOKENS = [
    "--seed",
    "3",
    "-v",
    "--trace",
    "t.jsonl",
    "--digest",
    "dh1",
    "bogus",
    "-m",
    "pkg",
    "--",
    "train.py",
    "--help",
    "-h",
    "--seed=5",
    "--module=pkg",
    "--granularity=batch",
    "-mpkg",
    "--strict",
    "-",
    "--verbose=1",
]

# Command lines the fast path must take (else it saves nothing), with what click makes of them.
COMMON = [
    ["train.py"],
    ["train.py", "--epochs", "3", "--seed", "9", "-v"],
    ["--seed", "42", "train.py", "--lr", "0.1"],
    [
        "--seed=42",
        "-v",
        "--threads",
        "2",
        "--trace",
        "a.trace",
        "--granularity",
        "batch",
        "--digest",
        "dh1",
        "x.py",
    ],
    ["--no-deterministic", "--strict", "--manifest", "m.json", "--", "x.py", "--", "y"],
    ["--audit", "-m", "pkg.train", "--help"],
    ["--module=pkg.train", "-v", "--seed", "1"],
    ["--seed", "-1", "x.py"],
    ["--seed", "--trace", "x.py"],
    ["--seed=", "x.py"],
    ["-m", "pkg"],
]


def click_parse(args: list[str]) -> dict[str, object] | None:
    """What click gives `seedlock run ARGS`, or None where it stops (an error, --help)."""
    try:
        ctx = run.make_context("run", list(args))
    except (click.exceptions.Exit, click.UsageError):
        return None
    if ctx.params["module"] is None and not ctx.params["target"]:
        return None  # the command itself says "missing SCRIPT"
    dashes = bool(ctx.meta.get("seedlock.dashes"))
    return {**ctx.params, "command": dashes and is_command(ctx.params["target"])}


@pytest.mark.parametrize("args", COMMON, ids=" ".join)
def test_common_command_lines_parse_without_click_as_click_does(args: list[str]) -> None:
    fast = parse(args)
    assert fast is not None
    assert fast._asdict() == click_parse(args)


def test_every_short_command_line_parses_as_click_does_or_goes_to_click() -> None:
    taken = 0
    for n in range(1, 4):
        for args in itertools.product(TOKENS, repeat=n):
            fast = parse(list(args))
            if fast is not None:
                taken += 1
                assert fast._asdict() == click_parse(list(args)), args
    assert taken > 1000  # the fast path is not vacuous


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h", "x.py"],
        ["--sed", "3", "x.py"],
        ["-v", "-v", "x.py"],
        ["--digest", "md5", "x.py"],
        ["--seed"],
        [],
        ["-mpkg"],
        ["-", "x.py"],
    ],
    ids=" ".join,
)
def test_what_click_must_say_goes_to_click(args: list[str]) -> None:
    assert parse(args) is None


def test_seedlock_run_starts_the_script_without_importing_click() -> None:
    code = (
        "import os, sys\n"
        "def execve(path, argv, env):\n"
        "    print('click' in sys.modules, argv[-2:], env['SEEDLOCK_SEED']); sys.exit(0)\n"
        "os.execve = execve\n"
        "from seedlock.cli import main\n"
        f"main(['run', '--seed', '7', {str(SCRIPTS / 'probe.py')!r}, '--x'])\n"
    )
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", f"['{SCRIPTS / 'probe.py'}',", "'--x']", "7"]
    helped = run_py(["-c", code.replace("'--seed', '7'", "'--help'")])  # the same line, but for click
    assert helped.returncode == 0 and "Usage: seedlock run" in helped.stdout
