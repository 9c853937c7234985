"""RNG state that travels with checkpoints (issue 17, item 2): ``seedlock.rng_state`` and
``seedlock.restore_rng_state`` round-trip through JSON for every RNG seedlock manages, bad input
is one line, and under ``seedlock run`` a training script stopped after epoch 1's checkpoint and
restarted ends with the weights of the uninterrupted run, bit for bit; with the seam turned off
(``SEEDLOCK_RNG_CHECKPOINT=0``), the same seeded, deterministic runs end with other weights.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock, run_together

RESUME = SCRIPTS / "resume"

# state -> JSON -> the stream moves on -> restore from the JSON: the next draws are the saved
# point's, bitwise; the twin: without the restore they are other numbers.
ROUND_TRIP = """
import json, seedlock
{setup}
def draw():
{draw}
saved = json.dumps(seedlock.rng_state())
first = draw()
moved_on = draw()
seedlock.restore_rng_state(json.loads(saved))
again = draw()
assert isinstance(first, bytes) and len(first) > 8
print("equal" if again == first else "DIFFERENT", "twin-differs" if moved_on != first else "TWIN-EQUAL")
"""

CASES = {
    "python": (
        "import random, struct",
        "return struct.pack('3d', random.random(), random.gauss(0, 1), random.random())",
    ),
    "numpy": (
        "import numpy as np",
        "return np.random.rand(3).tobytes() + np.random.standard_normal(3).tobytes()",
    ),
    "torch": (
        "import torch",
        "return torch.rand(4).numpy().tobytes() + torch.randperm(16).numpy().tobytes()",
    ),
    "tensorflow+keras": (
        "import tensorflow as tf, keras\nseedlock.seed_everything(0)  # eager ops draw OS entropy unseeded\n"
        "keras.random.normal((1,)); tf.random.get_global_generator()",
        "return (tf.random.get_global_generator().normal([4]).numpy().tobytes()"
        " + tf.random.uniform([3]).numpy().tobytes()"
        " + keras.ops.convert_to_numpy(keras.random.normal((4,))).tobytes())",
    ),
}


def round_trip(name: str) -> subprocess.CompletedProcess[str]:
    setup, draw = CASES[name]
    code = ROUND_TRIP.format(setup=setup, draw=textwrap.indent(draw, "    "))
    return run_py(["-c", code], env=clean_env(OMP_NUM_THREADS="1"))


@pytest.mark.parametrize("name", ["python", "numpy"])
def test_round_trip_through_json_gives_the_same_next_draws(name: str) -> None:
    p = round_trip(name)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["equal", "twin-differs"]


@pytest.mark.slow
def test_round_trip_of_the_frameworks() -> None:
    """torch, TensorFlow (global Generator, eager ops) and Keras 3's global SeedGenerator."""
    results = run_together(*(lambda n=n: round_trip(n) for n in ("torch", "tensorflow+keras")))
    for p in results:
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.split() == ["equal", "twin-differs"]


@pytest.mark.slow
def test_jax_keys_follow_the_restored_master_seed() -> None:
    code = """
import json, jax, seedlock
seedlock.seed_everything(1)
saved = json.dumps(seedlock.rng_state())
first = jax.random.key_data(seedlock.jax_key("init")).tobytes()
seedlock.seed_everything(2)
other = jax.random.key_data(seedlock.jax_key("init")).tobytes()
seedlock.restore_rng_state(saved)
again = jax.random.key_data(seedlock.jax_key("init")).tobytes()
print(again == first, other != first, seedlock.master_seed())
"""
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["True", "True", "1"]


def test_a_registered_rng_travels_when_its_registration_says_how() -> None:
    code = """
import json, random, seedlock
mine = random.Random(5)
def get():
    version, internal, gauss = mine.getstate()
    return [version, list(internal), gauss]
def put(value):
    mine.setstate((value[0], tuple(value[1]), value[2]))
seedlock.register_rng("mine", mine.seed, get_state=get, set_state=put)
saved = json.dumps(seedlock.rng_state())
first = mine.random(); moved_on = mine.random()
seedlock.restore_rng_state(saved)
print(mine.random() == first, moved_on != first, "mine" in json.loads(saved)["registered"])
try:
    seedlock.register_rng("half", mine.seed, get_state=get)
except seedlock.SeedlockError as exc:
    print("refused:", exc)
"""
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["True", "True", "True"]
    assert lines[1].startswith("refused: get_state and set_state go together")


def test_taking_the_state_imports_no_framework() -> None:
    code = """
import json, sys, seedlock
state = seedlock.rng_state()  # nothing imported: not even Python's random
json.dumps(state)
print(sorted(state), sorted({"numpy", "torch", "tensorflow", "keras", "jax"} & set(sys.modules)))
"""
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "['format', 'seed', 'version'] []"


BAD_INPUT = """
import json, random, seedlock
good = seedlock.rng_state()
bad_key = json.loads(json.dumps(good)); bad_key["python"]["state"] = bad_key["python"]["state"][:10]
newer = dict(good, version=99)
cases = ["not json", b"\\x80\\x04pickle", {{"format": "other"}}, newer, dict(good, extra=1), bad_key, [1], {case}]
before = random.getstate()
for case in cases:
    try:
        seedlock.restore_rng_state(case)
        print("ACCEPTED", repr(case)[:40])
    except seedlock.SeedlockError as exc:
        print(type(exc).__name__, "|", exc)
print("untouched" if random.getstate() == before else "TOUCHED")
"""


