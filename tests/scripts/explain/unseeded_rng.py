"""Draws from a NumPy generator made without a seed: fresh OS entropy in every run, unless
seedlock's --strict derives it from the master seed."""

import numpy as np

print(np.random.default_rng().random(3))
