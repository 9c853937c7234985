import numpy as np

import seedlock

np.random.seed(seedlock.derive("init"))
print(np.random.normal(size=3).tolist())
