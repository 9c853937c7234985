"""The torch implementation of :mod:`seedlock.fingerprint.devicehash`'s ``dh1`` (see there for the algorithm).

Any device, in int32 arithmetic (torch has no uint32 arithmetic; multiply and add wrap). On
CUDA, tensors of 64 MB and more go through two ``torch.compile``-d kernels: fixed-width rows
reduced in parallel, and a 1-D kernel for the rest; elsewhere, and below that size, eager ops
in chunks. Equal to :func:`seedlock.fingerprint.devicehash.numpy_digest` of the same bytes:

>>> import torch
>>> from seedlock.fingerprint.devicehash import numpy_digest
>>> torch_digest(torch.arange(5, dtype=torch.int8)) == numpy_digest(torch.arange(5, dtype=torch.int8).numpy())
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from seedlock.fingerprint.dh1 import _A, _M, _MASK, _N1, _N2, _SH, LANES, _finish, _offsets, _signed, _spans

# Words per step: eager on CPU, scratch stays in L2; eager on GPU, bounds the temporaries.
# Compiled kernels have none: 2**30 keeps positions inside int32. All powers of two, so no
# chunk crosses a multiple of 2**32 words.
_TORCH_EAGER_CHUNK = {"cpu": 1 << 18, "cuda": 1 << 24}
_TORCH_COMPILED_CHUNK = 1 << 30
# The compiled kernels' lane accumulators (eager ops use int64): int32 wraps, int64 is exact,
# the same digest either way (lanes are mod 2**32). On an H100 int32 is faster: 3.4 vs
# 4.0-4.3 ms for 4 GB (benchmarks/gpu/dh1_variants.py).
_SUM_DTYPE = "int32"


def _mixed(words: Any, j: Any, off: Any, k: int) -> Any:
    """Lane ``k``'s mixed words: int32 multiply and add wrap in torch's CPU and CUDA kernels
    and in Triton (the tests and ``benchmarks/gpu/fingerprint_gpu.py``'s sweep check it against
    NumPy's uint32); ``>>`` is arithmetic on int32, so the mask makes it logical. ``A[k]``
    comes in ``off`` (a tensor), not as a constant: inductor folds a constant into the index
    arithmetic of ``j`` (``4096*A*row``) and Triton then rejects the overflowing literal."""
    x = words * _signed(_M[k]) + (j * off[1, k] + off[0, k])
    for shift, mul in ((_SH[0], _N1[k]), (_SH[1], _N2[k])):
        x = (x ^ ((x >> shift) & ((1 << (32 - shift)) - 1))) * _signed(mul)
    return x ^ ((x >> _SH[2]) & ((1 << (32 - _SH[2])) - 1))


def _torch_lanes(words: Any, off: Any, acc: str = "int64") -> Any:
    """Lane sums of int32 ``words`` (positions from 0), ``off`` from :func:`_off_tensor`,
    accumulated in ``acc`` (int64: exact; int32 wraps, which the compiled kernels may use).
    Plain tensor ops, so that ``torch.compile`` fuses them."""
    import torch

    j = torch.arange(words.shape[0], dtype=torch.int32, device=words.device)
    dtype = getattr(torch, acc)
    return torch.stack([_mixed(words, j, off, k).sum(dtype=dtype) for k in range(LANES)])


def _torch_row_lanes(words: Any, off: Any, acc: str = "int64") -> Any:
    """:func:`_torch_lanes` per row of ``_ROW`` words: ``words`` holds a multiple of ``_ROW``
    words, the result is int[rows, 4], whose column sums are the lanes. What gets compiled on
    CUDA: a reduction of a fixed length per row, rows in parallel. (Compiled over a 1-D size
    alone, inductor sized its reduction for the size it first saw, and then reduced a 4 GB
    tensor in one thread block: on an H100, 20 calls did not end within 3 minutes.)
    """
    import torch

    rows = words.shape[0] // _ROW
    j = torch.arange(rows * _ROW, dtype=torch.int32, device=words.device).view(rows, _ROW)
    dtype = getattr(torch, acc)
    w = words.view(rows, _ROW)
    return torch.stack([_mixed(w, j, off, k).sum(dim=1, dtype=dtype) for k in range(LANES)], dim=1)


_ROW = 1 << 12  # words per row of the compiled kernel; tensors under 2 rows take the 1-D kernel
# Smaller tensors take eager ops (~30 kernels, ~60 ms/GB on an H100): compiling costs seconds
# in every process, which a model of small tensors never earns back.
_COMPILE_MIN_WORDS = 1 << 24
# (row kernel, 1-D kernel) per (device, accumulator); None: compiling failed, eager ops instead
_compiled: dict[tuple[str, str], tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] | None] = {}


def _compiled_fns(device: Any) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]] | None:
    """The compiled row and 1-D lane functions for ``device``, compiled on first use (seconds)."""
    key = (str(device), _SUM_DTYPE)
    if key not in _compiled:
        import torch

        # dynamic: one kernel each for every tensor size (a model has many), no recompiles.
        acc = _SUM_DTYPE
        rows = torch.compile(lambda w, off: _torch_row_lanes(w, off, acc), dynamic=True, fullgraph=True)
        flat = torch.compile(lambda w, off: _torch_lanes(w, off, acc), dynamic=True, fullgraph=True)
        try:  # compile now (sizes 0 and 1 would be specialised), so that failure shows here
            rows(torch.zeros(3 * _ROW, dtype=torch.int32, device=device), _off_tensor(0, device))
            flat(torch.zeros(16, dtype=torch.int32, device=device), _off_tensor(0, device))
            _compiled[key] = (rows, flat)
        except Exception as exc:  # dynamo/inductor errors share no base class
            _compiled[key] = None
            warnings.warn(
                f"seedlock.fingerprint.devicehash: torch.compile failed ({type(exc).__name__}: {exc}); "
                "using eager ops (same digest, slower)",
                RuntimeWarning,
                stacklevel=3,
            )
    return _compiled[key]


def _torch_chunk_lanes(words: Any, base: int, fns: Any) -> list[Any]:
    """Device tensors whose sums are the lanes of ``words`` (at word index ``base``): eager
    ops, or with compiled ``fns`` whole rows by the row kernel and the rest by the 1-D one."""
    device = words.device
    n = words.numel()
    if fns is None or n < 2:  # eager; a 1-word tensor would make the 1-D kernel recompile
        return [_torch_lanes(words, _off_tensor(base, device))]
    full = n // _ROW * _ROW if n >= 2 * _ROW else 0
    out = [fns[0](words[:full], _off_tensor(base, device)).sum(0)] if full else []
    if n - full >= 2:
        out.append(fns[1](words[full:], _off_tensor(base + full, device)))
    elif n > full:
        out.append(_torch_lanes(words[full:], _off_tensor(base + full, device)))
    return out


def _sum_lanes(parts: list[Any]) -> list[int]:
    """The lanes (mod 2**32) of device tensors of per-lane sums, shaped [4] or [rows, 4]:
    one transfer to the host for all of them."""
    import torch

    if not parts:
        return [0] * LANES
    rows = torch.cat([p.reshape(-1, LANES).to(torch.int64) for p in parts]).tolist()
    return [sum(col) & _MASK for col in zip(*rows, strict=True)]


def _off_tensor(base: int, device: Any) -> Any:
    """int32[2, 4]: the per-lane offsets at word index ``base``, and the position multipliers A."""
    import torch

    rows = [[_signed(o) for o in _offsets(base)], [_signed(a) for a in _A]]
    return torch.tensor(rows, dtype=torch.int32, device=device)


def _torch_bytes(t: Any) -> Any:
    import torch

    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    if t.numel() == 0:  # an empty tensor may carry stride 0, which a dtype view refuses
        return torch.empty(0, dtype=torch.uint8, device=t.device)
    flat = t.contiguous().reshape(-1)  # copies only a non-contiguous tensor
    if flat.stride(0) != 1:  # one element seen through a stride counts as contiguous, but cannot be viewed
        flat = torch.empty_like(flat, memory_format=torch.contiguous_format).copy_(flat)
    return flat.view(torch.uint8)


def torch_digest(t: Any, compile: bool = True) -> str:
    """:func:`seedlock.fingerprint.devicehash.torch_digest`: the ``dh1`` digest of ``t``, on its device."""
    import torch

    raw = _torch_bytes(t)
    nbytes = raw.numel()
    body_len = nbytes // 4 * 4
    body = raw[:body_len]
    if body.storage_offset() % 4:  # an int8 slice: int32 views need 4-byte alignment
        body = body.clone()
    words = body.view(torch.int32)
    big = words.numel() >= _COMPILE_MIN_WORDS
    fns = _compiled_fns(raw.device) if compile and big and raw.device.type == "cuda" else None
    chunk = _TORCH_COMPILED_CHUNK if fns else _TORCH_EAGER_CHUNK.get(raw.device.type, 1 << 22)
    pending = []  # device tensors: one sync at the end, not one per chunk
    for start, stop in _spans(0, words.numel(), chunk):
        pending.extend(_torch_chunk_lanes(words[start:stop], start, fns))
    if nbytes > body_len:  # the tail word, padded with zeros, at index body_len // 4
        tail = torch.zeros(4, dtype=torch.uint8, device=raw.device)
        tail[: nbytes - body_len] = raw[body_len:]
        pending.append(_torch_lanes(tail.view(torch.int32), _off_tensor(body_len // 4, raw.device)))
    return _finish(str(t.dtype)[6:], tuple(t.shape), nbytes, _sum_lanes(pending))
