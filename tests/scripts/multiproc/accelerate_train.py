"""A 2-process Hugging Face Accelerate job as users write it, for `accelerate launch --multi_gpu
--num_processes 2` on CPU: Accelerator(cpu=True) (gloo), accelerator.prepare of the model, the
optimizer and a shuffled DataLoader, dropout, data from the global RNG, and no seeding of its own.
The main process prints every process's weights' digest.

wait_for_everyone and free_memory before end_training: without free_memory, the DDP-wrapped model
holds gloo's process group until the interpreter shuts down, and a rank aborted there ("terminate
called without an active exception", SIGABRT, no Python frame) in 3 of ~60 launches here, plain
ones too; with it, 0 of 32 (torch 2.13, accelerate 1.16, 4 launches at a time on 2 CPUs)."""

import hashlib

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

accelerator = Accelerator(cpu=True)
x = torch.randn(64, 8)
y = x.sum(1, keepdim=True)
model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
model.train()
for _epoch in range(2):
    for xb, yb in loader:
        optimizer.zero_grad()
        accelerator.backward(nn.functional.mse_loss(model(xb), yb))
        optimizer.step()
weights = b"".join(p.detach().numpy().tobytes() for p in accelerator.unwrap_model(model).parameters())
digests = gather_object([hashlib.sha256(weights).hexdigest()[:16]])
if accelerator.is_main_process:
    print(accelerator.distributed_type, accelerator.num_processes, "digests", *digests, flush=True)
accelerator.wait_for_everyone()
model, optimizer, loader = accelerator.free_memory(model, optimizer, loader)
accelerator.end_training()
