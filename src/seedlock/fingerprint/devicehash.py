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
:func:`numpy_digest` (the reference), :func:`torch_digest` (any device, in
:mod:`seedlock.fingerprint.dh1_torch`; on CUDA, ``torch.compile``-d kernels for large tensors;
logical shifts are arithmetic shifts plus a mask) and :func:`jax_digest` (uint32 ``jnp``, fused
by XLA, in :mod:`seedlock.fingerprint.dh1_jax`). Per word that is ~16 integer multiply-adds and ~28
other integer ops: on an H100, 4 GB take ~3.4 ms with either, against 1.3 ms to read them once
(BENCHMARKS.md): the integer work, not HBM, is the bound.

Which digest where: on the host the default stays xxh3_128 (:mod:`seedlock.fingerprint`),
which hashes at about twice the speed of a memory copy; ``dh1`` on a CPU runs at a fraction
of that (~0.5 GB/s on one core). On a device, ``dh1`` reads the weights once from HBM
(~3 TB/s) instead of copying them over PCIe (~25 GB/s) to hash them on the host: that is what
:func:`seedlock.fingerprint.fingerprint` does by default (``algorithm="auto"``) for a torch
tensor or JAX array on an accelerator.

A digest names its algorithm: ``"dh1:<32 hex>"`` here, bare hex for xxh3_128
(:func:`algorithm_of`). Digests of different algorithms do not compare as strings: the side
that holds the bytes (a CPU trace's ``values`` sidecar, a live model) recomputes with the
other side's algorithm (:func:`seedlock.fingerprint.digest_as`), so a GPU trace compares correctly with a CPU trace.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from seedlock.fingerprint.dh1 import (
    _A,
    _M,
    _MASK,
    _N1,
    _N2,
    _NP_CHUNK,
    _SH,
    ALGORITHM,
    LANES,
    PREFIX,
    _finish,
    _offsets,
    _spans,
    algorithm_of,
)

__all__ = [
    "ALGORITHM",
    "PREFIX",
    "algorithm_of",
    "device_digest",
    "jax_digest",
    "numpy_digest",
    "torch_digest",
]

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


# --- torch: any device; the code is in seedlock.fingerprint.dh1_torch ---------------------------


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
    from seedlock.fingerprint import dh1_torch as _devicehash_torch

    return _devicehash_torch.torch_digest(t, compile)


# --- JAX: uint32 throughout (JAX's default 32-bit mode); the code is in seedlock.fingerprint.dh1_jax


def jax_digest(x: Any) -> str:
    """The ``dh1`` digest of a JAX array, computed on its own device by a jitted XLA program
    (compiled once per dtype and power-of-two size below 4M elements, else once per size;
    ~0.1 s each, then cached). Equal to :func:`numpy_digest` of the same bytes:

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(7, dtype=jnp.bfloat16)
    >>> jax_digest(x) == numpy_digest(np.asarray(x))        # np.asarray: an ml_dtypes bfloat16 array
    True
    """
    from seedlock.fingerprint import dh1_jax as _devicehash_jax

    return _devicehash_jax.jax_digest(x)


# --- dispatch ------------------------------------------------------------------------------


def device_digest(obj: Any) -> str:
    """The ``dh1`` digest of one tensor, computed where it lives: NumPy arrays and Python
    scalars on the host, torch tensors and JAX arrays on their device, a Keras variable through
    its backend tensor, a :class:`seedlock.fingerprint.Leaf` from its bytes (a ``DeviceLeaf``
    from its tensor). No framework is imported: types are recognised by module, as
    :mod:`seedlock.fingerprint.leaves` does.

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
    if (
        "seedlock" in roots and hasattr(obj, "tensor") and hasattr(obj, "device")
    ):  # a DeviceLeaf: not .data, a copy
        return device_digest(obj.tensor)
    if "seedlock" in roots and all(hasattr(obj, a) for a in ("data", "dtype", "shape")):  # a Leaf
        return numpy_digest(obj.data, dtype=obj.dtype, shape=obj.shape)
    raise TypeError(
        f"device_digest takes one tensor (NumPy, torch, JAX, Keras variable), not {type(obj).__name__}"
    )
