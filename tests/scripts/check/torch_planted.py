"""A torch model whose module `noisy` adds OS-entropy noise from optimizer step 3 on."""

import os

import numpy as np
import torch

STEP = {"now": 0}


class Noisy(torch.nn.Linear):
    def forward(self, x):
        out = super().forward(x)
        if STEP["now"] >= 2:  # the forward of the 3rd step
            out = out + float(np.frombuffer(os.urandom(4), dtype=np.uint32)[0]) / 2**32 * 1e-3
        return out


model = torch.nn.Sequential()
model.add_module("first", torch.nn.Linear(4, 8))
model.add_module("act", torch.nn.ReLU())
model.add_module("noisy", Noisy(8, 8))
model.add_module("head", torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.linspace(-1, 1, 32).reshape(8, 4)
y = x.sum(dim=1, keepdim=True)
for step in range(5):
    STEP["now"] = step
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
print("done")
