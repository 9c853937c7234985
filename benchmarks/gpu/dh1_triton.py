"""A hand-written Triton kernel for ``dh1``: the candidate to beat the compiled torch kernels.

The torch kernels that ``torch.compile`` makes (``seedlock.fingerprint.dh1_torch``) hash 4 GB in
about 3.4 ms on an H100, where the target is 3 ms and one read takes 1.3 ms. They are bound by
integer work, and they do some that this kernel does not: torch has no uint32 arithmetic, so
each logical shift there is an arithmetic shift and a mask. Here every lane is uint32, with
logical shifts, and the 4 lane sums of a block go out as one row of partial sums.

Not used by seedlock yet: ``dh1_variants.py`` times it beside the compiled kernels on a GPU and
checks that it gives the same digest; if it is faster there, ``_devicehash_torch`` takes it.
Without a GPU it runs in Triton's interpreter (``TRITON_INTERPRET=1``, set before triton is
imported), which is how ``tests/test_devicehash.py`` checks it against NumPy where triton is
installed.

    lanes_fns()  # -> (row function, 1-D function) in the shape _devicehash_torch's kernels take

    TRITON_INTERPRET=1 python benchmarks/gpu/dh1_triton.py   # CPU: lanes and digests against NumPy
    python benchmarks/gpu/dh1_triton.py                      # the same on the GPU, compiled
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import triton
import triton.language as tl

from seedlock.fingerprint.devicehash import _A, _M, _N1, _N2, _SH

BLOCK = 4096  # words per program
NUM_WARPS = 8


@triton.jit
def _lane(
    w,
    j,
    off,
    m: tl.constexpr,
    a: tl.constexpr,
    n1: tl.constexpr,
    n2: tl.constexpr,  # noqa: ANN001, ANN202
    s0: tl.constexpr,
    s1: tl.constexpr,
    s2: tl.constexpr,
):
    x = w * tl.full([], m, tl.uint32) + j * tl.full([], a, tl.uint32) + off
    x = (x ^ (x >> s0)) * tl.full([], n1, tl.uint32)
    x = (x ^ (x >> s1)) * tl.full([], n2, tl.uint32)
    return x ^ (x >> s2)


@triton.jit
def _dh1_partials(
    w_ptr,
    off_ptr,
    out_ptr,
    n,  # noqa: ANN001, ANN201
    m0: tl.constexpr,
    m1: tl.constexpr,
    m2: tl.constexpr,
    m3: tl.constexpr,
    a0: tl.constexpr,
    a1: tl.constexpr,
    a2: tl.constexpr,
    a3: tl.constexpr,
    p0: tl.constexpr,
    p1: tl.constexpr,
    p2: tl.constexpr,
    p3: tl.constexpr,
    q0: tl.constexpr,
    q1: tl.constexpr,
    q2: tl.constexpr,
    q3: tl.constexpr,
    s0: tl.constexpr,
    s1: tl.constexpr,
    s2: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Row ``pid`` of ``out``: the 4 lane sums (mod 2**32) of words [pid*BLOCK, (pid+1)*BLOCK)."""
    pid = tl.program_id(0)
    idx = pid * BLOCK + tl.arange(0, BLOCK)  # int32: a chunk holds at most 2**30 words
    mask = idx < n
    w = tl.load(w_ptr + idx, mask=mask, other=0).to(tl.uint32, bitcast=True)
    j = idx.to(tl.uint32)
    zero = tl.zeros([BLOCK], tl.uint32)
    # the chunk's per-lane offsets: row 0 of _off_tensor
    x0 = tl.where(
        mask, _lane(w, j, tl.load(off_ptr + 0).to(tl.uint32, bitcast=True), m0, a0, p0, q0, s0, s1, s2), zero
    )
    x1 = tl.where(
        mask, _lane(w, j, tl.load(off_ptr + 1).to(tl.uint32, bitcast=True), m1, a1, p1, q1, s0, s1, s2), zero
    )
    x2 = tl.where(
        mask, _lane(w, j, tl.load(off_ptr + 2).to(tl.uint32, bitcast=True), m2, a2, p2, q2, s0, s1, s2), zero
    )
    x3 = tl.where(
        mask, _lane(w, j, tl.load(off_ptr + 3).to(tl.uint32, bitcast=True), m3, a3, p3, q3, s0, s1, s2), zero
    )
    tl.store(out_ptr + pid * 4 + 0, tl.sum(x0, axis=0).to(tl.int32, bitcast=True))
    tl.store(out_ptr + pid * 4 + 1, tl.sum(x1, axis=0).to(tl.int32, bitcast=True))
    tl.store(out_ptr + pid * 4 + 2, tl.sum(x2, axis=0).to(tl.int32, bitcast=True))
    tl.store(out_ptr + pid * 4 + 3, tl.sum(x3, axis=0).to(tl.int32, bitcast=True))


