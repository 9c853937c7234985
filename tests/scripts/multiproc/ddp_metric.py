"""A 2-rank gloo DDP job (dropout, shuffled DistributedSampler, no seeding) whose every rank logs
its last local loss with seedlock.log_metric, as a user logging from every rank would. Rank 0
prints the weights' digest (equal on every rank: DDP averages the gradients)."""

import hashlib

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import seedlock

dist.init_process_group("gloo")
rank = dist.get_rank()
x = torch.randn(64, 8)
y = x.sum(1, keepdim=True)
model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
ddp = nn.parallel.DistributedDataParallel(model)
data = TensorDataset(x, y)
sampler = DistributedSampler(data, shuffle=True)
loader = DataLoader(data, batch_size=8, sampler=sampler)
opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
for epoch in range(2):
    sampler.set_epoch(epoch)
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.mse_loss(ddp(xb), yb)
        loss.backward()
        opt.step()
seedlock.log_metric("loss", loss.item())  # every rank: its own shard's loss
if rank == 0:
    weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    print("weights", hashlib.sha256(weights).hexdigest()[:16], flush=True)
dist.barrier()
dist.destroy_process_group()
