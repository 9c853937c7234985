"""``dh1``'s constants and lane arithmetic, shared by the NumPy reference and the torch and JAX
kernels (:mod:`seedlock.fingerprint.devicehash` describes the algorithm).

>>> algorithm_of(PREFIX + "00ff"), LANES
('dh1', 4)
"""

from __future__ import annotations

from collections.abc import Iterator

import xxhash

ALGORITHM = "dh1"
PREFIX = ALGORITHM + ":"
HOST_ALGORITHM = "xxh3_128"  # what seedlock.fingerprint writes: bare hex, no prefix
LANES = 4
_MASK = 0xFFFFFFFF
_TAG = b"seedlock.devicehash.dh1\0"  # part of the algorithm: fixed, not the module path

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

# Words per step of the NumPy reference: its scratch stays in L2. A power of two, as every
# chunk size is, so that no chunk crosses a multiple of 2**32 words.
_NP_CHUNK = 1 << 16


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
