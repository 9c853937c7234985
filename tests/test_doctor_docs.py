"""docs/doctor.md stays true: its console example is run, and every rule's examples are scanned."""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_seedlock
from seedlock.doctor.static import RULES, scan_source

DOC = ROOT / "docs" / "doctor.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def sections() -> dict[str, list[str]]:
    """Rule ID -> the python blocks of its `### SLxxx` section."""
    out: dict[str, list[str]] = {}
    for part in re.split(r"^### ", DOC.read_text(), flags=re.M)[1:]:
        rule_id = part.split(":", 1)[0].strip()
        out[rule_id] = [code for lang, code in BLOCK.findall(part) if lang == "python"]
    return out


def test_every_rule_is_documented() -> None:
    text = DOC.read_text()
    documented = sections()
    for rule_id in RULES:
        assert f"| {rule_id} |" in text, f"{rule_id} missing from the rules table"
        assert rule_id in documented, f"no `### {rule_id}:` section"
    checks = (ROOT / "src" / "seedlock" / "doctor" / "checks.py").read_text()
    for env_id in sorted(set(re.findall(r'"(env\.[a-z]+)', checks))):
        assert env_id in text, f"{env_id} missing from the environment table"


def test_rule_examples_are_flagged_and_fixes_are_clean() -> None:
    for rule_id, blocks in sections().items():
        if not rule_id.startswith("SL") or RULES[rule_id].check is None:
            continue
        bad, good = blocks[:2]
        assert rule_id in {f.id for f in scan_source(bad)}, f"{rule_id}'s example is not flagged"
        assert scan_source(good) == [], f"{rule_id}'s fix is flagged: {scan_source(good)}"


def test_console_example_runs_as_documented(tmp_path: Path) -> None:
    text = DOC.read_text()
    console = next(
        code
        for lang, code in BLOCK.findall(text)
        if lang == "console" and code.startswith("$ seedlock doctor train.py")
    )
    script = next(
        code for lang, code in BLOCK.findall(text) if lang == "python" and code.startswith("# train.py")
    )
    (tmp_path / "train.py").write_text(script)
    command, *documented = console.strip().splitlines()
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[0] == "seedlock"
    r = run_seedlock(argv[1:], cwd=tmp_path, env=clean_env())
    assert r.returncode == 1, r.stderr
    got = r.stdout.strip().splitlines()
    # The last line describes this machine; the rest must match the docs exactly.
    assert got[:-1] == documented[:-1]
    assert got[-1].startswith("environment: Python ") and documented[-1].startswith("environment: Python ")


MODULES = [
    "seedlock.doctor",
    "seedlock.doctor.findings",
    "seedlock.doctor.environment",
    "seedlock.doctor.checks",
    "seedlock.doctor.output",
    "seedlock.doctor.manifest",
    "seedlock.doctor.static",
    "seedlock.doctor.static.context",
    "seedlock.doctor.static.registry",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
