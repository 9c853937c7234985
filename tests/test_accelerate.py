"""`accelerate launch` of a 2-process CPU job (gloo) under seedlock: its ranks, fresh interpreters
that accelerate's torchrun starts, are seeded, and `check` finds the job reproducible. Real
processes, no mocks; "equal under seedlock" has its twin "differs without it".

Two CPU processes take `--multi_gpu --num_processes 2` and `Accelerator(cpu=True)` in the script:
`accelerate launch --cpu --num_processes 2` starts one process (more need mpirun and a hostfile).
accelerate ignores MASTER_PORT (its port is `--main_process_port`, 29500 by default): runs side by
side each get a port of their own on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock, run_together
from seedlock.verify.runner import free_port

pytest.importorskip("accelerate")
pytestmark = pytest.mark.slow

SCRIPT = str(SCRIPTS / "multiproc" / "accelerate_train.py")
OPTIONS = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
OPTIONS += ["--dynamo_backend", "no"]


def launch(port: int) -> list[str]:
    return ["-m", "accelerate.commands.launch", *OPTIONS, "--main_process_port", str(port), SCRIPT]


def test_accelerate_launch_ranks_are_seeded_and_plain_runs_differ(tmp_path: Path) -> None:
    env = clean_env(OMP_NUM_THREADS="1")
    ports = [free_port() for _ in range(4)]
    runs = run_together(
        *[
            lambda p=p: run_seedlock(["run", "--seed", "1", *launch(p)], cwd=tmp_path, env=env)
            for p in ports[:2]
        ],
        *[lambda p=p: run_py(launch(p), cwd=tmp_path, env=env) for p in ports[2:]],
    )
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
    locked, plain = [r.stdout for r in runs[:2]], [r.stdout for r in runs[2:]]
    assert locked[0] == locked[1], locked
    kind, processes, word, rank0, rank1 = locked[0].split()
    assert (kind, processes, word) == ("DistributedType.MULTI_CPU", "2", "digests")  # 2 ranks, gloo
    assert rank0 == rank1  # DDP keeps the ranks' weights in step
    assert plain[0] != plain[1] and plain[0].startswith("DistributedType.MULTI_CPU 2 digests ")


def test_check_of_accelerate_launch_is_reproducible_and_plain_check_is_not(tmp_path: Path) -> None:
    """`check -- accelerate launch ...` as a command; `--main_process_port 0`: accelerate picks a
    free port for each run (check's MASTER_PORT does not reach it)."""
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    command = ["--", accelerate, "launch", *OPTIONS, "--main_process_port", "0", SCRIPT]
    env = clean_env(OMP_NUM_THREADS="1")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    locked, plain = run_together(
        lambda: run_seedlock(["check", *command], cwd=tmp_path / "a", env=env),
        lambda: run_seedlock(["check", "--plain", *command], cwd=tmp_path / "b", env=env),
    )
    assert locked.returncode == 0, locked.stdout + locked.stderr[-3000:]
    assert "REPRODUCIBLE" in locked.stdout and "runs of -- accelerate launch --multi_gpu" in locked.stdout
    assert "processes: 3 per run" in locked.stdout  # accelerate's launcher and its two ranks
    assert "across 2 ranks' traces" in locked.stdout and " 0 tensor digests" not in locked.stdout
    assert plain.returncode == 1 and "NOT REPRODUCIBLE" in plain.stdout, plain.stdout + plain.stderr[-3000:]