def test_bad_or_foreign_input_is_one_line_and_restores_nothing() -> None:
    broken_numpy = '{"format": "seedlock.rng_state", "version": 1, "python": None, "numpy": {"key": "!"}}'
    p = run_py(["-c", BAD_INPUT.format(case=broken_numpy)])
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert lines[-1] == "untouched"  # nothing restored from a state with one bad part
    errors = lines[:-1]
    assert len(errors) == 8 and all(line.startswith("BadRngState | ") for line in errors), lines
    assert "not JSON" in errors[0] and "not JSON" in errors[1]  # pickle bytes are never unpickled
    assert "'other'" in errors[2] and "upgrade seedlock" in errors[3] and "'extra'" in errors[4]
    assert "python.state" in errors[5]


def test_a_side_file_names_the_checkpoint_it_belongs_to(tmp_path: Path) -> None:
    code = """
import sys, seedlock
from seedlock.resume import sidefile
from seedlock.errors import BadRngState
path = sys.argv[1]
open(path, "wb").write(b"checkpoint one")
sidefile.write(path)
print(sidefile.read(path)["state"]["format"])
open(path, "wb").write(b"checkpoint two")  # written again, by plain python say
try:
    sidefile.read(path)
except BadRngState as exc:
    print(exc)
"""
    p = run_py(["-c", code, str(tmp_path / "ckpt.bin")])
    assert p.returncode == 0, p.stderr[-2000:]
    first, stale = p.stdout.splitlines()
    assert first == "seedlock.rng_state"
    assert stale.startswith(f"{tmp_path / 'ckpt.bin'}.seedlock-rng.json belongs to an earlier ckpt.bin")


# -- the headline: preempted and resumed == uninterrupted, under seedlock run ------------------


def _weights(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [line for line in p.stdout.splitlines() if line.startswith("weights ")]
    assert len(lines) == 1, p.stdout
    return lines[0].split()[1]  # sha256 of the final weights' raw bytes


def _stopped(script: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cwd.mkdir()
    return run_seedlock(["run", str(script)], cwd=cwd, env={**env, "STOP_AFTER_EPOCH": "1"})


def _uninterrupted(script: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cwd.mkdir()
    return run_seedlock(["run", str(script)], cwd=cwd, env=env)


def resume_twins(script: Path, tmp_path: Path, **extra: str) -> tuple[str, str, str]:
    """Weight digests of the uninterrupted run, and of the run stopped after epoch 1's checkpoint
    and restarted, with the seam on and (the twin) turned off for the restart: both restarts
    start from copies of the one stopped run's files."""
    import shutil

    on = clean_env(OMP_NUM_THREADS="1", **extra)
    off = {**on, "SEEDLOCK_RNG_CHECKPOINT": "0"}
    whole, stopped = run_together(
        lambda: _uninterrupted(script, tmp_path / "whole", on),
        lambda: _stopped(script, tmp_path / "stopped", on),
    )
    assert stopped.returncode == 3, stopped.stderr[-3000:]  # preempted after epoch 1's checkpoint
    for name in ("resumed", "resumed-off"):
        shutil.copytree(tmp_path / "stopped", tmp_path / name)
    resumed, resumed_off = run_together(
        lambda: run_seedlock(["run", str(script)], cwd=tmp_path / "resumed", env=on),
        lambda: run_seedlock(["run", str(script)], cwd=tmp_path / "resumed-off", env=off),
    )
    return _weights(whole), _weights(resumed), _weights(resumed_off)


@pytest.mark.slow
def test_torch_script_resumed_from_its_checkpoint_ends_as_the_uninterrupted_run(tmp_path: Path) -> None:
    whole, resumed, resumed_off = resume_twins(RESUME / "torch_resume.py", tmp_path)
    assert (tmp_path / "stopped" / "ckpt.pt.seedlock-rng.json").exists()
    assert resumed == whole
    # the twin: seeded and deterministic alike, but the restarted process replays epoch 0's draws
    assert resumed_off != whole


@pytest.mark.slow
def test_keras_backup_and_restore_resumes_as_the_uninterrupted_run(tmp_path: Path) -> None:
    """JAX backend: Keras shuffles with NumPy's global RNG there; dropout draws from each layer's
    SeedGenerator, whose state Keras does not save with the weights."""
    whole, resumed, resumed_off = resume_twins(RESUME / "keras_resume.py", tmp_path, KERAS_BACKEND="jax")
    assert resumed == whole
    assert resumed_off != whole


@pytest.mark.slow
def test_lightning_fit_from_ckpt_path_resumes_as_the_uninterrupted_run(tmp_path: Path) -> None:
    whole, resumed, resumed_off = resume_twins(RESUME / "lightning_resume.py", tmp_path)
    assert resumed == whole
    assert resumed_off != whole


@pytest.mark.slow
def test_a_damaged_side_file_is_one_line_and_the_checkpoint_still_loads(tmp_path: Path) -> None:
    script = RESUME / "torch_resume.py"
    env = clean_env(OMP_NUM_THREADS="1")
    stopped = run_seedlock(["run", str(script)], cwd=tmp_path, env={**env, "STOP_AFTER_EPOCH": "1"})
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    (tmp_path / "ckpt.pt.seedlock-rng.json").write_text('{"format": "seedlock.rng_checkpoint", "vers')
    p = run_seedlock(["run", str(script)], cwd=tmp_path, env=env)
    _weights(p)
    assert "Traceback" not in p.stderr
    notes = [line for line in p.stderr.splitlines() if line.startswith("seedlock: ")]
    assert notes == [
        "seedlock: note: ckpt.pt.seedlock-rng.json is not JSON (damaged?); delete it to resume without it"
    ]
