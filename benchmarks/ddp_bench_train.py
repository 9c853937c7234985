"""The DDP job `ddp_trace_overhead.py` times, one rank of it (for torchrun): gloo on CPU, an MLP,
Adam, random data made in the rank. Only the training loop is timed (time.perf_counter, after
warm-up batches and a barrier); rank 0 prints one JSON line with both ranks' times.

Usage: torchrun --nproc-per-node 2 benchmarks/ddp_bench_train.py [--batches 100] [--batch 128]

When seedlock's optimizer hook is installed (``seedlock run --trace``), the time spent inside it
is measured too, per step (``hook_ms``): what the trace costs a batch, measured directly.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

SIZES = (784, 1024, 256, 10)  # benchmarks/trace_overhead.py's MLP: 1,068,810 parameters
# Per rank: mean and median ms per batch, ms inside the hook per step.
NAMES = ("ms_per_batch", "median_batch_ms", "hook_ms")
in_hook = [0.0, 0]  # seconds inside seedlock's optimizer hook, calls


def time_the_hook() -> bool:
    """Wrap seedlock's optimizer hook (if this rank is traced) in a timer; True if it is."""
    hooks = sys.modules.get("seedlock.trace.torch_hooks")
    instrument = sys.modules.get("seedlock.trace.instrument")
    if hooks is None or instrument is None or instrument._torch_hook is None:
        return False
    original = hooks.OptimizerHook.__call__

    def timed(self: Any, *args: Any) -> None:
        start = time.perf_counter()
        try:
            original(self, *args)
        finally:
            in_hook[0] += time.perf_counter() - start
            in_hook[1] += 1

    hooks.OptimizerHook.__call__ = timed  # the hook object is called through its class
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100, help="timed batches")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches first")
    parser.add_argument("--batch", type=int, default=128, help="samples per rank per batch")
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    layers: list[nn.Module] = []
    for a, b in zip(SIZES, SIZES[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    n = args.warmup + args.batches
    x = torch.randn(n, args.batch, SIZES[0])
    y = torch.randint(0, SIZES[-1], (n, args.batch))
    traced = time_the_hook()

    def step(i: int) -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(ddp(x[i]), y[i]).backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    in_hook[:] = [0.0, 0]
    dist.barrier()
    per_batch = []
    start = time.perf_counter()
    for i in range(args.warmup, n):
        t = time.perf_counter()
        step(i)
        per_batch.append(time.perf_counter() - t)
    loop = time.perf_counter() - start

    hook_ms = 1000 * in_hook[0] / in_hook[1] if traced and in_hook[1] else float("nan")
    mine = torch.tensor([1000 * loop / args.batches, 1000 * statistics.median(per_batch), hook_ms])
    ranks = [torch.zeros(3, dtype=mine.dtype) for _ in range(world)]
    dist.all_gather(ranks, mine)
    if rank == 0:
        times = [
            {k: None if v != v else v for k, v in zip(NAMES, t.tolist(), strict=True)}  # NaN: none
            for t in ranks
        ]
        report = {
            **times[0],
            "ranks": times,
            "batches": args.batches,
            "batch": args.batch,
            "params": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads(),
            "traced": traced,
        }
        print(json.dumps(report), flush=True)
    # Free the DDP wrapper while the process group is up: its reducer holds the group, and freed
    # as main() returned, two traced runs here deadlocked (the main thread held the GIL in the
    # group's destructor, joining gloo's worker thread, which needed the GIL to free its last
    # works); others aborted (docs/distributed.md). The barrier: both ranks tear down together.
    del step
    ddp = opt = None  # type: ignore[assignment]  # step's closure shares these cells
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
