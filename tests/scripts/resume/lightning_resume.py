"""Lightning: Trainer.fit for 4 epochs, ModelCheckpoint keeping ckpts/last.ckpt, resumed with
fit(ckpt_path=...) when it is there. DataLoader shuffle, dropout and a validation loader, no RNG
handling of its own. STOP_AFTER_EPOCH=K exits once epoch K's checkpoint is written (a
preemption). Prints a sha256 of the final weights' raw bytes."""

import hashlib
import os
import sys

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

stop_after = int(os.environ.get("STOP_AFTER_EPOCH", "-1"))


class Regressor(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class Preempt(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if stop_after >= 0 and trainer.current_epoch == stop_after + 1:  # epoch K's checkpoint is on disk by now
            sys.exit(3)


x = torch.linspace(-1, 1, 64 * 8).reshape(64, 8)
y = x.sum(dim=1, keepdim=True).sin()
data = TensorDataset(x, y)
trainer = L.Trainer(
    max_epochs=4,
    accelerator="cpu",
    logger=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    callbacks=[ModelCheckpoint(dirpath="ckpts", save_last=True), Preempt()],
)
model = Regressor()
last = "ckpts/last.ckpt"
trainer.fit(
    model,
    DataLoader(data, batch_size=8, shuffle=True),
    DataLoader(data, batch_size=16),
    ckpt_path=last if os.path.exists(last) else None,
)
weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
print("weights", hashlib.sha256(weights).hexdigest())
