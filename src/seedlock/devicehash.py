"""Digests computed where a tensor lives: on the GPU, with no copy of the weights to the host.

``dh1`` is a parallel, bit-exact digest of a tensor's raw bytes. Its per-element work is
independent and its reduction is a wrapping integer sum, which is associative and
commutative, so any thread layout, chunking or reduction order gives the same bits:

>>> import numpy as np
>>> a = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> d = numpy_digest(a)
>>> d[:4], len(d)                                  # the prefix names the algorithm
('dh1:', 36)
>>> d == numpy_digest(a.copy()) == device_digest(a)
True
>>> b = a.copy(); b[1, 2] = np.nextafter(b[1, 2], np.float32(9))   # one ULP
>>> numpy_digest(b) == d
False
>>> numpy_digest(a[:, ::-1]) == d                 # same values, other places: another digest
False

The algorithm, over the C-order bytes padded with zeros to a whole number of little-endian
32-bit words ``w[i]``, in 4 independent lanes ``k`` (all arithmetic mod 2**32)::

    x   = w[i]*M[k] + lo(i)*A[k] + hi(i)*B[k] + S[k]    lo, hi: low and high 32 bits of i
    x   = fmix32(x; N1[k], N2[k])                       x^=x>>16; x*=N1; x^=x>>13; x*=N2; x^=x>>16
    L[k] = sum of x over all i

then, on the host, ``xxh3_128(tag, dtype name, shape, byte length, L[0..3])``. Each step is
a bijection of ``w`` (odd multipliers, xor-shifts), so changing any one word (one ULP) changes
every lane, always. Swaps and multi-element changes are caught by chance, not construction:
the worst measured case (two sign-bit flips) slips through one lane with p ~ 2**-27, all four
independent lanes ~ 2**-108. dtype names are NumPy's, as in :mod:`seedlock.fingerprint`.

Three implementations, bit-identical, all in 32-bit integers because JAX's default mode is:
:func:`numpy_digest` (the reference), :func:`torch_digest` (any device; on CUDA
``torch.compile`` fuses it into one elementwise+reduction pass; logical shifts are arithmetic
shifts plus a mask, one LOP3 with the xor) and :func:`jax_digest` (uint32 ``jnp``, fused by
XLA). Per word that is ~16 integer multiply-adds and ~28 other integer ops: at an H100's
integer rate, about the time its HBM takes to deliver the word.

Which digest where: on the host the default stays xxh3_128 (:mod:`seedlock.fingerprint`),
which hashes at about twice the speed of a memory copy; ``dh1`` on a CPU runs at a fraction
of that (~0.5 GB/s on one core). On a device, ``dh1`` reads the weights once from HBM
(~3 TB/s) instead of copying them over PCIe (~25 GB/s) to hash them on the host: that is what
:func:`seedlock.fingerprint.fingerprint` does by default (``algorithm="auto"``) for a torch
tensor or JAX array on an accelerator.

A digest names its algorithm: ``"dh1:<32 hex>"`` here, bare hex for xxh3_128
(:func:`algorithm_of`). Digests of different algorithms do not compare as strings: the side
that holds the bytes (a CPU trace's ``values`` sidecar, a live model) recomputes with the
other side's algorithm (:func:`digest_as`), so a GPU trace compares correctly with a CPU trace.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import xxhash

__all__ = ["ALGORITHM", "PREFIX", "algorithm_of", "device_digest", "digest_as", "jax_digest", "numpy_digest", "torch_digest"]

ALGORITHM = "dh1"
PREFIX = ALGORITHM + ":"
HOST_ALGORITHM = "xxh3_128"  # what seedlock.fingerprint writes: bare hex, no prefix
LANES = 4
_MASK = 0xFFFFFFFF
_TAG = b"seedlock.devicehash.dh1\0"

# Per-lane constants. M, N1, N2 must be odd (bijective in the word); different per lane so
# that the lanes fail independently. M: xxh32 primes; N1/N2: murmur3's fmix32, lowbias32,
# Wellons' 2022 pair and triple32's (all well-tested 32-bit mixers); S: digits of pi.
_M = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)
_A = (0x165667B1, 0xCC9E2D51, 0x1B873593, 0x2C1B3C6D)
_B = (0x297A2D39, 0x68E31DA5, 0xB5297A4D, 0x1B56C4E9)
_S = (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344)
_N1 = (0x85EBCA6B, 0x7FEB352D, 0x21F0AAAD, 0xED5AD4BB)
_N2 = (0xC2B2AE35, 0x846CA68B, 0x735A2D97, 0xAC4C1B51)
_SH = (16, 13, 16)

# Words per step. NumPy/torch on CPU: scratch stays in L2; torch eager on GPU: bounds the
# temporaries. Fused kernels have none: 2**29-30 keeps positions inside int32. All powers of
# two, so no chunk crosses a multiple of 2**32 words.
_NP_CHUNK = 1 << 16
_TORCH_EAGER_CHUNK = {"cpu": 1 << 18, "cuda": 1 << 24}
_TORCH_COMPILED_CHUNK = 1 << 30
# The compiled kernels' lane accumulators (eager ops use int64): int32 wraps, int64 is exact,
# the same digest either way (lanes are mod 2**32). On an H100 int32 is faster: 3.4 vs
# 4.0-4.3 ms for 4 GB (benchmarks/gpu/dh1_variants.py).
_SUM_DTYPE = "int32"


def _offsets(base: int) -> list[int]:
    """Per-lane ``lo*A + hi*B + S`` for word index ``base``: the chunk's position term."""
    lo, hi = base & _MASK, base >> 32
    return [(lo * _A[k] + hi * _B[k] + _S[k]) & _MASK for k in range(LANES)]


