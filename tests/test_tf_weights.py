"""Verdicts that rest on the tensors (issue 18): seed-000-style TF1 code is compared on its weights,
a run whose weights seedlock cannot read gets no verdict from stdout alone, and a Keras 3 script
seeded only by tf.random.set_seed is named for what it is (SL505)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, SCRIPTS, clean_env, run_seedlock
from seedlock.doctor.static import scan, scan_source

CHECK = SCRIPTS / "check"


def check(*args: str, tmp: Path) -> tuple[int, dict]:
    """`seedlock check --json ARGS`: the exit code and its one JSON object."""
    p = run_seedlock(["check", "--json", "--workdir", str(tmp / "work"), *args], env=clean_env(), timeout=600)
    assert p.stdout.strip(), p.stderr[-3000:]
    return p.returncode, json.loads(p.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["tf_keras_graph.py", "tf1_session.py"])
def test_tf1_graph_code_is_compared_on_its_weights(script: str, tmp_path: Path) -> None:
    code, data = check(str(CHECK / script), tmp=tmp_path)
    assert code == 0, data
    assert data["compared"]["tensors"] > 0 and data["compared"]["records"] > 0
    if script == "tf_keras_graph.py":  # fit in graph mode: a record per epoch, then the session at exit
        assert data["compared"]["records"] == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, tensors",
    [
        # The nudged bias reaches the LSTM's weights through the gradients; a nudge of ~1e-7 may
        # leave one of them bitwise equal after an epoch, so the first one that differs varies.
        (
            "tf_keras_graph.py",
            {"lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0", "lstm/lstm_cell/bias:0"},
        ),
        ("tf1_session.py", {"tf1:session#0/w:0"}),
    ],
)
def test_a_nudge_that_never_reaches_stdout_is_found_at_the_weights(
    script: str, tensors: set[str], tmp_path: Path
) -> None:
    code, data = check("--no-localize", str(CHECK / script), "nudge", tmp=tmp_path)
    assert code == 1, data
    div = data["divergence"]
    assert div["source"] == "trace" and div["reason"] == "tensor" and div["name"] in tensors, div
    # tf-keras: at the first epoch record; TF1: at the session, fingerprinted as it closed
    assert div["kind"] == ("epoch" if script == "tf_keras_graph.py" else "final")


@pytest.mark.slow
def test_weights_seedlock_cannot_read_leave_no_verdict(tmp_path: Path) -> None:
    p = run_seedlock(
        ["check", "--no-localize", "--workdir", str(tmp_path / "a"), str(CHECK / "tf_loose_variable.py")],
        env=clean_env(),
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = [x for x in p.stderr.splitlines() if x.startswith("seedlock: error:")]
    assert "1 trainable TensorFlow variable(s) seedlock could not fingerprint" in line
    # The twin holds no variable: stdout is all there is, and the verdict says so.
    p = run_seedlock(
        ["check", "--workdir", str(tmp_path / "b"), str(CHECK / "tf_loose_variable.py"), "constant"],
        env=clean_env(),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "no model weights were seen" in p.stdout


@pytest.mark.slow
def test_tf_seed_alone_is_the_first_cause_of_a_plain_keras3_run(tmp_path: Path) -> None:
    script = CHECK / "keras3_tf_seed.py"
    code, data = check("--plain", "--no-localize", str(script), tmp=tmp_path / "a")
    assert code == 1, data
    first = data["causes"][0]
    line = next(
        n
        for n, text in enumerate(script.read_text().splitlines(), 1)
        if text.startswith("tf.random.set_seed")
    )
    assert first["rule"] == "SL505" and first["location"] == f"{script}:{line}"
    # The fixed twin, seeded by keras.utils.set_random_seed, repeats with no help from seedlock.
    code, data = check("--plain", str(CHECK / "keras3_tf_seed_fixed.py"), tmp=tmp_path / "b")
    assert code == 0 and data["compared"]["tensors"] > 0, data


def test_sl505_only_where_keras3_is_left_unseeded() -> None:
    flagged = "import keras\nimport tensorflow as tf\ntf.random.set_seed(1)\n"
    assert [(f.id, f.line) for f in scan_source(flagged)] == [("SL505", 3)]
    tf1 = "import tensorflow as tf\nfrom tensorflow import keras\ntf.compat.v1.set_random_seed(1)\n"
    assert [f.id for f in scan_source(tf1)] == ["SL505"]
    clean = [
        "import tf_keras\nimport tensorflow as tf\ntf.random.set_seed(1)\n",  # Keras 2 draws from TF's seed
        "import os\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\nimport tensorflow as tf\n"
        "tf.random.set_seed(1)\nm = tf.keras.Sequential()\n",
        "import tensorflow as tf\ntf.random.set_seed(1)\n",  # no Keras at all
        flagged + "import random\nrandom.seed(1)\n",  # Keras 3's default seeds come from Python's random
        flagged + "import seedlock\nseedlock.seed_everything(1)\n",
        flagged + "tf.keras.utils.set_random_seed(1)\n",
    ]
    for source in clean:
        assert "SL505" not in {f.id for f in scan_source(source)}, source


def test_sl505_finds_nothing_in_this_repositorys_scripts() -> None:
    hits = [f for f in scan([ROOT / "examples", SCRIPTS]) if f.id == "SL505"]
    assert [f"{f.file}:{f.line}" for f in hits if "keras3_tf_seed.py" not in str(f.file)] == []
    assert len(hits) == 1  # the planted one
