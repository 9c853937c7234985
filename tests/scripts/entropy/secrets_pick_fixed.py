import random

import seedlock

pick = random.Random(seedlock.derive("pick"))
print([pick.randrange(1000) for _ in range(4)])
