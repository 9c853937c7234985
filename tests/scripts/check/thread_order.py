"""Floats summed in thread-completion order: the sum depends on which thread finishes first.

Each thread first sleeps a SystemRandom jitter, a true draw of OS entropy that no result holds: it
only times the threads. `ordered`: the same threads and jitter, the results read in submission
order (the fix the order cause names)."""

import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

jitter = random.SystemRandom()
values = [1e16, 1.0, -1e16, 3.0, 1e-3, 7.0, 2.5e15, -2.5e15]


def work(v):
    time.sleep(jitter.random() * 0.01)
    return v


total = 0.0
order = []
with ThreadPoolExecutor(max_workers=8) as pool:
    futures = [pool.submit(work, v) for v in values]
    done = futures if sys.argv[1:] == ["ordered"] else as_completed(futures)
    for fut in done:
        order.append(fut.result())
        total += fut.result()
print(order, total)
