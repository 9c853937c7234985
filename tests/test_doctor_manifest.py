"""Provenance manifests: build, atomic write/load, and readable diffs."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from seedlock.doctor import manifest
from seedlock.errors import SeedlockError


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return manifest.build(
        42,
        ["train.py", "--epochs", "3"],
        config={"deterministic": True, "threads": None},
        extra={"note": "baseline"},
    )


def test_build_has_everything(base: dict[str, Any]) -> None:
    assert base["seed"] == 42 and base["argv"] == ["train.py", "--epochs", "3"]
    assert base["command"] == "train.py --epochs 3"
    assert base["seedlock_version"] and base["created"].endswith("+00:00")
    assert base["determinism"] == {"deterministic": True, "threads": None}
    assert base["extra"] == {"note": "baseline"}
    assert base["environment"]["python"]["version"] and base["packages"]["seedlock"]
    json.dumps(base)


def test_git_state_outside_and_inside_a_repository(tmp_path: Path) -> None:
    assert manifest.build(1, ["x.py"], cwd=str(tmp_path))["git"] is None
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    git = manifest.git_state(str(ROOT))
    assert git is not None and re.fullmatch(r"[0-9a-f]{40}", git["commit"]) and git["dirty"] in (True, False)


def test_write_load_round_trip(base: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a" / "manifest.json"
    manifest.write(path, base)
    assert manifest.load(path) == base
    manifest.write(path, {**base, "seed": 7})  # replaces, atomically
    assert manifest.load(path)["seed"] == 7
    assert sorted(os.listdir(path.parent)) == ["manifest.json"]  # no temporary file left behind


def test_load_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    for name, words in (
        ("missing.json", "not found"),
        ("bad.json", "not valid JSON"),
        ("list.json", "not a seedlock manifest"),
    ):
        with pytest.raises(SeedlockError, match=words):
            manifest.load(tmp_path / name)


def test_identical_manifests_do_not_differ(base: dict[str, Any]) -> None:
    later = copy.deepcopy(base)
    later["created"], later["cwd"] = "2030-01-01T00:00:00+00:00", "/elsewhere"
    assert manifest.diff(base, later) == []


def test_diff_reports_library_version_and_env_var(base: dict[str, Any]) -> None:
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["packages"]["torch"], b["packages"]["torch"] = "2.13.0", "2.14.0"
    a["environment"]["env"]["TF_ENABLE_ONEDNN_OPTS"]["value"] = "1"
    b["environment"]["env"]["TF_ENABLE_ONEDNN_OPTS"]["value"] = None
    messages = [d["message"] for d in manifest.diff(a, b)]
    assert messages == ["TF_ENABLE_ONEDNN_OPTS: '1' vs unset", "torch 2.13.0 vs 2.14.0"]
    [pkg] = [d for d in manifest.diff(a, b) if d["what"] == "package"]
    assert (pkg["key"], pkg["a"], pkg["b"]) == ("torch", "2.13.0", "2.14.0")


def test_diff_machine_and_settings(base: dict[str, Any]) -> None:
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["environment"]["cpu"].update(model="Intel Xeon", isa_flags=["avx2", "avx512f", "amx_tile"])
    b["environment"]["cpu"].update(model="AMD EPYC", isa_flags=["avx2"])
    b["environment"]["onednn"]["enabled"] = not a["environment"]["onednn"]["enabled"]
    for m, value in ((a, None), (b, "1")):  # an env var that is also a thread setting: reported once
        m["environment"]["threads"]["OMP_NUM_THREADS"] = m["environment"]["env"]["OMP_NUM_THREADS"][
            "value"
        ] = value
    a["environment"]["threads"]["torch"] = None  # torch not imported in a (the test process may have it)
    b["environment"]["threads"]["torch"] = 1
    b["determinism"]["threads"] = 1
    b["seed"] = 43
    b["packages"].pop("seedlock")
    got = {(d["what"], d["key"]): d["message"] for d in manifest.diff(a, b)}
    assert got[("seed", "seed")] == "seed: 42 vs 43"
    assert got[("cpu", "model")] == "CPU model 'Intel Xeon' vs 'AMD EPYC'"
    assert got[("cpu", "isa_flags")] == "CPU flags: amx_tile avx512f only in a"
    assert got[("onednn", "enabled")].startswith("oneDNN ")
    assert got[("env", "OMP_NUM_THREADS")] == "OMP_NUM_THREADS: unset vs '1'"
    assert ("threads", "OMP_NUM_THREADS") not in got
    assert got[("threads", "torch")] == "threads torch: unset vs 1"
    assert got[("determinism", "threads")] == "threads: unset vs 1"
    assert got[("package", "seedlock")].endswith("vs not installed")
