"""`seedlock repeat`'s fork-server against the ideal and against starting Python per seed.

30 seeds of seed 002's MLP (examples/seed002_mlp.py), 2 at a time, measured in one run:

* ideal limit: one import of the script's frameworks + 30 fits / 2 workers, with the import and
  the fit (the script's body once its imports are done) timed in a fresh process here;
* ``seedlock repeat`` (fork-server, with its trace, fingerprints, metrics, store and its one cold
  verification run);
* a sequential shell loop of ``python script.py``;
* ``xargs -P2`` of ``python script.py``.

Targets: repeat/limit <= 1.15, loop/repeat >= 3. Takes a few minutes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "seed002_mlp.py"
SEEDS, WORKERS = 30, 2

# The script's imports, then the script (its imports are cached by then): how long each takes.
PROBE = """
import runpy, sys, time
t0 = time.perf_counter()
import keras, numpy
t1 = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="__main__")
t2 = time.perf_counter()
print(f"IMPORT {t1 - t0} FIT {t2 - t1}", file=sys.stderr)
"""


def timed(cmd: list[str] | str, env: dict[str, str], cwd: Path, shell: bool = False) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def probe(env: dict[str, str]) -> tuple[float, float]:
    err = subprocess.run([PY, "-c", PROBE, str(SCRIPT)], env=env, check=True, capture_output=True, text=True).stderr
    words = err.split("IMPORT ")[1].split()
    return float(words[0]), float(words[2])


def main() -> None:
    env = clean_env()
    seedlock_bin = str(Path(PY).with_name("seedlock"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        probes = [probe(env) for _ in range(3)]
        t_import = statistics.median(p[0] for p in probes)
        t_fit = statistics.median(p[1] for p in probes)
        ideal = t_import + SEEDS * t_fit / WORKERS
        repeat = timed([seedlock_bin, "repeat", str(SCRIPT), "--seeds", str(SEEDS), "--workers", str(WORKERS),
                        "--store", str(work / "bench.db")], env, work)
        xargs = timed(f"seq {SEEDS} | xargs -P{WORKERS} -I{{}} {PY} {SCRIPT}", env, work, shell=True)
        loop = timed(f"for s in $(seq {SEEDS}); do {PY} {SCRIPT}; done", env, work, shell=True)
    print(f"{SEEDS} seeds of {SCRIPT.name}, {WORKERS} workers (import {t_import:.2f} s, fit {t_fit:.2f} s: "
          "medians of 3 probes)")
    for name, t in [("ideal limit (1 import + 30 fits / 2)", ideal), ("seedlock repeat (fork-server)", repeat),
                    ("xargs -P2 python script.py", xargs), ("shell loop of python script.py", loop)]:
        print(f"  {name:<40} {t:8.1f} s")
    ratios = [("repeat / limit", repeat / ideal, "<= 1.15", repeat / ideal <= 1.15),
              ("loop / repeat", loop / repeat, ">= 3", loop / repeat >= 3),
              ("xargs / repeat", xargs / repeat, "", True)]
    for name, value, target, ok in ratios:
        verdict = f"(target {target}: {'OK' if ok else 'MISSED'})" if target else ""
        print(f"  {name:<16} {value:6.2f}  {verdict}")


if __name__ == "__main__":
    main()
