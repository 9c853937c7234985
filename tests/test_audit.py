"""Audit mode: every op without a deterministic implementation is recorded, and the run goes on."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, run_py, run_seedlock
from seedlock import audit
from seedlock.audit import records as records_module


# The launcher does not read SEEDLOCK_AUDIT yet. This child runs the real boot and installs
# audit mode right after boot's own seed_everything, where the launcher will.
def run_audited(script: Path, audit_file: Path, seed: int = 7) -> subprocess.CompletedProcess[str]:
    """`SEEDLOCK_AUDIT_FILE=FILE seedlock run --seed SEED --audit SCRIPT`, from the script's folder."""
    return run_seedlock(
        ["run", "--seed", str(seed), "--audit", str(script)],
        cwd=script.parent,
        env=clean_env(SEEDLOCK_AUDIT_FILE=str(audit_file)),
    )


# torch 2.13 flags these two on CPU; line numbers are checked below.
TORCH_SCRIPT = """\
import torch
x = torch.zeros(4)
for _ in range(3):
    x.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
y = torch.nn.functional.max_unpool1d(torch.rand(1, 1, 2), torch.tensor([[[0, 1]]]), 2)
print("done", torch.are_deterministic_algorithms_enabled())
"""

# TensorFlow 2.21 on CPU refuses these under op determinism: two kernels, two Python checks.
TF_SCRIPT = """\
import tensorflow as tf
t = tf.timestamp()
for _ in range(2):
    u = tf.raw_ops.RandomUniform(shape=[2], dtype=tf.float32)
box = tf.image.sample_distorted_bounding_box([10, 10, 3], tf.constant([[[0.0, 0.0, 1.0, 1.0]]]))
gen = tf.random.Generator.from_non_deterministic_state()
from tensorflow.python.framework import config
print("done", float(t) > 0, config.is_op_determinism_enabled())
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Any]]:
    """The three children of this module, two at a time: (process, audit JSON or None)."""
    folder = tmp_path_factory.mktemp("audit")
    (folder / "scatter.py").write_text(TORCH_SCRIPT)
    (folder / "tfops.py").write_text(TF_SCRIPT)
    jobs = {
        "torch": lambda: run_audited(folder / "scatter.py", folder / "torch.json"),
        "torch-plain": lambda: run_seedlock(["run", "--seed", "7", str(folder / "scatter.py")], cwd=folder),
        "tf": lambda: run_audited(folder / "tfops.py", folder / "tf.json"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        done = {key: future.result() for key, future in futures.items()}
    files = {"torch": folder / "torch.json", "tf": folder / "tf.json"}
    return {
        key: (proc, json.loads(files[key].read_text()) if key in files and files[key].exists() else None)
        for key, proc in done.items()
    }


def by_op(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["op"]: r for r in data["records"]}


@pytest.mark.slow
def test_torch_ops_recorded_and_run_completes(runs: dict[str, Any]) -> None:
    proc, data = runs["torch"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "done True"  # deterministic mode stayed on, as warn-only
    records = by_op(data)
    put = records["put_"]
    assert (put["framework"], put["device"], put["path"], put["line"], put["count"]) == (
        "torch",
        "cpu",
        "scatter.py",
        4,
        3,
    )
    assert put["function"] == "<module>" and "index_put_" in put["alternative"]
    unpool = records["max_unpooling2d_forward_out"]  # F.max_unpool1d: torch's kernel name
    assert (unpool["line"], unpool["count"]) == (5, 1)
    assert (
        proc.stderr.count("put_ does not have a deterministic implementation") == 1
    )  # shown once, counted 3x


def test_without_audit_deterministic_mode_raises_on_the_same_script(runs: dict[str, Any]) -> None:
    proc, _ = runs["torch-plain"]
    assert proc.returncode == 1
    assert "RuntimeError: put_ does not have a deterministic implementation" in proc.stderr
    assert "done" not in proc.stdout
    # torch says "you set use_deterministic_algorithms(True)": seedlock says first that it did, where, and the ways out.
    first = proc.stderr.splitlines()[0]
    assert first.startswith(
        "seedlock: torch refused put_ at scatter.py:4: it has no deterministic implementation"
    )
    assert "seedlock run --audit SCRIPT" in first and "seedlock run --no-deterministic SCRIPT" in first
    assert proc.stderr.index(first) < proc.stderr.index("Traceback")


@pytest.mark.slow
def test_a_refused_op_is_explained_under_seed_everything_and_is_checks_cause(tmp_path: Path) -> None:
    (tmp_path / "scatter.py").write_text(TORCH_SCRIPT)
    own = tmp_path / "own.py"
    own.write_text("import seedlock\nseedlock.seed_everything(0)\n" + TORCH_SCRIPT)
    plain = run_py([str(own)], cwd=tmp_path)
    assert plain.returncode == 1 and plain.stderr.startswith("seedlock: torch refused put_ at own.py:6")
    assert "seedlock.seed_everything(SEED, deterministic=False)" in plain.stderr.splitlines()[0]
    threaded = tmp_path / "threaded.py"
    threaded.write_text(
        "import threading, torch\n"
        "def put():\n"
        "    torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))\n"
        "t = threading.Thread(target=put); t.start(); t.join()\n"
    )
    in_thread = run_seedlock(["run", "threaded.py"], cwd=tmp_path)
    assert "seedlock: torch refused put_ at threaded.py:3" in in_thread.stderr, in_thread.stderr[-2000:]
    checked = run_seedlock(["check", "--json", "scatter.py"], cwd=tmp_path)
    error = json.loads(checked.stdout)["error"]
    assert checked.returncode == 2 and error.startswith(
        "run 1 of 2 exited with code 1; no verdict. torch refused put_ at scatter.py:4"
    )
    assert "seedlock check --audit SCRIPT" in error


def test_tensorflow_refusals_recorded_not_raised(runs: dict[str, Any]) -> None:
    proc, data = runs["tf"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "done True True"  # op determinism is back on after each re-run
    records = by_op(data)
    stamp = records["Timestamp"]
    assert (stamp["framework"], stamp["device"], stamp["path"], stamp["line"]) == (
        "tensorflow",
        "CPU:0",
        "tfops.py",
        2,
    )
    assert "Timestamp cannot be called when determinism is enabled" in stamp["message"]  # TF's own refusal
    assert stamp["alternative"].startswith("time.time()")
    uniform = records["RandomUniform"]
    # TF caches the kernel it built for the re-run: later runs of the same op are not refused again.
    assert (uniform["line"], uniform["count"]) == (4, 1)
    assert "random ops must have a seed" in uniform["message"]
    assert records["SampleDistortedBoundingBoxV2"]["line"] == 5
    assert records["Generator.from_non_deterministic_state"]["line"] == 6


def test_record_explain_and_write(tmp_path: Path) -> None:
    assert audit.explain() == ["audit: no op without a deterministic implementation ran"]
    try:
        rec, again = [
            audit.record("torch", "put_", "cpu", msg, sys._getframe()) for msg in ("put_ does not", "2nd")
        ]
        assert rec is again and rec.count == 2 and rec.path.endswith("test_audit.py")
        line = audit.explain()[0]
        assert (
            line.startswith("audit: torch put_ on cpu ran 2x at ")
            and "instead: t.view(-1).index_put_" in line
        )
        audit.write(tmp_path / "sub" / "audit.json")
        (saved,) = json.loads((tmp_path / "sub" / "audit.json").read_text())["records"]
        assert saved["op"] == "put_" and saved["count"] == 2 and saved["message"].startswith("put_ does not")
    finally:
        records_module._records.clear()


def test_alternatives_and_doctests() -> None:
    assert audit.alternative_for("tensorflow", "RandomStandardNormal") is not None
    assert audit.alternative_for("torch", "upsample_bilinear2d_backward_out_cuda") is not None
    assert audit.alternative_for("tensorflow", "put_") is None
    result = doctest.testmod(records_module)
    assert result.failed == 0 and result.attempted > 0
