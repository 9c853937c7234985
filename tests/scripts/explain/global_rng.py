"""Draws from NumPy's global RNG, unseeded: seedlock's seeding makes it reproducible."""

import numpy as np

print(np.random.rand(3))
