import random
import sys
import time

if sys.argv[1:] == ["clock"]:  # not taken unless asked: its clock seed never runs
    random.seed(int(time.time() // 86400))  # a day: runs 1.5 s apart agree
else:
    random.seed(1234)
print(random.random())
