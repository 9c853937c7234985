"""What does a rank's trace cost a DDP job per batch? `seedlock run --trace` against `seedlock run`.

Usage: python benchmarks/ddp_trace_overhead.py [--reps 5] [--batches 100] [--batch 128]

Runs ``benchmarks/ddp_bench_train.py`` (an MLP 784-1024-256-10, 1,068,810 parameters, Adam,
batch 128 per rank) with torchrun, 2 ranks, gloo on CPU, ``OMP_NUM_THREADS=1``, as

* plain ``python -m torch.distributed.run`` (for reference),
* ``seedlock run --seed 1 -m torch.distributed.run ...`` (untraced),
* ``seedlock run --seed 1 --trace FILE -m torch.distributed.run ...`` (each rank writes
  ``FILE.rankN.jsonl``: parameter and gradient digests at every optimizer step, as ``check``
  runs it),

interleaved ``--reps`` times. Each rank times its training loop only (after warm-up batches and a
barrier: no start-up, no exit fingerprint), and rank 0 prints ms per batch. Traced ranks also time
the trace's optimizer hook itself, per step. Target (issue 16): < 5 % per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env  # noqa: E402

TRAIN = str(Path(__file__).with_name("ddp_bench_train.py"))
TARGET = 5.0  # % per batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_job(seedlock: list[str] | None, train_args: list[str], out: str) -> dict[str, Any]:
    """One torchrun job; rank 0's JSON line. ``seedlock``: the `seedlock run` options, None: plain."""
    torchrun = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port())]
    cmd = (
        [PY, *torchrun[0:2]] if seedlock is None else [PY, "-m", "seedlock", "run", *seedlock, *torchrun[0:2]]
    )
    cmd += [*torchrun[2:], TRAIN, *train_args]
    env = clean_env(OMP_NUM_THREADS="1")
    job = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out,
        start_new_session=True,
    )
    try:
        stdout, stderr = job.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)  # the ranks too, not only the launcher
        raise SystemExit(f"{' '.join(cmd)} hung for 300 s") from None
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if job.returncode or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed ({job.returncode}):\n{stdout}\n{stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="interleaved runs of each configuration")
    parser.add_argument("--batches", type=int, default=100, help="timed batches per run")
    parser.add_argument("--batch", type=int, default=128, help="samples per rank per batch")
    args = parser.parse_args()
    train_args = ["--batches", str(args.batches), "--batch", str(args.batch)]

    with tempfile.TemporaryDirectory() as out:
        configs: dict[str, Any] = {
            "torchrun, no seedlock": lambda i: None,
            "seedlock run": lambda i: ["--seed", "1"],
            "seedlock run --trace": lambda i: ["--seed", "1", "--trace", os.path.join(out, f"t{i}.jsonl")],
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
        for i in range(args.reps):  # interleaved: a busy moment on the machine hurts all alike
            for name, options in configs.items():
                runs[name].append(run_job(options(i), train_args, out))
                print(
                    f"  rep {i + 1}/{args.reps} {name:<22} {runs[name][-1]['ms_per_batch']:7.2f} ms/batch",
                    flush=True,
                )
            traced = sorted(Path(out).glob(f"t{i}.rank*.jsonl"))
            if len(traced) != 2:
                raise SystemExit(f"expected 2 rank traces, found {[p.name for p in traced]}")

    first = runs["torchrun, no seedlock"][0]
    print(
        f"\nDDP, 2 ranks (gloo, CPU, {first['threads']} thread each), MLP {first['params']:,} parameters, "
        f"batch {first['batch']} per rank, {first['batches']} timed batches; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; medians of {args.reps} interleaved runs, rank 0's loop"
    )
    base = statistics.median(r["ms_per_batch"] for r in runs["seedlock run"])
    for name, rs in runs.items():
        ms = statistics.median(r["ms_per_batch"] for r in rs)
        med = statistics.median(r["median_batch_ms"] for r in rs)
        print(
            f"  {name:<22} {ms:7.2f} ms/batch (median batch {med:6.2f} ms)  x{ms / base:.3f} vs seedlock run"
        )
    pairs = [
        t["ms_per_batch"] / u["ms_per_batch"]
        for t, u in zip(runs["seedlock run --trace"], runs["seedlock run"], strict=True)
    ]
    hook = statistics.median(r["hook_ms"] for r in runs["seedlock run --trace"])
    traced_ms = statistics.median(r["ms_per_batch"] for r in runs["seedlock run --trace"])
    ratio = statistics.median(pairs)
    print(
        f"traced / untraced per batch, run by run: {', '.join(f'{p:.3f}' for p in pairs)}; median {ratio:.3f}"
    )
    print(
        f"inside the trace's optimizer hook (rank 0): {hook:.2f} ms/step = "
        f"{100 * hook / (traced_ms - hook):.2f} % of the rest of the traced batch"
    )
    overhead = 100 * (ratio - 1)
    print(
        f"trace overhead per batch: {overhead:+.2f} % (target < {TARGET:.0f} %): {'OK' if overhead < TARGET else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
