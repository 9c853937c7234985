"""`seedlock repeat`'s fork-server against the ideal and against starting Python per seed.

30 seeds of seed 002's MLP (examples/seed002_mlp.py), 2 at a time, measured in one run:

* ideal limit: one import of the script's frameworks + 30 fits / 2 workers, with the import and
  the fit (the script's body once its imports are done) timed in a fresh process, just before and
  just after the ``repeat`` run (medians), so that the limit and ``repeat`` see the same machine;
* ``seedlock repeat`` (fork-server, with its trace, fingerprints, metrics, store and its one cold
  verification run);
* ``xargs -P2`` of ``python script.py``;
* a sequential shell loop of ``python script.py``.

Also measured, because on this 2-core machine two Keras fits at once each run ~1.4x slower than
one alone, which the limit above does not allow for:

* the *zero-overhead executor*: two processes started at once, each imports once and then runs
  the script 15 times in a loop (runpy, no isolation, no seeding, nothing recorded): 30 fits,
  2 at a time, with nothing but the fits. No executor with 2 workers can beat it here, so
  ``repeat`` / this is seedlock's own cost;
* the limit with the fit time of two fits run at once (probes), the same idea from single fits;
* pure-Python work alone and two at once: the 2 cores are real (ratio ~1), so the slowdown is
  the fits' own (TensorFlow's threads and memory), not a missing core;
* the same comparison in CPU time (user + sys of every process), which other jobs on the
  machine disturb far less than wall-clock time.

Targets: repeat/limit <= 1.15 (and repeat/zero-overhead executor <= 1.15), loop/repeat >= 3.
Takes about 12 minutes.
"""

from __future__ import annotations

import resource
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
t0, c0 = time.perf_counter(), time.process_time()
import keras, numpy
t1, c1 = time.perf_counter(), time.process_time()
runpy.run_path(sys.argv[1], run_name="__main__")
t2, c2 = time.perf_counter(), time.process_time()
print(f"IMPORT {t1 - t0} FIT {t2 - t1} CPU {c1 - c0} {c2 - c1}", file=sys.stderr)
"""


# The zero-overhead executor: one import, then the script N times in this process.
LOOP = """
import runpy, sys
import keras, numpy
for _ in range(int(sys.argv[2])):
    runpy.run_path(sys.argv[1], run_name="__main__")
    keras.backend.clear_session()  # each fit starts as a fresh process's would
