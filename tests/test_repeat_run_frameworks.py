"""`seedlock repeat` with real frameworks: a forked Keras trial equals a cold run bitwise, and JAX
is not forked (Ray: tests/test_repeat_ray.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import clean_env, run_seedlock
from seedlock.repeat.store import Store
from seedlock.repeat.trial import TrialSpec, collect
from seedlock.trace import read_trace

pytestmark = pytest.mark.slow

KERAS = """\
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

x = np.linspace(0, 1, 16, dtype="float32").reshape(-1, 1)
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(8), keras.layers.Dropout(0.2), keras.layers.Dense(1)])
model.compile(loss="mse", optimizer="adam")
model.fit(x, x + 0.1, epochs=3, batch_size=4, shuffle=True, verbose=0)
"""

TORCH = """\
import json
import sys
import torch

x, y = torch.randn(64, 3), torch.randn(64, 1)
model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), 0.1)
for _ in range(5):
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(json.dumps({"loss": loss.item()}))
if "--exit" in sys.argv:
    sys.exit(0)  # the globals then come from the traceback: runpy returns none
"""

JAX = """\
import json
import jax
import numpy as np

key = jax.random.key(np.random.randint(2**31))
print(json.dumps({"draw": float(jax.random.normal(key, ()))}))
"""


def write(tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(source))


def cold_fingerprint(cwd: Path, rundir: Path) -> str:
    """The fingerprint of the cold verification run in ``rundir``, read as repeat reads a trial."""
    spec = TrialSpec(seed=0, script="fit.py", args=[], cwd=str(cwd), rundir=str(rundir))
    result = collect(spec, 0, timed_out=False, interrupted=False, duration_s=0.0, mode="fresh")
    assert result.fingerprint is not None
    return result.fingerprint


def test_forked_keras_trial_equals_a_cold_run_bitwise(tmp_path: Path) -> None:
    write(tmp_path, "fit.py", KERAS)
    r = run_seedlock(
        ["repeat", "--seeds", "1", "--workers", "2", "--metric", "loss", "fit.py"],
        cwd=tmp_path,
        env=clean_env(KERAS_BACKEND="tensorflow"),
    )
    assert r.returncode == 0, r.stderr
    assert "fork-server: imported os, keras, numpy" in r.stderr
    assert "verified: seed 0 forked equals a cold run bitwise" in r.stderr and "(fork-server" in r.stdout
    assert "stdout only" not in r.stderr  # the model's fingerprint was compared
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        (trial,) = store.trials("fit")
        curve = store.metric_curves("fit", "loss")[0]
    assert [step for step, _ in curve] == [1, 2, 3]  # Keras History, per epoch
    # The cold run's own trace, read here: its exit fingerprint of the model is the forked trial's.
    runs = tmp_path / ".seedlock" / "runs" / "1-fit"
    final = read_trace(runs / "seed-0.check" / "trace.jsonl").final
    assert final is not None and final.extra["at"] == "exit"
    assert trial.fingerprint == cold_fingerprint(tmp_path, runs / "seed-0.check")
    assert trial.fingerprint.startswith("model+metrics:")  # the model's exit digest and the losses
    forked = read_trace(runs / "seed-0" / "trace.jsonl").final
    assert forked is not None and forked.tensors == final.tensors  # tensor by tensor, not just the digest


@pytest.mark.parametrize("how", ["end", "--exit"])
def test_forked_torch_trial_fingerprints_the_model_as_a_cold_run_does(tmp_path: Path, how: str) -> None:
    # A forked trial's exit fingerprint must find the model as a cold run's does: it once lost it
    # (the script's globals were dropped before the fingerprint), so every torch trial differed
    # from its cold check and the whole experiment reran in fresh processes.
    write(tmp_path, "fit.py", TORCH)
    r = run_seedlock(
        ["repeat", "--seeds", "2", "--workers", "2", "--metric", "loss", "--name", "fit", "fit.py", how],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    assert "fork-server: imported json, sys, torch" in r.stderr
    assert "verified: seed 0 forked equals a cold run bitwise" in r.stderr and "(fork-server" in r.stdout
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        prints = {t.seed: t.fingerprint for t in store.trials("fit")}
    runs = tmp_path / ".seedlock" / "runs" / "1-fit"
    final = read_trace(runs / "seed-0.check" / "trace.jsonl").final
    assert final is not None and prints[0] == cold_fingerprint(tmp_path, runs / "seed-0.check")
    assert prints[0].startswith("model+metrics:")
    assert sorted(final.tensors) == [f"torch:model/{n}" for n in ("0.bias", "0.weight", "2.bias", "2.weight")]
    assert prints[1] != prints[0]  # the fingerprint tells seeds apart: the check is not vacuous


def test_torch_with_cuda_initialised_by_an_import_runs_every_trial_fresh(tmp_path: Path) -> None:
    # No GPU here: an installed module the zygote imports stands in for one that initialises CUDA
    # (a forked child cannot use it), by making torch say so. benchmarks/gpu/cuda_launcher_check.py
    # does it for real on a GPU.
    lib = tmp_path / "site"
    lib.mkdir()
    (lib / "gpu_init.py").write_text("import torch\ntorch.cuda.is_initialized = lambda: True\n")
    work = tmp_path / "w"
    work.mkdir()
    write(work, "fit.py", "import gpu_init\n" + TORCH)
    r = run_seedlock(
        ["repeat", "--seeds", "2", "--workers", "2", "fit.py"], cwd=work, env=clean_env(PYTHONPATH=str(lib))
    )
    assert r.returncode == 0, r.stderr
    assert "instead of forking: torch has initialised CUDA, which a forked child cannot use" in r.stderr
    assert "2 ok of 2 trials" in r.stdout and "(fresh processes, 2 workers)" in r.stdout


def test_jax_script_runs_in_fresh_processes_saying_why(tmp_path: Path) -> None:
    write(tmp_path, "draw.py", JAX)
    r = run_seedlock(["repeat", "--seeds", "2", "--workers", "2", "draw.py"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert (
        "running every trial in a fresh process instead of forking: the script imports jax, and JAX's "
        "multithreaded runtime is not fork-safe"
    ) in r.stderr
    assert "2 ok of 2 trials" in r.stdout and "(fresh processes, 2 workers)" in r.stdout
