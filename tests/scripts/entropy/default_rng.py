import numpy as np

rng = np.random.default_rng()
print(rng.normal(size=3).tolist())
