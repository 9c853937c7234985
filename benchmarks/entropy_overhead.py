"""The runtime entropy record's cost (issue 18; target <= 2 %): `seedlock run` start-up, and a small
Keras fit, with the record on (as every run of `seedlock check` has it) and off.

The record is switched on by `$SEEDLOCK_ENTROPY` (the file `check` gives each run), so the two
configurations differ in that one variable. A third, "mirrored", adds `$SEEDLOCK_DRAWS` as check's
run 2 has it (audit.draws: the user's draws from a keyed stream, mirrored); 20,000 `uuid4()` calls
from the script's own line time one draw in each. Prints medians of interleaved runs, measured in one run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env, interleaved, reported, wall  # noqa: E402

STARTUP_REPS = 30
FIT_REPS = 5
FIT = """
import time
import numpy as np
import keras

x = np.random.normal(size=(2048, 32)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
t = time.perf_counter()
model.fit(x, y, epochs=5, batch_size=32, verbose=0)
print("fit:", time.perf_counter() - t)
"""
DRAWS = 20_000
UUIDS = f"""
import time
import uuid

t = time.perf_counter()
for _ in range({DRAWS}):
    uuid.uuid4()
print("draws:", time.perf_counter() - t)
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp, "hello.py")
        hello.write_text("import random\nprint(random.random())\n")
        fit = Path(tmp, "fit.py")
        fit.write_text(FIT)
        uuids = Path(tmp, "uuids.py")
        uuids.write_text(UUIDS)
        # Byte code cached (in a folder of its own) as on a user's machine: a module compiled on
        # every start would be measured, not the record.
        cache = {"PYTHONPYCACHEPREFIX": str(Path(tmp, "pycache")), "PYTHONDONTWRITEBYTECODE": ""}
        off = clean_env(**cache)
        on = clean_env(SEEDLOCK_ENTROPY=str(Path(tmp, "entropy.jsonl")), **cache)
        mirrored = clean_env(
            SEEDLOCK_ENTROPY=str(Path(tmp, "entropy.jsonl")), SEEDLOCK_DRAWS="b3nch:1:", **cache
        )
        for env in (off, on, mirrored):
            env.pop("PYTHONDONTWRITEBYTECODE")
        run = [str(Path(PY).with_name("seedlock")), "run"]
        for env in (off, on):  # warm: byte code written, files in the page cache
            wall([*run, str(hello)], env)
            wall([*run, str(fit)], env)
        three = {"off": off, "on": on, "mirrored": mirrored}
        start = interleaved(three, STARTUP_REPS, lambda env: wall([*run, str(hello)], env))
        per_draw = interleaved(three, FIT_REPS, lambda env: reported([*run, str(uuids)], env, "draws"))
        whole = interleaved({"off": off, "on": on}, FIT_REPS, lambda env: wall([*run, str(fit)], env))
        fits = interleaved(
            {"off": off, "on": on}, FIT_REPS, lambda env: reported([*run, str(fit)], env, "fit")
        )
    rows = [
        (f"`seedlock run` start-up (median of {STARTUP_REPS})", start),
        (f"Keras script, whole process (median of {FIT_REPS})", whole),
        (f"Keras `fit`, 5 epochs x 64 batches (median of {FIT_REPS})", fits),
    ]
    worst = 0.0
    for name, med in rows:
        ratio = med["on"] / med["off"]
        worst = max(worst, ratio)
        print(f"  {name:<50} off {med['off'] * 1000:8.1f} ms   on {med['on'] * 1000:8.1f} ms   x{ratio:.4f}")
    print(
        f"  start-up mirrored (check's run 2): {start['mirrored'] * 1000:.1f} ms, x{start['mirrored'] / start['off']:.4f}"
        " of off"
    )
    us = {name: t / DRAWS * 1e6 for name, t in per_draw.items()}
    print(
        f"  one uuid4() from the script (median of {FIT_REPS}): off {us['off']:.2f} us, recorded {us['on']:.2f} us,"
        f" mirrored {us['mirrored']:.2f} us"
    )
    print(f"worst ratio x{worst:.4f} (target <= x1.02): {'OK' if worst <= 1.02 else 'MISSED'}")


if __name__ == "__main__":
    main()
