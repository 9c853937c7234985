"""`seedlock check --resume`: a run preempted (SIGTERM) after a checkpoint and started again equals
the uninterrupted run bitwise, or the first divergent step and what the resume lost are named.
Real torch, Keras and Lightning scripts that checkpoint in their working directory, as users write
them; each "equivalent" has its twin that is not (the RNG state left out of the checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_seedlock, run_together

RESUME = SCRIPTS / "resume"
TORCH = str(RESUME / "torch_train.py")
pytestmark = pytest.mark.slow


def check(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    p = run_seedlock(
        ["check", "--resume", "--json", *args], cwd=cwd, env=env or clean_env(OMP_NUM_THREADS="1")
    )
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        raise AssertionError(p.stdout + p.stderr) from None


def test_torch_resume_is_equivalent_with_seedlock_and_not_without_the_rng_state(tmp_path: Path) -> None:
    """The user's directory is left as it was: every run checkpoints in a private view of it."""
    dirs = [tmp_path / n for n in ("with", "without", "optim", "own")]
    for d in dirs:
        d.mkdir()
    (with_, a), (without, b), (optim, c), (own, d) = run_together(
        lambda: check(dirs[0], TORCH),
        lambda: check(dirs[1], "--no-rng-checkpoint", TORCH),
        lambda: check(dirs[2], TORCH, "--no-optimizer"),
        lambda: check(dirs[3], "--no-rng-checkpoint", TORCH, "--own-rng"),
    )
    assert with_ == 0 and a["equivalent"] is True, a
    assert (a["checkpoints"], a["resume_at"], a["resumed_from"]) == (4, 2, 2)
    assert a["compared"]["records"] == 9  # 2 epochs of 4 steps after the resume point, and the exit
    assert sorted(p.name for p in dirs[0].iterdir()) == [".seedlock"]  # no ckpt.pt left behind
    # the twin: checkpoints without the RNG state replay epoch 0's shuffle and dropout
    assert without == 1 and b["equivalent"] is False, b
    assert b["step"] == 9 and "step record at step 9" in b["divergence"]
    assert b["stopped_early"] is True and a["stopped_early"] is False  # compared live: stopped there
    causes = [x["message"].split(":")[0] for x in b["causes"]]
    assert causes == ["RNG state", "data order"], b["causes"]
    # a checkpoint without the optimizer's momentum: that, and nothing else
    assert optim == 1 and [x["message"].split(":")[0] for x in c["causes"]] == ["optimizer state"], c
    assert "optimizer.state_dict()" in c["causes"][0]["fix"]
    # the fix the RNG cause names, done by the script itself, is equivalent without seedlock's
    assert own == 0 and d["equivalent"] is True, d


def test_bad_input_and_scripts_with_nothing_to_resume_get_no_verdict(tmp_path: Path) -> None:
    dirs = [tmp_path / n for n in ("past", "nosave", "crash", "alone")]
    for d in dirs:
        d.mkdir()
    past, nosave, crash, alone = run_together(
        lambda: run_seedlock(["check", "--resume", "--resume-at", "9", TORCH], cwd=dirs[0]),
        lambda: run_seedlock(["check", "--resume", TORCH, "--no-save"], cwd=dirs[1]),
        lambda: run_seedlock(["check", "--resume", TORCH, "--crash-on-resume"], cwd=dirs[2]),
        lambda: run_seedlock(["check", "--resume-at", "2", TORCH], cwd=dirs[3]),
    )
    for p in (past, nosave, crash, alone):
        assert p.returncode == 2 and "Traceback" not in p.stderr.split("stderr ends")[0], p.stderr
    assert (
        "--resume-at 9, but the uninterrupted run saved 4 checkpoint(s); pass --resume-at 1 to 4"
        in past.stderr
    )
    assert "no verdict: the script saved no checkpoint seedlock saw" in nosave.stderr
    assert "the resumed run exited with code 1; no verdict" in crash.stderr
    assert "ckpt.pt is from an older version" in crash.stderr
    assert "--resume-at and --no-rng-checkpoint go with --resume" in alone.stderr


def test_keras_backup_and_restore_and_lightning_resume_equivalent_and_their_twins_not(tmp_path: Path) -> None:
    """BackupAndRestore writes ./backup after each epoch; Lightning's ModelCheckpoint and
    fit(ckpt_path=...). Preempted after the middle checkpoint; seam off: not equivalent."""
    keras_env = clean_env(OMP_NUM_THREADS="1", KERAS_BACKEND="jax")
    dirs = [tmp_path / n for n in ("k", "k-off", "l", "l-off")]
    for d in dirs:
        d.mkdir()
    (k, kd), (koff, kod), (light, ld), (loff, lod) = run_together(
        lambda: check(dirs[0], str(RESUME / "keras_resume.py"), env=keras_env),
        lambda: check(dirs[1], "--no-rng-checkpoint", str(RESUME / "keras_resume.py"), env=keras_env),
        lambda: check(dirs[2], str(RESUME / "lightning_resume.py")),
        lambda: check(dirs[3], "--no-rng-checkpoint", str(RESUME / "lightning_resume.py")),
    )
    assert k == 0 and kd["equivalent"] is True and kd["compared"]["records"] > 0, kd
    assert koff == 1 and kod["equivalent"] is False, kod
    assert light == 0 and ld["equivalent"] is True, ld
    assert loff == 1 and lod["equivalent"] is False, lod
    assert "RNG state" in [x["message"].split(":")[0] for x in lod["causes"]], lod["causes"]
