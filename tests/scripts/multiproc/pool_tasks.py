"""TASKS tasks (default 8, at least WORKERS) in a process pool (KIND: pool or executor) of WORKERS
spawned workers, which wait for one another before the first task (a barrier in the pool's
initializer): without it the first worker up runs every quick task before the others have
started, the same in every run, and the runs match by luck.

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


def ready(barrier) -> None:
    barrier.wait()  # every worker is up: the tasks go to whichever takes them first


def reseeding(item: tuple[int, int]) -> float:
    i, base = item
    np.random.seed(base + i)  # the task seeds its worker's RNG itself: independent of the worker
    return float(np.random.random())


if __name__ == "__main__":
    kind, mode, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tasks = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    ctx = get_context("spawn")
    start = {"initializer": ready, "initargs": (ctx.Barrier(workers),)}
    base = int(np.random.randint(0, 2**31))
    if mode == "worker":
        fn, items = from_worker, list(range(tasks))
    else:
        fn = {"task": from_task, "reseed": reseeding, "mixed": mixed}[mode]
        items = [(i, base) for i in range(tasks)]
    if kind == "pool":
        with ctx.Pool(workers, **start) as pool:
            out = pool.map(fn, items, chunksize=1)
    else:
        with ProcessPoolExecutor(workers, mp_context=ctx, **start) as ex:
            out = list(ex.map(fn, items))
    print(" ".join(f"{x:.10f}" for x in out))
