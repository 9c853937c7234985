"""What seedlock adds to each Python child of a seeded run (a torchrun rank, a spawn worker, a
subprocess): its sitecustomize seeds the child before the child's code runs.

Target (issue 16): at most +60 ms over plain python. Prints medians of interleaved runs of a
child that imports nothing heavy, measured in one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env, interleaved, wall  # noqa: E402
from seedlock.frameworks.base import Config  # noqa: E402
from seedlock.launch.env import child_env  # noqa: E402

REPS = 30


def main() -> None:
    child = [PY, "-c", "import random; random.random()"]
    plain = clean_env()
    seeded = child_env(Config(seed=0), plain, root=False)  # what a run's children get
    times = interleaved(
        {"plain python child": plain, "seeded child": seeded}, REPS, lambda env: wall(child, env)
    )
    base = times["plain python child"]
    print(f"child interpreter start-up, median of {REPS} interleaved runs")
    for name, t in times.items():
        print(f"  {name:<22} {t * 1000:7.1f} ms   + {(t - base) * 1000:6.1f} ms   x{t / base:.2f}")
    extra = (times["seeded child"] - base) * 1000
    print(f"cost per child: +{extra:.1f} ms (target <= +60 ms): {'OK' if extra <= 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