"""
SPIN = "import time\nt = time.perf_counter()\nx = 0\nfor i in range(20_000_000): x += i * i\nprint(time.perf_counter() - t)"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every descendant waited for, trials included
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str] | str, env: dict[str, str], cwd: Path, shell: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of a command and all its processes."""
    t, c = time.perf_counter(), _cpu()
    subprocess.run(
        cmd, env=env, cwd=cwd, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - t, _cpu() - c


def probes(env: dict[str, str], at_once: int) -> list[tuple[float, float, float, float]]:
    """(import, fit, import CPU, fit CPU) seconds of ``at_once`` probe processes started together."""
    procs = [
        subprocess.Popen(
            [PY, "-c", PROBE, str(SCRIPT)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(at_once)
    ]
    out = []
    for p in procs:
        words = p.communicate()[1].split("IMPORT ")[1].split()
        out.append((float(words[0]), float(words[2]), float(words[4]), float(words[5])))
    return out


def zero_overhead(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) of WORKERS looping processes sharing the SEEDS fits."""
    t, c = time.perf_counter(), _cpu()
    procs = [
        subprocess.Popen(
            [PY, "-c", LOOP, str(SCRIPT), str(SEEDS // WORKERS)],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    if any(p.wait() for p in procs):
        raise SystemExit("the zero-overhead loop failed")
    return time.perf_counter() - t, _cpu() - c


def spin(at_once: int) -> float:
    """Median seconds of a pure-Python loop, ``at_once`` processes started together."""
    procs = [
        subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
        for _ in range(at_once)
    ]
    return statistics.median(float(p.communicate()[0]) for p in procs)


def main() -> None:
    env = clean_env()
    seedlock_bin = str(Path(PY).with_name("seedlock"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        alone = probes(env, 1) + probes(env, 1)
        paired = probes(env, WORKERS)
        repeat_run = timed(
            [
                seedlock_bin,
                "repeat",
                "--seeds",
                str(SEEDS),
                "--workers",
                str(WORKERS),
                "--store",
                str(work / "bench.db"),
                str(SCRIPT),
            ],
            env,
            work,
        )
        alone += probes(env, 1) + probes(env, 1)
        paired += probes(env, WORKERS)
        zero_run = zero_overhead(env, work)
        spin1, spin2 = spin(1), spin(WORKERS)
        xargs_run = timed(f"seq {SEEDS} | xargs -P{WORKERS} -I{{}} {PY} {SCRIPT}", env, work, shell=True)
        loop_run = timed(f"for s in $(seq {SEEDS}); do {PY} {SCRIPT}; done", env, work, shell=True)
    (repeat, repeat_cpu), (xargs, xargs_cpu), (loop, loop_cpu) = repeat_run, xargs_run, loop_run
    zero, zero_cpu = zero_run
    t_import, t_fit, c_import, c_fit = (statistics.median(p[i] for p in alone) for i in range(4))
    t_fit2 = statistics.median(p[1] for p in paired)
    ideal = t_import + SEEDS * t_fit / WORKERS
    ideal2 = t_import + SEEDS * t_fit2 / WORKERS
    ideal_cpu = c_import + SEEDS * c_fit
    print(
        f"{SEEDS} seeds of {SCRIPT.name}, {WORKERS} workers: import {t_import:.2f} s, fit {t_fit:.2f} s alone, "
        f"{t_fit2:.2f} s two at once (medians of 4 probes, before and after the repeat run)"
    )
    print(
        f"pure-Python loop: {spin1:.2f} s alone, {spin2:.2f} s two at once ({spin2 / spin1:.2f}x: the cores are "
        f"real); Keras fit two at once: {t_fit2 / t_fit:.2f}x"
    )
    for name, t in [
        (f"ideal limit (1 import + {SEEDS} fits / {WORKERS})", ideal),
        ("  same, fits timed two at once", ideal2),
        (f"zero-overhead executor ({WORKERS} loops of {SEEDS // WORKERS})", zero),
        ("seedlock repeat (fork-server)", repeat),
        (f"xargs -P{WORKERS} python script.py", xargs),
        ("shell loop of python script.py", loop),
    ]:
        print(f"  {name:<42} {t:8.1f} s")
    ratios = [
        ("repeat / limit", repeat / ideal, "<= 1.15", repeat / ideal <= 1.15),
        ("  zero-overhead executor / limit", zero / ideal, "", True),
        ("repeat / zero-overhead executor", repeat / zero, "<= 1.15", repeat / zero <= 1.15),
        ("repeat / limit (two at once)", repeat / ideal2, "", True),
        ("loop / repeat", loop / repeat, ">= 3", loop / repeat >= 3),
        ("xargs / repeat", xargs / repeat, "", True),
    ]
    for name, value, target, ok in ratios:
        verdict = f"(target {target}: {'OK' if ok else 'MISSED'})" if target else ""
        print(f"  {name:<34} {value:6.2f}  {verdict}")
    print(f"CPU time (user + sys, all processes): import {c_import:.2f} s, fit {c_fit:.2f} s")
    for name, t in [
        (f"ideal (1 import + {SEEDS} fits)", ideal_cpu),
        ("zero-overhead executor", zero_cpu),
        ("seedlock repeat", repeat_cpu),
        (f"xargs -P{WORKERS}", xargs_cpu),
        ("shell loop", loop_cpu),
    ]:
        print(f"  {name:<42} {t:8.1f} s")
    print(
        f"  repeat / ideal {repeat_cpu / ideal_cpu:6.2f}   loop / repeat {loop_cpu / repeat_cpu:6.2f}   "
        f"xargs / repeat {xargs_cpu / repeat_cpu:6.2f}"
    )


if __name__ == "__main__":
    main()
