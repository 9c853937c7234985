"""docs/repeat.md stays true: its example script and console session are run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_seedlock

DOC = ROOT / "docs" / "repeat.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


@pytest.mark.slow
def test_console_example_runs_as_documented(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    script = next(code for lang, code in blocks if lang == "python" and code.startswith("# train.py"))
    console = next(code for lang, code in blocks if lang == "console")
    (tmp_path / "train.py").write_text(script)
    sessions: list[tuple[str, list[str]]] = []
    for line in console.strip().splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:], []))
        else:
            sessions[-1][1].append(line)
    assert len(sessions) == 5
    for command, expected in sessions:
        argv = shlex.split(command)
        assert argv[0] == "seedlock"
        r = run_seedlock(argv[1:], cwd=tmp_path, env=clean_env())
        assert r.returncode == 0, (command, r.stderr)
        got = r.stdout.strip().splitlines()
        for want, line in zip(expected, got, strict=False):
            pattern = ".*".join(re.escape(part) for part in want.split("..."))
            assert re.fullmatch(pattern, line), (command, want, line)
        assert len(got) >= len(expected), (command, got)
