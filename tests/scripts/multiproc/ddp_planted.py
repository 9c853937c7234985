"""ddp_train.py with a nondeterminism planted on rank 1 alone: at optimizer step 3, after the
gradients are averaged, rank 1 nudges one weight by an amount from OS entropy. The ranks part
there, on rank 1; rank 0 follows at step 4, through the next average.

Before destroy_process_group, the script frees its DDP wrapper and the barrier lets both ranks
tear down together: torch 2.13's gloo otherwise aborts a rank now and then at exit ("terminate
called without an active exception", SIGABRT; plain torchrun too). The wrapper's reducer holds the
process group, so destroy_process_group alone leaves it to interpreter shutdown: 6 of 40 launches
under load aborted with the barrier alone, 0 of 50 with the wrapper freed first."""

import gc
import hashlib
import os

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
step = 0
for epoch in range(2):
    sampler.set_epoch(epoch)
    for xb, yb in loader:
        opt.zero_grad()
        nn.functional.mse_loss(ddp(xb), yb).backward()
        step += 1
        if rank == 1 and step == 3:  # planted
            with torch.no_grad():
                model[0].weight[0, 0] += (1 + int.from_bytes(os.urandom(2), "little")) * 1e-6
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
