"""Trains 4 epochs, the way a training script is written: a checkpoint (model and optimizer) in
./ckpt.pt after each epoch, resumed from on start if it is there. DataLoader shuffle and dropout,
no RNG handling of its own. STOP_AFTER_EPOCH=K exits after epoch K's checkpoint (a preemption).
Prints a sha256 of the final weights' raw bytes."""

import hashlib
import os
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 4
stop_after = int(os.environ.get("STOP_AFTER_EPOCH", "-1"))

x = torch.linspace(-1, 1, 64 * 8).reshape(64, 8)
y = x.sum(dim=1, keepdim=True).sin()
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)

start = 0
if os.path.exists("ckpt.pt"):
    checkpoint = torch.load("ckpt.pt")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    start = checkpoint["epoch"] + 1
    print(f"resumed after epoch {checkpoint['epoch']}")

for epoch in range(start, EPOCHS):
    model.train()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, "ckpt.pt")
    print(f"epoch {epoch} loss {loss.item():.6f}")
    if epoch == stop_after:
        sys.exit(3)  # preempted

weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
print("weights", hashlib.sha256(weights).hexdigest())
