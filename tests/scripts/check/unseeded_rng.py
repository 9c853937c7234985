import numpy as np

rng = np.random.default_rng()  # OS entropy: seeding cannot reach it
print(rng.standard_normal(3).tolist())
