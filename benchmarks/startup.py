"""`seedlock run` start-up over `python script.py`, for a script that imports nothing heavy.

Target (issue 2): at most +100 ms. Prints medians of interleaved runs, measured in one run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env, interleaved, wall  # noqa: E402

REPS = 30


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "hello.py")
        script.write_text("import random\nprint(random.random())\n")
        env = clean_env()
        seedlock_bin = str(Path(PY).with_name("seedlock"))
        configs = {
            "python script.py": [PY, str(script)],
            "seedlock run script.py": [seedlock_bin, "run", str(script)],
            "python -m seedlock run script.py": [PY, "-m", "seedlock", "run", str(script)],
            # a repeated option is left to click's parser: what every run cost before the fast path
            "... parsed by click": [seedlock_bin, "run", *["--granularity", "epoch"] * 2, str(script)],
        }
        med = interleaved(configs, REPS, lambda cmd: wall(cmd, env))
    base = med["python script.py"]
    print(f"start-up, median of {REPS} interleaved runs")
    for name, t in med.items():
        print(f"  {name:<34} {t * 1000:7.1f} ms   +{(t - base) * 1000:6.1f} ms   x{t / base:.2f}")
    over = (med["seedlock run script.py"] - base) * 1000
    print(
        f"overhead of `seedlock run`: +{over:.1f} ms (target <= +100 ms): {'OK' if over <= 100 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
