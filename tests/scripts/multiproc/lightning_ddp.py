"""Lightning DDP on 2 CPU processes, as users write it: Lightning starts rank 1 itself (a fresh
interpreter running this script again), data from the global RNG, dropout, no seeding."""

import hashlib

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class M(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

x = torch.randn(64, 8)
y = x.sum(1, keepdim=True)
model = M()
trainer = L.Trainer(
    strategy="ddp",
    devices=2,
    accelerator="cpu",
    max_epochs=2,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
)
trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True))
if trainer.global_rank == 0:
    w = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    print("weights", hashlib.sha256(w).hexdigest()[:16], flush=True)
# Lightning leaves gloo's process group up until the interpreter exits, where torch 2.13's gloo
# aborted a rank now and then ("terminate called without an active exception", SIGABRT: 2 of 48
# runs here, one of them rank 0, exit code 134): both ranks tear it down together, as
# ddp_train.py does.
trainer.strategy.barrier()
torch.distributed.destroy_process_group()
