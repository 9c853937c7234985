"""A torch training loop of 100,000 optimizer steps of about 10 ms each (~17 minutes), as a long
job is. ``diverge``: a weight is nudged by OS entropy before step 3, so two runs part there.
``PIDFILE``: each process appends its pid there (to show that none outlives check)."""

import os
import sys
import time

import torch
from torch import nn

if len(sys.argv) > 2:
    with open(sys.argv[2], "a") as f:
        f.write(f"{os.getpid()}\n")
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 8)
y = x.sum(1, keepdim=True)
for step in range(1, 100_001):
    if step == 3 and sys.argv[1:2] == ["diverge"]:
        with torch.no_grad():
            model[0].weight[0, 0] += int.from_bytes(os.urandom(2), "little") * 1e-6
    opt.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    time.sleep(0.01)  # the rest of a real step's work
    if step % 10_000 == 0:
        print(f"step {step}", flush=True)
print("done")
