"""What carrying the RNG state costs a checkpoint (issue 17): with torch, NumPy and Python's
random imported, the time the torch seam adds to a ``torch.save`` to a path (take the state,
write the side file atomically) and to a ``torch.load`` (read and check it, restore), on CPU.

Target: at most 5 ms each. Prints medians over REPS; also the bare ``rng_state()`` and
``restore_rng_state()`` and a small checkpoint's own save/load, for scale.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

import seedlock
from seedlock.resume import sidefile

REPS = 200


def median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm
    samples = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    seedlock.seed_everything(0)
    random.random(), np.random.rand(), torch.rand(1)  # every stream in use
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ckpt.pt")
        torch.save(model.state_dict(), path)  # unpatched: this process is not under seedlock run
        state = seedlock.rng_state()
        rows = {
            "rng_state()": median_ms(seedlock.rng_state),
            "restore_rng_state(state)": median_ms(lambda: seedlock.restore_rng_state(state)),
            "save: side file (state + atomic write)": median_ms(lambda: sidefile.write(path)),
            "load: side file (read + check + restore)": median_ms(lambda: sidefile.restore(path)),
            "for scale: torch.save of the checkpoint": median_ms(
                lambda: torch.save(model.state_dict(), path)
            ),
            "for scale: torch.load of the checkpoint": median_ms(lambda: torch.load(path)),
        }
        size = os.path.getsize(sidefile.path_for(path))
    print(
        f"RNG state in a checkpoint (torch, numpy, random imported), median of {REPS}; side file {size} bytes"
    )
    for name, ms in rows.items():
        print(f"  {name:<44} {ms:7.3f} ms")
    worst = max(
        rows["save: side file (state + atomic write)"], rows["load: side file (read + check + restore)"]
    )
    print(f"seam cost per save/load: <= {worst:.2f} ms (target <= 5 ms): {'OK' if worst <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
