import random
import uuid

run_id = uuid.uuid4().hex  # names this run's log entries only: no result holds it
log = {run_id: ["started"]}
random.seed(0)
result = sum(random.random() for _ in range(1000))
log[run_id].append(f"result {result}")
print(result, len(log[run_id]))
