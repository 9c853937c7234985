import os
import random
import tempfile
import uuid

run_id = uuid.uuid4().hex  # names this run's log file only: no result holds it
random.seed(0)
with open(os.path.join(tempfile.gettempdir(), f"seedlock-test-{run_id}.log"), "w") as log:
    log.write("started\n")
os.remove(log.name)
print(sum(random.random() for _ in range(1000)))
