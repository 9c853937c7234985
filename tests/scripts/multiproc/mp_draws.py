"""Three multiprocessing workers (spawn, forkserver or fork: argv[1]) each draw from NumPy's
global RNG and Python's random; the parent prints what each drew, in worker order."""

import multiprocessing as mp
import random
import sys

import numpy as np


def work(queue, i):
    queue.put((i, float(np.random.rand()), random.random()))


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1] if len(sys.argv) > 1 else "spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=work, args=(queue, i)) for i in range(3)]
    for p in procs:
        p.start()
    drawn = sorted(queue.get() for _ in procs)
    for p in procs:
        p.join()
    for i, a, b in drawn:
        print(f"worker {i}: {a!r} {b!r}")