def _spans(base: int, n: int, chunk: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pieces of ``n`` words at ``base``, none longer than ``chunk`` and none
    crossing a multiple of 2**32 words (inside a piece, ``hi`` is constant)."""
    pos = 0
    while pos < n:
        step = min(chunk, n - pos, (1 << 32) - ((base + pos) & _MASK))
        yield pos, pos + step
        pos += step


def _signed(c: int) -> int:
    """A uint32 constant as the int32 with the same bits (torch has no uint32 arithmetic)."""
    return c - (1 << 32) if c >= 1 << 31 else c


def _finish(dtype: str, shape: tuple[int, ...], nbytes: int, lanes: list[int]) -> str:
    head = f"{dtype}\0{','.join(map(str, shape))}\0".encode()
    body = nbytes.to_bytes(8, "little") + b"".join((v & _MASK).to_bytes(4, "little") for v in lanes)
    return PREFIX + xxhash.xxh3_128(_TAG + head + body).hexdigest()


def algorithm_of(digest: str) -> str:
    """``"dh1"`` for a device digest, ``"xxh3_128"`` for a bare-hex host digest.

    >>> algorithm_of("dh1:00ff"), algorithm_of("9f0c")
    ('dh1', 'xxh3_128')
    """
    head, sep, _ = digest.partition(":")
    return head if sep else HOST_ALGORITHM


# --- NumPy: the reference ------------------------------------------------------------------


def _np_words(a: np.ndarray) -> tuple[np.ndarray, int]:
    """uint32 little-endian words of an array's C-order bytes (tail padded with zeros), and
    the byte length."""
    if a.dtype.hasobject:
        raise TypeError("an object array holds pointers, not values; convert it to a numeric dtype")
    if a.dtype.byteorder == ">":  # digests are over little-endian bytes, as seedlock.fingerprint's
        a = a.astype(a.dtype.newbyteorder("<"))
    raw = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    nbytes = raw.size
    if nbytes % 4:
        raw = np.concatenate([raw, np.zeros(4 - nbytes % 4, np.uint8)])
    return raw.view("<u4"), nbytes


_np_pos: dict[int, list[np.ndarray]] = {}


def _np_lanes(words: np.ndarray, base: int = 0) -> list[int]:
    """Lane sums (mod 2**32) of ``words`` placed at word index ``base``.

    Lane sums of disjoint pieces add up (mod 2**32) to the lane sums of the whole, in any order:

    >>> w = np.arange(10, dtype=np.uint32)
    >>> parts = [_np_lanes(w[6:], 6), _np_lanes(w[:6], 0)]
    >>> [sum(v) & _MASK for v in zip(*parts)] == _np_lanes(w)
    True
    """
    u32 = np.uint32
    lanes = [0] * LANES
    x = np.empty(min(_NP_CHUNK, words.size), u32)
    t = np.empty_like(x)
    for start, stop in _spans(base, words.size, _NP_CHUNK):
        n = stop - start
        w, xs, ts = words[start:stop], x[:n], t[:n]
        pos = _np_pos.get(n)
        if pos is None:  # j*A[k] per lane: the same for every full chunk, so computed once
            j = np.arange(n, dtype=u32)
            pos = [j * u32(a) for a in _A]
            if n == _NP_CHUNK:
                _np_pos[n] = pos
        for k, off in enumerate(_offsets(base + start)):
            np.multiply(w, u32(_M[k]), out=xs)
            np.add(xs, pos[k], out=xs)
            np.add(xs, u32(off), out=xs)
            for shift, mul in ((_SH[0], _N1[k]), (_SH[1], _N2[k])):
                np.right_shift(xs, u32(shift), out=ts)
                np.bitwise_xor(xs, ts, out=xs)
                np.multiply(xs, u32(mul), out=xs)
            np.right_shift(xs, u32(_SH[2]), out=ts)
            np.bitwise_xor(xs, ts, out=xs)
            lanes[k] = (lanes[k] + int(xs.sum(dtype=np.uint64))) & _MASK
    return lanes


def numpy_digest(a: Any, *, dtype: str | None = None, shape: tuple[int, ...] | None = None) -> str:
    """The ``dh1`` digest of a NumPy array (the reference implementation).

    ``dtype``/``shape`` name what raw bytes stand for: a trace's bfloat16 values are saved
    as ``uint8`` and are hashed as ``numpy_digest(raw, dtype="bfloat16", shape=(2, 3))``.

    >>> numpy_digest(np.zeros(2, np.float32)) == numpy_digest(np.zeros(2, np.int32))   # dtype counts
    False
    """
    arr = np.asarray(a)
    words, nbytes = _np_words(arr)
    name = dtype or (arr.dtype.name if arr.dtype.fields is None else str(arr.dtype))
    return _finish(name, tuple(arr.shape) if shape is None else tuple(shape), nbytes, _np_lanes(words))


# --- torch: any device; compiled into one fused kernel on CUDA ------------------------------


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
    tensor in one thread block, at ~10 s a call on an H100.)
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
            warnings.warn(f"seedlock.devicehash: torch.compile failed ({type(exc).__name__}: {exc}); "
                          "using eager ops (same digest, slower)", RuntimeWarning, stacklevel=3)
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
    """The ``dh1`` digest of a torch tensor, computed on its own device.

    On CUDA with ``compile=True``, a tensor of 64 MB or more is hashed by ``torch.compile``-d
    kernels (the first such call in a process compiles, seconds; later calls reuse them for any
    size); smaller tensors and other devices use eager ops, in chunks.
    Only 4 numbers cross to the host. Equal to :func:`numpy_digest` of the same bytes:

    >>> import torch
    >>> x = torch.arange(5, dtype=torch.bfloat16)[::2]                   # non-contiguous bfloat16
    >>> torch_digest(x) == numpy_digest(x.contiguous().view(torch.uint8).numpy(), dtype="bfloat16", shape=(3,))
    True
    """
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
    lanes = [0] * LANES
    if pending:
        rows = torch.stack([p.to(torch.int64) for p in pending]).tolist()
        lanes = [sum(col) & _MASK for col in zip(*rows, strict=True)]
    return _finish(str(t.dtype)[6:], tuple(t.shape), nbytes, lanes)


# --- JAX: uint32 throughout (JAX's default 32-bit mode); the code is in seedlock._devicehash_jax


def jax_digest(x: Any) -> str:
    """The ``dh1`` digest of a JAX array, computed on its own device by a jitted XLA program
    (compiled once per dtype and power-of-two size below 4M elements, else once per size;
    ~0.1 s each, then cached). Equal to :func:`numpy_digest` of the same bytes:

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(7, dtype=jnp.bfloat16)
    >>> jax_digest(x) == numpy_digest(np.asarray(x))        # np.asarray: an ml_dtypes bfloat16 array
    True
    """
    from seedlock import _devicehash_jax

    return _devicehash_jax.jax_digest(x)


# --- dispatch ------------------------------------------------------------------------------


def device_digest(obj: Any) -> str:
    """The ``dh1`` digest of one tensor, computed where it lives: NumPy arrays and Python
    scalars on the host, torch tensors and JAX arrays on their device, a Keras variable through
    its backend tensor, a :class:`seedlock.fingerprint.Leaf` from its bytes (a ``DeviceLeaf``
    from its tensor). No framework is imported: types are recognised by module, as
    :mod:`seedlock.leaves` does.

    >>> device_digest(np.float64(1.5)) == numpy_digest(np.array(1.5))
    True
    """
    if isinstance(obj, np.ndarray | np.generic | bool | int | float | complex):
        return numpy_digest(obj)
    roots = {c.__module__.split(".")[0] for c in type(obj).__mro__ if isinstance(c.__module__, str)}
    torch, jax, keras = (sys.modules.get(m) for m in ("torch", "jax", "keras"))
    variable: Any = getattr(keras, "Variable", ())
    if "torch" in roots and torch is not None and isinstance(obj, torch.Tensor):
        return torch_digest(obj)
    if roots & {"jax", "jaxlib"} and jax is not None and isinstance(obj, jax.Array):
        return jax_digest(obj)
    if "keras" in roots and keras is not None and isinstance(obj, variable):
        return device_digest(obj.value)
    if "seedlock" in roots and hasattr(obj, "tensor") and hasattr(obj, "device"):  # a DeviceLeaf: not .data, a copy
        return device_digest(obj.tensor)
    if "seedlock" in roots and all(hasattr(obj, a) for a in ("data", "dtype", "shape")):  # a Leaf
        return numpy_digest(obj.data, dtype=obj.dtype, shape=obj.shape)
    raise TypeError(f"device_digest takes one tensor (NumPy, torch, JAX, Keras variable), not {type(obj).__name__}")


def digest_as(algorithm: str, obj: Any) -> str:
    """``obj``'s digest by ``algorithm`` (``"dh1"`` or ``"xxh3_128"``): how a comparison of a GPU
    trace with a CPU one recomputes the side whose bytes it holds with the other side's algorithm.

    >>> a = np.ones(3, np.float32)
    >>> digest_as(algorithm_of(numpy_digest(a)), a) == numpy_digest(a)
    True
    """
    if algorithm == ALGORITHM:
        return device_digest(obj)
    if algorithm == HOST_ALGORITHM:
        from seedlock.fingerprint import tensor_digest

        return tensor_digest(obj, algorithm=HOST_ALGORITHM)  # a device tensor too: copied to the host
    raise ValueError(f"unknown digest algorithm {algorithm!r}; this seedlock knows {ALGORITHM!r} and {HOST_ALGORITHM!r}")
