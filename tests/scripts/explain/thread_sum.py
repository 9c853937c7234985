"""Sums floats in the order a pool of threads finishes them: as many threads as torch is given
(torch.get_num_threads(), what OMP_NUM_THREADS and --threads set), as a thread pool's reduction
does. With one thread the order, and the sum, is fixed; with several it is the scheduler's."""

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
for v in done:
    total += v
print(f"sum {total!r}")