def partials(words: Any, off: Any, block: int = BLOCK, num_warps: int = NUM_WARPS) -> Any:
    """int32[programs, 4] whose column sums (mod 2**32) are the lanes of int32 ``words``,
    ``off`` from ``_devicehash_torch._off_tensor`` (row 0: the chunk's offsets)."""
    import torch

    n = words.numel()
    programs = triton.cdiv(n, block)
    out = torch.empty((max(programs, 1), 4), dtype=torch.int32, device=words.device)
    if n == 0:
        return out.zero_()
    consts = dict(zip(("m0", "m1", "m2", "m3"), _M, strict=True)) | dict(
        zip(("a0", "a1", "a2", "a3"), _A, strict=True)
    )
    consts |= dict(zip(("p0", "p1", "p2", "p3"), _N1, strict=True)) | dict(
        zip(("q0", "q1", "q2", "q3"), _N2, strict=True)
    )
    consts |= dict(zip(("s0", "s1", "s2"), _SH, strict=True))
    _dh1_partials[(programs,)](words, off.contiguous(), out, n, **consts, BLOCK=block, num_warps=num_warps)
    return out


def lanes_fns(
    block: int = BLOCK, num_warps: int = NUM_WARPS
) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]:
    """(row function, 1-D function) as ``_devicehash_torch._compiled_fns`` returns them."""

    def rows(w: Any, off: Any) -> Any:
        return partials(w, off, block, num_warps)

    def flat(w: Any, off: Any) -> Any:
        return partials(w, off, block, num_warps).sum(0)  # torch sums int32 into int64: exact

    return rows, flat


def check() -> int:
    """Lanes of odd sizes and offsets, alone and split as ``torch_digest`` splits a tensor,
    against NumPy (on the GPU if there is one; in the interpreter, small blocks keep it quick)."""
    import numpy as np
    import torch

    from seedlock.fingerprint import devicehash as dh
    from seedlock.fingerprint import dh1_torch as dht

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    block, warps = (BLOCK, NUM_WARPS) if dev == "cuda" else (256, 1)
    rng = np.random.default_rng(0)
    bad = 0
    for n in (1, 2, 3, block - 1, block, block + 1, 5 * block + 3):
        a = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        for base in (0, 12345, 2**32 - 8 * block):
            got = partials(
                torch.from_numpy(a.view(np.int32)).to(dev), dht._off_tensor(base, dev), block, warps
            )
            bad += dht._sum_lanes([got]) != dh._np_lanes(a, base)
    fns = lanes_fns(block, warps)
    for n in (2 * dht._ROW, 3 * dht._ROW + 5, 1 << 18):  # whole rows and a rest, as torch_digest splits them
        t = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).to(dev)
        parts = dht._torch_chunk_lanes(t.view(torch.int32), 0, fns)
        bad += dht._sum_lanes(parts) != dh._np_lanes(t.cpu().numpy().view(np.uint32), 0)
    print(f"dh1 triton kernel ({dev}): {'all agree with numpy' if not bad else f'{bad} MISMATCHES'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(check())
