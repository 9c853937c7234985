"""Sums floats in the order a pool of threads finishes them: as many threads as torch is given
(torch.get_num_threads(), what OMP_NUM_THREADS and --threads set), as a thread pool's reduction
does. With one thread the order, and the sums, are fixed; with several it is the scheduler's.

The running sum is logged every 500 values, as a loop logs its loss. The final sum alone takes
one of a few values: 30 quiet 2-thread runs gave 6 sums, one of them 11 times (two runs alike in
1 pair of 5, all four runs of `check --runs 4` alike about once in 50). The logged sums hold
every stretch of the order: 30 of 30 runs differed, quiet and on a loaded machine alike."""

import threading
import time

import torch

values = [(-1) ** i * 10.0 ** (i % 17) / (i + 1) for i in range(4000)]
n = torch.get_num_threads()
done: list[float] = []
lock = threading.Lock()


def work(part: list[float]) -> None:
    for v in part:
        with lock:
            done.append(v)
        time.sleep(0)  # yield the GIL, as a native pool thread would run alongside


threads = [threading.Thread(target=work, args=(values[i::n],)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
total = 0.0
logged: list[float] = []
for k, v in enumerate(done, 1):
    total += v
    if k % 500 == 0:
        logged.append(total)
print("logged", logged)
print(f"sum {total!r}")
