import random
import sys
import time

if sys.argv[1:] == ["clock"]:  # not taken unless asked: its clock seed never runs
    random.seed(int(time.time() // 3600))
else:
    random.seed(1234)
print(random.random())
