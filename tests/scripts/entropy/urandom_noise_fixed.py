import random

import seedlock

noise = int.from_bytes(random.Random(seedlock.derive("noise")).randbytes(8), "little")
print(noise % 1000003)
