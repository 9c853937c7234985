"""Two torchrun ranks; rank 1 fails with an error of its own after the rendezvous."""

import torch.distributed as dist

dist.init_process_group("gloo")
if dist.get_rank() == 1:
    raise RuntimeError("rank 1 could not read its shard")
dist.barrier()
dist.destroy_process_group()
