"""Determinism overhead on a small CPU conv net: `seedlock run` vs plain seeding (target <= +10 %),
with the seeds' one-thread recipe beside it. Times the fit only; configs interleaved; one run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env, interleaved, reported  # noqa: E402

NET = str(Path(__file__).with_name("conv_net.py"))
REPS = 5


def main() -> None:
    env = clean_env()
    configs = {
        "plain, seeded (keras.utils.set_random_seed)": [PY, NET, "--seeded"],
        "seedlock run (op determinism on)": [PY, "-m", "seedlock", "run", NET],
        "seedlock run --no-deterministic": [PY, "-m", "seedlock", "run", "--no-deterministic", NET],
        "seeds' recipe: seeded + 1 thread": [PY, NET, "--seeded", "--one-thread"],
    }
    med = interleaved(configs, REPS, lambda cmd: reported(cmd, env, "fit_seconds"))
    base = med["plain, seeded (keras.utils.set_random_seed)"]
    print(f"conv net fit time, median of {REPS} interleaved runs")
    for name, t in med.items():
        print(f"  {name:<46} {t:6.2f} s   {100 * (t / base - 1):+6.1f} %")
    over = 100 * (med["seedlock run (op determinism on)"] / base - 1)
    print(
        f"determinism overhead of `seedlock run`: {over:+.1f} % (target <= +10 %): {'OK' if over <= 10 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
