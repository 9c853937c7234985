"""PyTorch with dropout and a shuffling DataLoader(num_workers=2) whose workers draw from NumPy."""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from _digest import emit


class Noisy(Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, i):
        x = np.random.rand(4).astype("float32") + i  # drawn in the worker process
        return torch.from_numpy(x), torch.tensor([float(i % 2)])


model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
loader = DataLoader(Noisy(), batch_size=8, shuffle=True, num_workers=2)
for _ in range(2):
    for xb, yb in loader:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
emit("torch", [p.detach().numpy() for p in model.state_dict().values()])
