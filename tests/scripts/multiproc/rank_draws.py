"""Each rank of a 2-rank gloo job draws 8 bytes of OS entropy; rank 0 prints every rank's, as JSON.
tests/test_distributed.py launches it with check's $SEEDLOCK_DRAWS: the ranks are matched across
runs (run 2 draws the mirror image of run 1's, rank by rank), never equal to each other."""

import json
import os

import torch.distributed as dist

dist.init_process_group("gloo")
drawn = [None] * dist.get_world_size()
dist.all_gather_object(drawn, os.urandom(8).hex())
if dist.get_rank() == 0:
    print(json.dumps(drawn), flush=True)
dist.barrier()
dist.destroy_process_group()
