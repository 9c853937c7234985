"""Floats summed in thread-completion order: the sum depends on which thread finishes first."""

import random
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
    for fut in as_completed([pool.submit(work, v) for v in values]):
        order.append(fut.result())
        total += fut.result()
print(order, total)
