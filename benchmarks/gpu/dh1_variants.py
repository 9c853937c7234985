"""Time the compiled ``dh1`` kernels' variants on 1e9 float32 on CUDA: row width x accumulator.

    python benchmarks/gpu/dh1_variants.py [--numel N]

Then the hand-written Triton kernel of ``dh1_triton.py``, per block size and warp count. Every
variant must give the same digest (printed); the fastest one is the candidate for
``seedlock.fingerprint.dh1_torch``'s ``_ROW`` and ``_SUM_DTYPE``, or to replace its kernels with
the Triton one. Prints "skipped: no CUDA" without a GPU.
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--numel", type=int, default=1_000_000_000)
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA")
        return 0
    from fingerprint_gpu import cuda_ms  # its neighbour here: the same timer for every number

    from seedlock.fingerprint import devicehash as dh
    from seedlock.fingerprint import dh1_torch as dht

    t = torch.randn(args.numel, device="cuda", generator=torch.Generator(device="cuda").manual_seed(0))
    digests = set()
    for acc in ("int32", "int64"):
        for row in (1 << 10, 1 << 12, 1 << 14, 1 << 16):
            dht._SUM_DTYPE, dht._ROW = acc, row
            dht._compiled.clear()
            digests.add(dh.torch_digest(t))  # compiles
            print(f"acc {acc} row {row:6d}: {cuda_ms(lambda: dh.torch_digest(t), 10):6.2f} ms", flush=True)
    try:  # the hand-written candidate (dh1_triton.py), plugged in where the compiled kernels go
        import dh1_triton
    except Exception as exc:  # no triton: the compiled kernels' numbers stand alone
        print(f"triton kernel: skipped ({type(exc).__name__}: {exc})")
    else:
        dht._SUM_DTYPE, dht._ROW = "int32", 1 << 12
        for block in (1024, 4096, 8192):
            for warps in (4, 8):
                dht._compiled.clear()
                dht._compiled[(str(t.device), dht._SUM_DTYPE)] = dh1_triton.lanes_fns(block, warps)
                try:
                    digests.add(dht.torch_digest(t))  # compiles
                except Exception as exc:  # a Triton compile error: say it, keep the numbers above
                    print(
                        f"triton block {block} warps {warps}: FAILED ({type(exc).__name__}: {str(exc)[:800]})"
                    )
                    dht._compiled.clear()
                    return 1
                ms = cuda_ms(lambda: dht.torch_digest(t), 10)
                print(f"triton block {block:5d} warps {warps}: {ms:6.2f} ms", flush=True)
        dht._compiled.clear()
    print("digests:", digests, "(one: all variants agree)" if len(digests) == 1 else "DISAGREE")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
