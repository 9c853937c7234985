"""The docs' copy-paste examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_seedlock

pytestmark = pytest.mark.slow


def console_commands(doc: str) -> list[list[str]]:
    text = (ROOT / "docs" / doc).read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [
        shlex.split(line[2:].split("#")[0])
        for block in blocks
        for line in block.splitlines()
        if line.startswith("$ seedlock")
    ]


def test_check_doc_first_example_runs_and_says_reproducible(tmp_path: Path) -> None:
    cmd = console_commands("check.md")[0]
    assert cmd[:2] == ["seedlock", "check"]
    p = run_seedlock([*cmd[1:-1], "--workdir", str(tmp_path), cmd[-1]], cwd=ROOT, env=clean_env())
    assert p.returncode == 0, p.stderr[-2000:]
    assert "REPRODUCIBLE: bitwise equal in every run" in p.stdout


def test_run_doc_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import sys, random\nprint(sys.argv[1:], random.random())\n")
    cmd = console_commands("run.md")[0]
    assert cmd[:2] == ["seedlock", "run"]
    runs = [run_seedlock(cmd[1:], cwd=tmp_path, env=clean_env()) for _ in range(2)]
    assert runs[0].returncode == 0 and runs[0].stdout == runs[1].stdout
    assert runs[0].stdout.startswith("['--epochs', '3']")
