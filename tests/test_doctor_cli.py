"""`seedlock doctor` through a real subprocess: output formats, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import clean_env, run_seedlock

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctor"


def test_scan_with_findings_exits_1_with_file_line_col() -> None:
    r = run_seedlock(["doctor", "sl101_unseeded_rng.py"], cwd=FIXTURES)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("sl101_unseeded_rng.py:11:7: SL101 np.random.default_rng() without a seed")
    assert " — pass a seed" in lines[0]
    assert any(line.startswith("seedlock doctor: 13 warnings in 1 file(s)") for line in lines)
    assert lines[-1].startswith("environment: Python ")
    assert r.stderr == ""


def test_clean_and_info_only_scans_exit_0() -> None:
    r = run_seedlock(["doctor", "sl101_unseeded_rng_clean.py", "sl401_dataloader_workers.py"], cwd=FIXTURES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SL401" in r.stdout and "3 notes" in r.stdout


def test_json_is_a_list_of_findings() -> None:
    r = run_seedlock(["doctor", "--json", "sl202_unsorted_listing.py"], cwd=FIXTURES)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert isinstance(data, list) and len(data) == 8
    assert data[0] == {
        **data[0],
        "id": "SL202",
        "status": "warn",
        "file": "sl202_unsorted_listing.py",
        "line": 8,
        "col": 9,
    }
    assert {"title", "why", "fix"} <= set(data[0])


def test_sarif_output() -> None:
    r = run_seedlock(["doctor", "--sarif", "sl402_cudnn_benchmark.py"], cwd=FIXTURES)
    assert r.returncode == 1
    log = json.loads(r.stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "seedlock"
    assert [(x["ruleId"], x["level"]) for x in run["results"]] == [("SL402", "warning")] * 3
    region = run["results"][0]["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "sl402_cudnn_benchmark.py"
    assert region["region"] == {"startLine": 7, "startColumn": 1}


def test_directory_with_a_syntax_error_goes_on(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = (\n")
    (tmp_path / "train.py").write_text("import os\nfiles = os.listdir('.')\n")
    r = run_seedlock(["doctor", "--no-env", "."], cwd=tmp_path)
    assert r.returncode == 1
    first, second = r.stdout.splitlines()[:2]
    assert first.startswith("broken.py:1:5: SL001 syntax error: '(' was never closed")
    assert second.startswith("train.py:2:9: SL202 os.listdir() is not sorted")
    assert r.stderr == ""


def assert_one_line_error(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("seedlock: error: ") and "; " in lines[0]
    for word in words:
        assert word in lines[0]


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not python\n")
    (tmp_path / "model.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert_one_line_error(run_seedlock(["doctor", "missing.py"], cwd=tmp_path), "'missing.py' not found")
    assert_one_line_error(run_seedlock(["doctor", "notes.txt"], cwd=tmp_path), "not a Python file")
    assert_one_line_error(run_seedlock(["doctor", "model.py"], cwd=tmp_path), "binary")
    assert_one_line_error(run_seedlock(["doctor", "--json", "--sarif", "."], cwd=tmp_path), "exclusive")
    assert_one_line_error(run_seedlock(["doctor", "--no-env"], cwd=tmp_path), "nothing to check")
    assert_one_line_error(run_seedlock(["doctor", "--frobnicate"], cwd=tmp_path), "no such option")
    (tmp_path / "empty").mkdir()  # "no problems found in 0 file(s)", exit 0, read as a clean bill
    assert_one_line_error(run_seedlock(["doctor", "empty"], cwd=tmp_path), "no Python files in 'empty'")


def test_help_has_an_example() -> None:
    r = run_seedlock(["doctor", "--help"])
    assert r.returncode == 0 and "seedlock doctor train.py" in r.stdout
    top = run_seedlock(["--help"])
    assert "doctor" in top.stdout and "nondeterminism" in top.stdout


def test_env_audit_text() -> None:
    r = run_seedlock(["doctor"], env=clean_env(PYTHONHASHSEED="0"))
    assert r.stdout.startswith("seedlock doctor: environment\n")
    assert "PYTHONHASHSEED           '0'" in r.stdout
    assert "ok    env.hashseed" in r.stdout
