"""A 2-rank gloo DDP job (dropout, shuffled DistributedSampler, no seeding) whose every rank logs
its last local loss with seedlock.log_metric, as a user logging from every rank would. Rank 0
prints the weights' digest (equal on every rank: DDP averages the gradients).

Before destroy_process_group, the script frees its DDP wrapper and the barrier lets both ranks
tear down together: torch 2.13's gloo otherwise aborts a rank now and then at exit ("terminate
called without an active exception", SIGABRT; plain torchrun too). The wrapper's reducer holds the
process group, so destroy_process_group alone leaves it to interpreter shutdown: 6 of 40 launches
under load aborted with the barrier alone, 0 of 50 with the wrapper freed first."""

import gc
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
del ddp, opt, loss
gc.collect()  # the reducer's references to the process group go now
dist.barrier()
dist.destroy_process_group()
