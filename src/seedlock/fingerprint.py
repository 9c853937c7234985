"""Bitwise fingerprints of model state: weights, optimizer state, any tensors.

Two objects have equal fingerprints exactly when they hold the same tensors, under the same
names, with the same dtype, shape and bytes. One flipped bit anywhere changes the digest,
and :meth:`Fingerprint.diff` names the tensors that changed.

>>> import numpy as np
>>> a = fingerprint({"w": np.zeros(3, np.float32), "b": np.ones(2)})
>>> a == fingerprint({"b": np.ones(2), "w": np.zeros(3, np.float32)})   # order does not matter
True
>>> b = fingerprint({"w": np.zeros(3, np.float32), "b": np.full(2, 2.0)})
>>> a.diff(b)
['b']

The digest is a Merkle construction over xxh3_128: each tensor's digest covers its dtype
name, shape and raw C-order bytes; the fingerprint's digest covers, for every tensor sorted
by name, the name and the tensor's digest. Sorting makes it independent of dict insertion
order and of module registration order, so it is stable across processes and machines.
``.tensors`` keeps the order in which tensors were found (layer order), for display.

dtype names are NumPy's (``float32``, ``bfloat16``, ``bool``), whichever framework holds the
tensor: a torch tensor and a NumPy array with the same bytes, dtype, shape and name give the
same digest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from seedlock.errors import SeedlockError
from seedlock.leaves import Leaf, UnsupportedObject, iter_leaves, leaf_of

__all__ = ["Fingerprint", "Leaf", "TensorDigest", "UnsupportedObject", "combine", "digests", "fingerprint",
           "iter_leaves", "tensor_digest"]

FORMAT = "seedlock.fingerprint/1"
_TENSOR_TAG = b"seedlock.tensor.v1\0"
_ROOT_TAG = b"seedlock.fingerprint.v1\0"
_CHUNK = 1 << 20  # bytes per block when summaries are on: hash and reduce while the block is in cache


@dataclass(frozen=True)
class TensorDigest:
    digest: str  # xxh3_128 hex over dtype, shape and bytes
    dtype: str
    shape: tuple[int, ...]
    sum: float | None = None  # None: not numeric, or summaries=False
    l2: float | None = None


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The digest of a set of named tensors. ``==`` compares digests: equal means bitwise equal.

    ``sum`` and ``l2`` (sum of all elements and Euclidean norm, float64) are for humans: equal
    bytes give equal numbers on one machine, but only the digest is a proof.

    >>> fp = fingerprint([1.0, 2.0])
    >>> list(fp.tensors), fp.sum
    (['0', '1'], 3.0)
    >>> Fingerprint.from_dict(fp.to_dict()) == fp
    True
    """

    digest: str
    tensors: Mapping[str, TensorDigest]
    sum: float | None = None
    l2: float | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        human = "" if self.sum is None else f", sum={self.sum!r}, l2={self.l2!r}"
        return f"Fingerprint({self.digest[:16]}, {len(self.tensors)} tensors{human})"

    def diff(self, other: Fingerprint) -> list[str]:
        """Names whose digest differs, then names only in ``self``, then names only in ``other``."""
        changed = [n for n, t in self.tensors.items() if n in other.tensors and other.tensors[n].digest != t.digest]
        removed = [n for n in self.tensors if n not in other.tensors]
        added = [n for n in other.tensors if n not in self.tensors]
        return changed + removed + added

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (floats may be NaN/inf, which Python's json reads back)."""
        return {
            "format": FORMAT,
            "digest": self.digest,
            "sum": self.sum,
            "l2": self.l2,
            "tensors": {
                n: {"digest": t.digest, "dtype": t.dtype, "shape": list(t.shape), "sum": t.sum, "l2": t.l2}
                for n, t in self.tensors.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """The inverse of :meth:`to_dict`; checks that the digest matches its tensors."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            tensors = {
                str(n): TensorDigest(str(t["digest"]), str(t["dtype"]), tuple(int(s) for s in t["shape"]), t.get("sum"), t.get("l2"))
                for n, t in data["tensors"].items()
            }
            digest = str(data["digest"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise SeedlockError(f"not a seedlock fingerprint ({exc}); pass what Fingerprint.to_dict() wrote") from None
        if combine({n: t.digest for n, t in tensors.items()}) != digest:
            raise SeedlockError("fingerprint digest does not match its tensors: the file was edited or corrupted")
        return cls(digest, tensors, data.get("sum"), data.get("l2"))


def fingerprint(obj: Any, *, name: str | None = None, summaries: bool = True) -> Fingerprint:
    """The bitwise fingerprint of ``obj``: a model, an optimizer, tensors, or containers of them.

    Accepts Keras 3 models and layers (weights, and optimizer variables once the optimizer is
    built, each named by its variable path), Keras 3 variables and optimizers, tf-keras models,
    ``tf.Variable``/``tf.Tensor``, torch ``nn.Module`` (``state_dict``, buffers included), torch
    optimizers (``state_dict``: per-parameter-index state and ``param_groups``), torch tensors,
    JAX arrays and pytrees, NumPy arrays, Python scalars, ``None`` and ``str``, and dicts,
    lists and tuples of all these (names from keys and indexes: ``"layer1/kernel"``, ``"0/w"``).

    Args:
        obj: what to fingerprint. No framework is imported: types are recognised by their module.
        name: prefix for every tensor name (a bare tensor is called ``name``, else ``"value"``).
        summaries: also compute each tensor's ``sum`` and ``l2``, in the same pass over memory.
            That halves throughput, to about the speed of a memory copy (0.9x on 1 GiB of
            float32, ``benchmarks/fingerprint_speed.py``); ``False`` gives the digest alone at
            hashing speed (about 2x a memory copy).

    Example:
        >>> import numpy as np
        >>> w = np.arange(4, dtype=np.float32)
        >>> fp = fingerprint({"w": w})
        >>> fp == fingerprint({"w": w.copy()})
        True
        >>> w[0] = np.nextafter(w[0], np.float32(1))           # one ULP
        >>> fp.diff(fingerprint({"w": w}))
        ['w']
    """
    tensors: dict[str, TensorDigest] = {}
    for leaf_name, leaf in iter_leaves(obj, name=name):
        tensors[leaf_name] = digest_leaf(leaf, summaries=summaries)
    total = l2sq = None
    if summaries:
        # Sorted, as the digest: the human numbers do not depend on discovery order either.
        numeric = [tensors[n] for n in sorted(tensors) if tensors[n].sum is not None]
        total = math.fsum(t.sum for t in numeric if t.sum is not None)
        l2sq = math.fsum(t.l2 * t.l2 for t in numeric if t.l2 is not None)
    return Fingerprint(
        combine({n: t.digest for n, t in tensors.items()}),
        tensors,
        total,
        None if l2sq is None else math.sqrt(l2sq),
    )


def digests(obj: Any, *, name: str | None = None) -> dict[str, str]:
    """Per-tensor digests only, in discovery order: what traces store at every step.

    >>> digests({"w": 1.0}) == {"w": fingerprint({"w": 1.0}).tensors["w"].digest}
    True
    """
    return {n: digest_leaf(leaf, summaries=False).digest for n, leaf in iter_leaves(obj, name=name)}


def tensor_digest(obj: Any) -> str:
    """The digest of one tensor (the same as its ``TensorDigest.digest`` in a fingerprint)."""
    leaf = leaf_of(obj)
    if leaf is None:  # a Keras variable, a 1-element container...
        leaves = [lf for _, lf in iter_leaves(obj)]
        if len(leaves) != 1:
            raise UnsupportedObject(f"{type(obj).__name__} is not one tensor; use digests() for models and containers")
        leaf = leaves[0]
    return digest_leaf(leaf, summaries=False).digest


def combine(tensor_digests: Mapping[str, str]) -> str:
    """The fingerprint digest from per-tensor digests: names sorted, each length-prefixed."""
    h = xxhash.xxh3_128(_ROOT_TAG)
    for n in sorted(tensor_digests):
        raw = n.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "little") + raw + bytes.fromhex(tensor_digests[n]))
    return h.hexdigest()


# --- hashing -----------------------------------------------------------------------------


def digest_leaf(leaf: Leaf, *, summaries: bool = False) -> TensorDigest:
    head = f"{leaf.dtype}\0{','.join(map(str, leaf.shape))}\0".encode()
    h = xxhash.xxh3_128(_TENSOR_TAG + head)
    raw = leaf.data.reshape(-1).view(np.uint8)  # a view: data is C-contiguous
    reduce = _reducer(leaf) if summaries else None
    if reduce is None:
        h.update(raw.data)  # a memoryview: no copy
        return TensorDigest(h.hexdigest(), leaf.dtype, leaf.shape)
    total = sq = 0.0
    for i in range(0, raw.size, _CHUNK):  # one pass over memory: hash and reduce each cached block
        block = raw[i : i + _CHUNK]
        h.update(block.data)
        s, q = reduce(block)
        total += s
        sq += q
    return TensorDigest(h.hexdigest(), leaf.dtype, leaf.shape, total, math.sqrt(sq))


_ones: dict[tuple[str, int], np.ndarray] = {}


def _dot_sum(dtype: np.dtype) -> Any:
    # BLAS dot runs at memory speed; np.sum's pairwise loop is 2.5x slower. v.v and 1.v are it.
    def reduce(block: np.ndarray) -> tuple[float, float]:
        v = block.view(dtype)
        key = (dtype.str, v.size)
        ones = _ones.get(key)
        if ones is None:
            ones = _ones[key] = np.ones(v.size, dtype)
            if len(_ones) > 16:
                _ones.clear()
        q = float(np.dot(v, v))
        if math.isinf(q):  # float32 squares overflow far below float32's max
            q = float(np.dot(v.astype(np.float64), v.astype(np.float64)))
        return float(np.dot(v, ones)), q

    return reduce


def _reducer(leaf: Leaf) -> Any:
    """A function block -> (sum, sum of squares), or None when the dtype has no such meaning."""
    if leaf.dtype == "bfloat16":
        # bfloat16 is the top half of a float32: widen by shifting the bits.
        widen = _dot_sum(np.dtype(np.float32))
        return lambda b: widen((b.view(np.uint16).astype(np.uint32) << 16).view(np.uint8))
    dt = leaf.data.dtype
    if dt.name != leaf.dtype:
        return None  # raw bytes of an exotic dtype (float8, ...)
    if dt.kind == "b":
        return lambda b: (float(np.count_nonzero(b)),) * 2
    if dt.kind == "f" and dt.itemsize in (4, 8):
        return _dot_sum(dt.newbyteorder("="))
    if dt.kind in "fiu":
        widen = _dot_sum(np.dtype(np.float64))
        return lambda b: widen(b.view(dt).astype(np.float64).view(np.uint8))
    return None
