"""Every command's --help works and shows an example; `seedlock --help` lists them all."""

from __future__ import annotations

import pytest

from conftest import run_seedlock
from seedlock.cli import COMMANDS


def test_top_level_help_lists_every_command() -> None:
    p = run_seedlock(["--help"])
    assert p.returncode == 0
    for name in COMMANDS:
        assert f"  {name}" in p.stdout
    assert "Example" in p.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_has_an_example(name: str) -> None:
    p = run_seedlock([name, "--help"])
    assert p.returncode == 0, p.stderr
    assert "Example" in p.stdout or "example" in p.stdout, p.stdout


def test_version() -> None:
    p = run_seedlock(["--version"])
    assert p.returncode == 0 and "0.1.0" in p.stdout
