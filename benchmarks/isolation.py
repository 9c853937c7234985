"""What the private view of the working directory costs each run of ``check`` (issue 17).

Target: building the view of a directory of 10,000 files totalling 5 GB in at most 0.5 s (its
files are links: no data is copied). The tree is made of sparse files (truncate), 100 directories
of 100 files of 512 KiB each. Prints the median of interleaved repetitions of each phase: the
snapshot check takes once before the runs (and once after), the view each run gets, and the
settling after it. Then the audit hook's cost on a Python ``open``, in a child interpreter.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env  # noqa: E402
from seedlock.launch import workspace  # noqa: E402

DIRS, FILES, SIZE = 100, 100, 512 * 1024  # 10,000 files, 5 GiB (sparse)
REPS = 9

OPENS = """
import os, sys, time
if sys.argv[1] == "hook":
    from seedlock.launch import cow
    cow.install()
open("f.txt", "w").close()
t = time.perf_counter()
for _ in range(20000):
    open("f.txt").close()
print((time.perf_counter() - t) / 20000 * 1e6)
"""


def make_tree(root: Path) -> None:
    for d in range(DIRS):
        sub = root / f"dir{d:03d}"
        sub.mkdir(parents=True)
        for f in range(FILES):
            with open(sub / f"file{f:03d}.bin", "wb") as fh:
                fh.truncate(SIZE)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="seedlock-isolation-"))
    user = base / "proj"
    try:
        make_tree(user)
        total = sum(p.stat().st_size for p in user.rglob("*.bin"))
        times: dict[str, list[float]] = {"snapshot": [], "build": [], "settle": []}
        for i in range(REPS):
            t = time.perf_counter()
            snap = workspace.snapshot(user)
            times["snapshot"].append(time.perf_counter() - t)
            t = time.perf_counter()
            view = workspace.build(base / f"run-{i}" / "view", user, snap)
            times["build"].append(time.perf_counter() - t)
            t = time.perf_counter()
            workspace.settle(view)
            times["settle"].append(time.perf_counter() - t)
            shutil.rmtree(base / f"run-{i}")
        print(f"view of {len(snap)} entries ({total / 2**30:.1f} GiB of files), median of {REPS}")
        for name, samples in times.items():
            print(f"  {name:<9} {statistics.median(samples) * 1000:7.1f} ms")
        build = statistics.median(times["build"])
        print(
            f"building one view: {build * 1000:.0f} ms (target <= 500 ms): {'OK' if build <= 0.5 else 'MISSED'}"
        )

        view = workspace.build(base / "hooked" / "view", user, workspace.snapshot(user))
        env = clean_env(**view.env(base / "hooked" / "files.txt"))
        costs = {}
        for mode in ("plain", "hook"):
            run = [PY, "-c", OPENS, mode]
            out = [
                float(
                    subprocess.run(
                        run, env=env, cwd=view.cwd, check=True, capture_output=True, text=True
                    ).stdout
                )
                for _ in range(5)
            ]
            costs[mode] = statistics.median(out)
        print(
            f"open()+close() of a file in the view: {costs['plain']:.2f} us plain, {costs['hook']:.2f} us "
            f"with the audit hook (+{costs['hook'] - costs['plain']:.2f} us)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
