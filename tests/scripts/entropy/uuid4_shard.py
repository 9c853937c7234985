"""Each run trains on the half of the data a uuid picks: one bit of OS entropy reaches the result.
Two plain draws pick the same half in one pair of runs in two; check's runs draw mirror images."""

import uuid

import numpy as np

shard = uuid.uuid4().int % 2  # which half this run trains on
x = np.linspace(0.0, 1.0, 16)[shard::2]
w = 0.0
for xi in x:
    w -= 0.1 * (w - xi)
print("w", repr(w))
