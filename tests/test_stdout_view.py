"""stdout compared as a terminal shows it: Keras's default progress bars are no false NOT, and a
printed number that differs still is a NOT (issue 15, item 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import clean_env, run_seedlock
from seedlock.trace.stdout import mask, render, view

# Two runs' epoch line of a Keras 3 fit at the default verbose, as `seedlock run` wrote them (bytes
# from a real run): the frames drawn and the timings differ, the loss the terminal ends on does not.
FRAME = (
    "\r\x1b[1m 1/16\x1b[0m \x1b[32m━\x1b[0m\x1b[37m━━━━━━━━━━━━━━━━━━━\x1b[0m \x1b[1m{t0}\x1b[0m {r0}/step - loss: "
    "14.5812" + "\b" * 57 + "\r\x1b[1m16/16\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m "
    "\x1b[1m{t1}\x1b[0m {r1}/step - loss: {loss}{pad}"
)


def keras_line(t0: str, r0: str, t1: str, r1: str, loss: str = "14.2125", pad: str = "   ") -> str:
    return FRAME.format(t0=t0, r0=r0, t1=t1, r1=r1, loss=loss, pad=pad)


def test_a_keras_progress_line_is_compared_as_its_last_frame_timings_masked() -> None:
    a = keras_line("14s", "949ms", "1s", "3ms")
    b = keras_line("0s", "50ms", "0s", "2ms", pad=" ")
    assert a != b and view(a) == view(b) == "16/16 ━━━━━━━━━━━━━━━━━━━━ <time> <time>/step - loss: 14.2125"
    assert view(keras_line("0s", "50ms", "0s", "2ms", loss="14.2126")) != view(a)  # the loss still counts


def test_tf_keras_and_tqdm_lines() -> None:
    assert view("16/16 [==============================] - 1s 3ms/step - loss: 0.25") == view(
        "16/16 [==============================] - 0s 12ms/step - loss: 0.25"
    )
    assert mask("Epoch 1/2 - ETA: 0:00:12 - loss: 0.5") == "Epoch 1/2 - ETA: <time> - loss: 0.5"
    a, b = "50/50 [00:01<00:00, 45.12it/s, loss=0.3]", "50/50 [00:02<00:01,  9.80it/s, loss=0.3]"
    assert view("\r" + a) == view("\r" + b.replace("  ", " "))
    assert view(a.replace("0.3", "0.4")) != view(a)


def test_bytes_that_are_not_progress_bars_still_compare_exactly() -> None:
    for line in ("result 1\r", "a\x0cb", "value \udc80", "loss: 0.25 took 3ms", "step 3s"):
        assert render(line) == line
    assert view("took 1.5s") == "took 1.5s"  # a bare time is the script's own output: not masked
    assert view("3 ms/step") == "3 ms/step"  # not a progress bar's format
    assert render("line one\rtwo") == "line one\rtwo"  # not a progress bar: compared as it is
    assert render("1/2 line one\r2/2 two") == "2/2 twoe one"  # a progress bar: what a terminal shows


KERAS_DEFAULT_VERBOSE = """
import numpy as np, keras
x = np.random.rand(512, 8).astype("float32")
y = x.sum(1, keepdims=True)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile("adam", "mse")
model.fit(x, y, epochs=3)
print("final loss", float(model.evaluate(x, y, verbose=0)))
"""

PRINTED_LOSS_DIFFERS = """
import os
loss = int.from_bytes(os.urandom(4), "little") / 2**32  # not seeded by anything: differs run to run
print("Epoch 1/1")
print("\\r 1/2 ━━━━━━━━━━ 1s 12ms/step - loss: 0.9\\b\\b\\b\\r2/2 ━━━━━━━━━━ 1s 9ms/step - loss: %.8f" % loss)
"""


@pytest.mark.slow
def test_keras_default_verbose_is_reproducible_and_says_what_was_masked(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(KERAS_DEFAULT_VERBOSE)
    p = run_seedlock(
        ["check", "--workdir", "runs", "train.py"], cwd=tmp_path, env=clean_env(KERAS_BACKEND="tensorflow")
    )
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    assert "REPRODUCIBLE" in p.stdout and "differed only in what a terminal does not show" in p.stdout
    # The twin: the raw bytes the runs printed do differ (frames, timings), so the view is what made them equal.
    outs = sorted((tmp_path / "runs").glob("*/stdout.txt"))
    assert len(outs) == 2 and outs[0].read_bytes() != outs[1].read_bytes()
    exact = run_seedlock(
        ["check", "--exact-stdout", "--json", "train.py"],
        cwd=tmp_path,
        env=clean_env(KERAS_BACKEND="tensorflow"),
    )
    result = json.loads(exact.stdout)
    assert exact.returncode == 1 and result["divergence"]["source"] == "stdout", exact.stdout[-3000:]


@pytest.mark.slow
def test_a_printed_loss_that_differs_is_still_not_reproducible(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text(PRINTED_LOSS_DIFFERS)
    p = run_seedlock(["check", "--json", "s.py"], cwd=tmp_path, env=clean_env())
    result = json.loads(p.stdout)
    assert p.returncode == 1 and not result["reproducible"], p.stdout + p.stderr[-2000:]
    div = result["divergence"]
    assert div["source"] == "stdout" and div["line"] == 2 and "loss: 0." in div["a"] and "<time>" in div["a"]


def test_only_progress_bars_are_collapsed_to_their_last_frame() -> None:
    """A value in an overwritten frame of a line that is not a progress bar still counts (it was
    hidden by the terminal view); so does a line whose width a terminal decides (tabs, wide chars)."""
    for a, b in [
        (
            "validating... val_loss 0.4123\rtraining finished           ",
            "validating... val_loss 0.4871\rtraining finished           ",
        ),
        ("ep\t1.5\rdone", "ep\t2.5\rdone"),
        ("精 0.15\rok:", "精 9.15\rok:"),
    ]:
        assert view(a) != view(b), a


def test_keras_verbose_2_and_other_tqdm_formats_are_masked() -> None:
    assert view("175/175 - 1s - 5ms/step - loss: 0.25") == view("175/175 - 0s - 3ms/step - loss: 0.25")
    assert view("64/64 - 1s - loss: 0.1 - 12ms/epoch") == view("64/64 - 0s - loss: 0.1 - 9ms/epoch")
    assert view("50it [00:01, 45.1it/s]") == view("50it [00:02, 12.0it/s]")
    assert view("5/5 [00:01<00:00, 1.23kbatch/s, loss=0.3]") == view(
        "5/5 [00:02<00:00, 9.80batch/s, loss=0.3]"
    )
    assert view("5/5 [00:01<00:00, 1.23kbatch/s, loss=0.3]") != view(
        "5/5 [00:01<00:00, 1.23kbatch/s, loss=0.4]"
    )
    assert view("ETA: 12 items") == "ETA: 12 items" and view("175/175 - 1s - acc 2") == "175/175 - 1s - acc 2"


PROGRESS = """
import sys, time
for i in range(3):
    time.sleep(0.01)
    sys.stdout.write(f"\\r{i + 1}/3 [==] {time.time_ns() % 997}ms/step - loss: 0.5".ljust(40))
print()
"""


def test_diff_compares_stdout_as_check_does(tmp_path: Path) -> None:
    """`diff` of two traces agrees with `check`: the stdout record's view digest, not the raw one."""
    (tmp_path / "prog.py").write_text(PROGRESS)
    for name in ("a.trace", "b.trace"):
        r = run_seedlock(["run", "--trace", name, "prog.py"], cwd=tmp_path, env=clean_env())
        assert r.returncode == 0, r.stderr
    same = run_seedlock(["diff", "a.trace", "b.trace"], cwd=tmp_path, env=clean_env())
    exact = run_seedlock(["diff", "--exact-stdout", "a.trace", "b.trace"], cwd=tmp_path, env=clean_env())
    assert same.returncode == 0 and same.stdout.startswith("IDENTICAL"), same.stdout
    assert exact.returncode == 1 and "field 'digest' differs" in exact.stdout  # the raw bytes do differ
