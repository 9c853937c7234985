"""The JAX implementation of :mod:`seedlock.fingerprint.devicehash`'s ``dh1`` (see there for the algorithm).

uint32 throughout, JAX's default 32-bit mode; XLA fuses bit casts, mixing and the wrapping
sums into one pass on any backend.

>>> import numpy as np, jax.numpy as jnp
>>> from seedlock.fingerprint.devicehash import numpy_digest
>>> jax_digest(jnp.arange(5, dtype=jnp.int8)) == numpy_digest(np.arange(5, dtype=np.int8))
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from seedlock.fingerprint.dh1 import _A, _M, _MASK, _N1, _N2, _SH, LANES, _finish, _offsets

_PIECE_BYTES = 1 << 33  # larger arrays are sliced (a copy in JAX); n_words stays < 2**32
_BUCKET_MAX = 1 << 22  # elements: below this, pad to a power of two (see jax_digest)


def _bits(x: Any) -> Any:
    """A flat array's bits as unsigned ints of the same width, in memory order. Exact: no float
    op touches the values (XLA may quiet NaN payloads in float ops, even in a pad)."""
    import jax
    import jax.numpy as jnp

    if jnp.iscomplexobj(x):  # bitcast refuses complex: real and imaginary parts, interleaved as in memory
        x = jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1).reshape(-1)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint8)  # NumPy and torch store bools as 0/1 bytes
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}[x.dtype.itemsize]
    return x if x.dtype == unsigned else jax.lax.bitcast_convert_type(x, unsigned)


def _words(x: Any) -> Any:
    """uint32 little-endian words of a flat array's bytes, the tail padded with zeros."""
    import jax
    import jax.numpy as jnp

    u32 = jnp.uint32
    bits = _bits(x)
    size = bits.dtype.itemsize
    if size >= 4:
        return jax.lax.bitcast_convert_type(bits, u32).reshape(-1)  # 8-byte items: [low word, high word]
    per = 4 // size  # 1- and 2-byte items: assemble words with shifts, explicitly little-endian
    parts = jnp.pad(bits.astype(u32), (0, -bits.shape[0] % per)).reshape(-1, per)
    word = parts[:, 0]
    for i in range(1, per):
        word = word | (parts[:, i] << u32(8 * size * i))
    return word


def _lanes_impl(x: Any, off: Any, n_words: Any) -> Any:
    import jax
    import jax.numpy as jnp

    u32 = jnp.uint32
    w = _words(x)
    j = jax.lax.iota(u32, w.shape[0])
    valid = j < n_words  # words past n_words are bucket padding, not data
    sums = []
    for k in range(LANES):
        h = w * u32(_M[k]) + j * u32(_A[k]) + off[k]
        for shift, mul in ((_SH[0], _N1[k]), (_SH[1], _N2[k])):
            h = (h ^ (h >> u32(shift))) * u32(mul)
        h = h ^ (h >> u32(_SH[2]))
        sums.append(jnp.sum(jnp.where(valid, h, u32(0)), dtype=u32))  # uint32 sums wrap: exact mod 2**32
    return jnp.stack(sums)


@functools.cache
def _padder() -> Callable[[Any, int], Any]:
    """Bits padded with zeros to ``size`` items: a tiny program per shape, compiled ~5x faster
    than the lanes, which then run at a power-of-two size."""
    import jax

    def pad(x: Any, size: int) -> Any:
        bits = _bits(x)
        return jax.lax.pad(bits, bits.dtype.type(0), [(0, size - bits.shape[0], 0)])

    return jax.jit(pad, static_argnums=1)


@functools.cache
def _lanes() -> Callable[[Any, Any, Any], Any]:
    import jax

    return jax.jit(_lanes_impl)  # one XLA program per (padded size, dtype); the rest is traced


def jax_digest(x: Any) -> str:
    """``seedlock.fingerprint.devicehash.jax_digest``: one jitted XLA program per dtype and power-of-two
    size below 4M elements, else per size."""
    import jax
    import jax.numpy as jnp

    if not isinstance(x, jax.Array):
        arr = np.asarray(x)
        if arr.dtype.itemsize == 8 and not jax.config.read("jax_enable_x64") and arr.dtype.kind in "fiuc":
            raise TypeError(
                f"a {arr.dtype} array would become 32-bit in JAX without jax_enable_x64; "
                "use numpy_digest for host arrays"
            )
        x = jnp.asarray(arr)
    flat = x.reshape(-1)
    itemsize = np.dtype(x.dtype).itemsize
    per_piece = _PIECE_BYTES // itemsize  # pieces of 2**31 words: aligned, positions fit uint32
    pieces = []
    for i in range(0, flat.shape[0], per_piece):
        piece = flat[i : i + per_piece] if flat.shape[0] > per_piece else flat
        n_words = -(-piece.shape[0] * itemsize // 4)
        if piece.shape[0] < _BUCKET_MAX:  # a model's many small shapes share a few lane programs
            items = piece.shape[0] * (2 if jnp.iscomplexobj(piece) else 1)  # complex: 2 parts each
            piece = _padder()(piece, max(256, 1 << (items - 1).bit_length()))
        off = jnp.asarray(np.array(_offsets(i * itemsize // 4), np.uint32))
        pieces.append(_lanes()(piece, off, np.uint32(n_words)))  # dispatched asynchronously
    lanes = [0] * LANES
    for p in pieces:
        lanes = [(a + int(b)) & _MASK for a, b in zip(lanes, np.asarray(p).tolist(), strict=True)]
    return _finish(np.dtype(x.dtype).name, tuple(x.shape), flat.shape[0] * itemsize, lanes)
