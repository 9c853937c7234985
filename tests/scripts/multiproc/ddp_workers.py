"""Two torchrun ranks, each with a DataLoader of two workers whose dataset draws a random
augmentation per item (torch.rand), as image pipelines do. Rank 0 prints every rank's draws:
``rank R: MAIN | WORKERS``, one number the rank drew itself, then its workers' four.

With `manual` every rank calls torch.manual_seed(0) itself, as many scripts do: then the ranks'
workers share their seeds and repeat each other's augmentations (transformers #37932)."""

import sys

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset


class Augmented(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(1)  # the worker's stream: seeded by torch from the loader's base seed


if "manual" in sys.argv:
    torch.manual_seed(0)
dist.init_process_group("gloo")
rank = dist.get_rank()
loader = DataLoader(Augmented(), batch_size=1, num_workers=2)
main = f"{float(torch.rand(1)):.8f}"  # the rank's own stream, before any loader draws from it
draws = main + " | " + " ".join(f"{float(x):.8f}" for batch in loader for x in batch.flatten())
gathered = [None] * dist.get_world_size()
dist.all_gather_object(gathered, draws)
if rank == 0:
    for r, d in enumerate(gathered):
        print(f"rank {r}: {d}", flush=True)
dist.barrier()
dist.destroy_process_group()
