import random
import time

t = time.perf_counter()
x = sum(random.random() for _ in range(1000))
print(f"result {x!r}")
print(f"took {time.perf_counter() - t:.9f} s")
