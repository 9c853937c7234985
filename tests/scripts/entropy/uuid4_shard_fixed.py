"""uuid4_shard.py with the half picked by a generator seeded from the master seed."""

import random

import numpy as np

import seedlock

shard = random.Random(seedlock.derive("shard")).getrandbits(1)  # which half this run trains on
x = np.linspace(0.0, 1.0, 16)[shard::2]
w = 0.0
for xi in x:
    w -= 0.1 * (w - xi)
print("w", repr(w))
