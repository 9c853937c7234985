import random
import uuid

import seedlock

ids = random.Random(seedlock.derive("ids"))
records = {uuid.UUID(int=ids.getrandbits(128), version=4): w for w in [1e16, 1.0, -1e16, 1.0, 3.0, 0.5, 2.0, -7.0]}
total = 0.0
for key in sorted(records):
    total += records[key]
print(repr(total), [records[k] for k in sorted(records)])
