"""Eight tasks in a process pool (KIND: pool or executor) of WORKERS spawned workers.

MODE worker: each task draws from its worker's global NumPy RNG, so its number depends on which
worker runs it, after which tasks. MODE task: each task draws from a generator seeded by its
own index and a base seed the main process draws, so the numbers depend on the tasks alone.
MODE reseed: each task seeds its worker's global RNG from the same, then draws from it. MODE
mixed: each task seeds NumPy's RNG but draws from Python's too, which is its worker's."""

import random
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np


def from_worker(i: int) -> float:
    return float(np.random.random())


def from_task(item: tuple[int, int]) -> float:
    i, base = item
    return float(np.random.default_rng(base + i).random())


def mixed(item: tuple[int, int]) -> float:
    i, base = item
    np.random.seed(base + i)  # seeds NumPy's RNG, then draws from Python's too: that one is the worker's
    return float(np.random.random()) + random.random()


def reseeding(item: tuple[int, int]) -> float:
    i, base = item
    np.random.seed(base + i)  # the task seeds its worker's RNG itself: independent of the worker
    return float(np.random.random())


if __name__ == "__main__":
    kind, mode, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = get_context("spawn")
    base = int(np.random.randint(0, 2**31))
    if mode == "worker":
        fn, items = from_worker, list(range(8))
    else:
        fn = {"task": from_task, "reseed": reseeding, "mixed": mixed}[mode]
        items = [(i, base) for i in range(8)]
    if kind == "pool":
        with ctx.Pool(workers) as pool:
            out = pool.map(fn, items, chunksize=1)
    else:
        with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            out = list(ex.map(fn, items))
    print(" ".join(f"{x:.10f}" for x in out))
