"""Each adapter, against the real framework: two fresh processes under `seedlock run` give
bitwise-identical results, and (the twin) two plain runs of the same script differ."""

from __future__ import annotations

import re

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock, run_together

pytestmark = pytest.mark.slow


def digests(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^([\w-]+): (\S+)$", stdout, flags=re.M))


def run_both(
    script: str, *args: str, env: dict[str, str] | None = None, seed: str = "7"
) -> tuple[list[dict], list[dict]]:
    """(two plain runs, two `seedlock run` runs) of a test script, each parsed to {name: digest}."""
    env = env or clean_env()
    path = str(SCRIPTS / script)
    runs = run_together(
        *[lambda: run_py([path, *args], env=env)] * 2,
        *[lambda: run_seedlock(["run", "--seed", seed, path, *args], env=env)] * 2,
    )
    for p in runs:
        assert p.returncode == 0, p.stderr[-3000:]
    return [digests(p.stdout) for p in runs[:2]], [digests(p.stdout) for p in runs[2:]]


TF_SCENARIOS = ["set-vocab", "tf-data", "sklearn", "lstm", "tf-random", "py-np"]


@pytest.fixture(scope="module")
def tf_runs() -> tuple[list[dict], list[dict]]:
    return run_both("tf_scenarios.py")  # one TF import per process for all scenarios


@pytest.mark.parametrize("scenario", TF_SCENARIOS)
def test_tf_era_scenario_reproducible_and_plain_differs(tf_runs, scenario: str) -> None:
    plain, locked = tf_runs
    assert locked[0][scenario] == locked[1][scenario], f"{scenario}: seedlock runs differ"
    assert plain[0][scenario] != plain[1][scenario], (
        f"{scenario}: plain runs already equal, the test proves nothing"
    )


SCRIPT_CASES = [
    pytest.param("tf1_graph.py", {}, "tf1-graph", id="tf1-graph-session-configproto"),
    pytest.param("tf_keras_mlp.py", {}, "tf-keras", id="tf-keras"),
    pytest.param("keras_mlp.py", {"KERAS_BACKEND": "tensorflow"}, "keras-tensorflow", id="keras3-tensorflow"),
    pytest.param("keras_mlp.py", {"KERAS_BACKEND": "jax"}, "keras-jax", id="keras3-jax"),
    pytest.param("keras_mlp.py", {"KERAS_BACKEND": "torch"}, "keras-torch", id="keras3-torch"),
    pytest.param("torch_loader.py", {}, "torch", id="torch-dropout-dataloader-workers"),
    pytest.param("jax_train.py", {}, "jax", id="jax"),
    pytest.param("pytensor_rng.py", {"PYTENSOR_FLAGS": "cxx="}, "pytensor", id="pytensor"),
]


@pytest.mark.parametrize("script,extra_env,name", SCRIPT_CASES)
def test_script_reproducible_and_plain_differs(script: str, extra_env: dict, name: str) -> None:
    plain, locked = run_both(script, env=clean_env(**extra_env))
    assert locked[0][name] == locked[1][name], f"{name}: seedlock runs differ"
    assert plain[0][name] != plain[1][name], f"{name}: plain runs already equal, the test proves nothing"


def test_different_seeds_give_different_results() -> None:
    a = run_seedlock(["run", "--seed", "1", str(SCRIPTS / "jax_train.py")], env=clean_env())
    b = run_seedlock(["run", "--seed", "2", str(SCRIPTS / "jax_train.py")], env=clean_env())
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert digests(a.stdout)["jax"] != digests(b.stdout)["jax"]


def test_seed003_refit_in_one_process_with_reproducible() -> None:
    """Seed 003: two fits in one process are identical inside `reproducible`, and equal to the
    fit of another fresh process; the twin (tf.random.set_seed once, as seed 003 began) differs."""
    env = clean_env()
    runs = [run_py([str(SCRIPTS / "notebook_refit.py"), "--reproducible"], env=env) for _ in range(2)]
    fits = [r.stdout.split("fits:")[1].split() for r in runs]
    assert runs[0].returncode == 0, runs[0].stderr[-2000:]
    assert fits[0][0] == fits[0][1] == fits[1][0] == fits[1][1]
    twin = run_py([str(SCRIPTS / "notebook_refit.py")], env=env)
    first, second = twin.stdout.split("fits:")[1].split()
    assert first != second


def test_seed001_reset_loop() -> None:
    """Seed 001's loop: with seedlock.reproducible before each run, the three runs in a process are
    identical and equal across processes; without any reset (the twin) they differ."""
    env = clean_env()
    outs = []
    for _ in range(2):
        r = run_seedlock(["run", str(SCRIPTS / "seed001_loop.py"), "--reset", "seedlock"], env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(r.stdout.split("runs:")[1].split())
    assert len(set(outs[0])) == 1 and outs[0] == outs[1]
    twin = run_py([str(SCRIPTS / "seed001_loop.py"), "--reset", "none"], env=env)
    assert len(set(twin.stdout.split("runs:")[1].split())) == 3


NEUTRAL_IMPORT = """
import random, sys
import seedlock
if sys.argv[1] == "before":
    seedlock.seed_everything(1)
import jax, keras  # jax draws from numpy's global RNG as it imports, keras from Python's
import numpy as np
if sys.argv[1] == "after":
    seedlock.seed_everything(1)
print(np.random.rand(), random.random())
"""


def test_importing_a_framework_leaves_the_global_rngs_as_it_found_them() -> None:
    # Seeded before `import jax` a script drew other numbers than seeded after it, and a test that
    # imported jax itself others than the same test run after one that had imported it.
    import subprocess
    import sys

    env = clean_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    procs = {
        mode: subprocess.Popen(
            [sys.executable, "-c", NEUTRAL_IMPORT, mode],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for mode in ("before", "after")
    }
    out = {mode: p.communicate(timeout=300) for mode, p in procs.items()}
    assert all(p.returncode == 0 for p in procs.values()), out
    assert out["before"][0] == out["after"][0], out
    plain = run_py(
        [
            "-c",
            NEUTRAL_IMPORT.replace(
                "import seedlock",
                "import seedlock, numpy\nseedlock.seed_everything = "
                "lambda s: (random.seed(s), numpy.random.seed(s))",
            ),
            "before",
        ],
        env=env,
    )
    assert plain.returncode == 0 and plain.stdout != out["before"][0], (
        plain.stderr
    )  # the twin: plain seeding differs


THREAD_DRAWS = """
import random, threading, time
out, started, stop = [], threading.Event(), threading.Event()
def draw():
    while not stop.is_set():
        out.append(random.random()); started.set()
        time.sleep(0.001)  # pacing, so that the import is not starved of the GIL
thread = threading.Thread(target=draw); thread.start(); started.wait()
import torch  # a hooked import, while the other thread draws
stop.set(); thread.join()
print(len(out) == len(set(out)), len(out) > 1)
"""


def test_import_neutrality_holds_under_strict_and_never_replays_another_threads_draws(tmp_path) -> None:
    # Strict mode's numpy.random hook ended inside numpy's import, before numpy was seeded: its
    # state was what the outer `import jax` put back, so numpy went unseeded. And restoring the
    # process's RNG state after an import replayed what another thread drew meanwhile.
    first = {name: tmp_path / f"{name}.py" for name in ("numpy_first", "jax_first")}
    first["numpy_first"].write_text("import numpy as np\nimport jax\nprint(np.random.rand(3))\n")
    first["jax_first"].write_text("import jax\nimport numpy as np\nprint(np.random.rand(3))\n")
    (tmp_path / "threads.py").write_text(THREAD_DRAWS)
    env = clean_env(JAX_PLATFORMS="cpu")
    strict = {name: run_seedlock(["run", "--strict", str(path)], env=env) for name, path in first.items()}
    assert all(p.returncode == 0 for p in strict.values()), [p.stderr for p in strict.values()]
    assert strict["jax_first"].stdout == strict["numpy_first"].stdout
    threads = run_seedlock(["run", str(tmp_path / "threads.py")], env=env)
    assert threads.returncode == 0 and threads.stdout.split() == ["True", "True"], (
        threads.stdout + threads.stderr
    )
