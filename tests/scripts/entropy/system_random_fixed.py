import random

import seedlock

rng = random.Random(seedlock.derive("augment"))
print([rng.random() for _ in range(3)])
