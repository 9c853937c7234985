"""A torch training script written as users write them: 4 epochs, a checkpoint in ./ckpt.pt after
each, resumed from it on start when it is there; shuffled DataLoader, dropout, SGD with momentum,
no RNG handling of its own. ``--no-optimizer`` leaves the optimizer's state out of the checkpoint.
``--own-rng`` saves and restores torch's RNG state itself. ``--no-save`` never saves a checkpoint;
``--crash-on-resume`` fails when it finds one."""

import os
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

x = torch.linspace(-1, 1, 32 * 8).reshape(32, 8)
y = x.sum(dim=1, keepdim=True).sin()
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)

start = 0
if os.path.exists("ckpt.pt"):
    if "--crash-on-resume" in sys.argv:
        raise RuntimeError("ckpt.pt is from an older version of this script")
    checkpoint = torch.load("ckpt.pt")
    model.load_state_dict(checkpoint["model"])
    if "optimizer" in checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if "rng" in checkpoint:
        torch.set_rng_state(checkpoint["rng"])
    start = checkpoint["epoch"] + 1
    print(f"resumed after epoch {checkpoint['epoch']}")

for epoch in range(start, 4):
    for xb, yb in loader:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(xb), yb).backward()
        optimizer.step()
    state = {"model": model.state_dict(), "epoch": epoch}
    if "--no-optimizer" not in sys.argv:
        state["optimizer"] = optimizer.state_dict()
    if "--own-rng" in sys.argv:
        state["rng"] = torch.get_rng_state()
    if "--no-save" not in sys.argv:
        torch.save(state, "ckpt.pt")
    print(f"epoch {epoch} done")
