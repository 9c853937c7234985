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
order and of module registration order, so it is stable across processes and machines. Names
are unique: a name found twice (``{"a": [x], "a/0": y}``) gets ``#1``, ``#2``... in the order
found, which then matters.
``.tensors`` keeps the order in which tensors were found (layer order), for display.

dtype names are NumPy's (``float32``, ``bfloat16``, ``bool``), whichever framework holds the
tensor: a torch tensor and a NumPy array with the same bytes, dtype, shape and name give the
same digest.

A tensor on an accelerator (a CUDA torch tensor, a JAX array on a GPU or TPU) is digested there
instead, by :mod:`seedlock.fingerprint.devicehash`'s ``dh1`` (``"dh1:<hex>"``), with no copy to the host; a
fingerprint holding such digests is ``"dh1:..."`` too. ``algorithm=`` picks one algorithm for
every tensor (``"dh1"`` runs on a CPU too). Digests by different algorithms prove neither
equality nor difference: comparing them raises :class:`NotComparable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from seedlock.errors import SeedlockError
from seedlock.fingerprint.devicehash import device_digest, numpy_digest
from seedlock.fingerprint.dh1 import ALGORITHM as DEVICE_ALGORITHM
from seedlock.fingerprint.dh1 import HOST_ALGORITHM, algorithm_of
from seedlock.fingerprint.leaves import DeviceLeaf, Leaf, UnsupportedObject, iter_leaves, leaf_of

__all__ = [
    "ALGORITHMS",
    "DeviceLeaf",
    "Fingerprint",
    "Leaf",
    "NotComparable",
    "TensorDigest",
    "UnknownAlgorithm",
    "UnsupportedObject",
    "check_algorithm",
    "combine",
    "digest_as",
    "digest_leaf",
    "digests",
    "fingerprint",
    "iter_leaves",
    "tensor_digest",
]

# "auto": dh1 where a tensor lives on an accelerator, xxh3_128 on the host.
ALGORITHMS = ("auto", DEVICE_ALGORITHM, HOST_ALGORITHM)

FORMAT = "seedlock.fingerprint/1"
_TENSOR_TAG = b"seedlock.tensor.v1\0"
_ROOT_TAG = b"seedlock.fingerprint.v1\0"
_CHUNK = 1 << 20  # bytes per block when summaries are on: hash and reduce while the block is in cache


class UnknownAlgorithm(SeedlockError, ValueError):
    """An ``algorithm=`` that is none of :data:`ALGORITHMS`."""


class NotComparable(SeedlockError, ValueError):
    """Two fingerprints whose digests of one tensor are by different algorithms: no verdict."""


def check_algorithm(algorithm: str) -> str:
    """``algorithm`` if it is one of :data:`ALGORITHMS` (``"xxh3"`` stands for ``"xxh3_128"``)."""
    if algorithm in ALGORITHMS:
        return algorithm
    if algorithm == "xxh3":
        return HOST_ALGORITHM
    raise UnknownAlgorithm(
        f"unknown digest algorithm {algorithm!r}; pass algorithm='auto' (dh1 for tensors "
        "on an accelerator, xxh3_128 on the host), 'dh1' or 'xxh3_128'"
    )


@dataclass(frozen=True, eq=False)
class TensorDigest:
    """One tensor's digest. ``==`` compares digests alone, as :class:`Fingerprint` does: ``sum``
    and ``l2`` are for humans (a GPU reduces in another order than a CPU). Digests by different
    algorithms raise :class:`NotComparable`.

    >>> import numpy as np
    >>> a = fingerprint({"w": np.ones(2)}).tensors["w"]
    >>> a == fingerprint({"w": np.ones(2)}, summaries=False).tensors["w"]
    True
    """

    digest: str  # xxh3_128 hex over dtype, shape and bytes; "dh1:<hex>" when digested by dh1
    dtype: str
    shape: tuple[int, ...]
    sum: float | None = None  # None: not numeric, or summaries=False
    l2: float | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorDigest):
            return NotImplemented
        if self.digest == other.digest:
            return True
        if self.algorithm != other.algorithm:
            raise NotComparable(
                f"tensor digests not comparable: {self.algorithm} vs {other.algorithm}, which proves them neither "
                "equal nor different; digest both with one algorithm, e.g. tensor_digest(t, algorithm='dh1')"
            )
        return False

    def __hash__(self) -> int:
        return hash(self.digest)

    @property
    def algorithm(self) -> str:
        """``"xxh3_128"`` or ``"dh1"``: digests of different algorithms are not comparable."""
        return algorithm_of(self.digest)


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
        """Raises :class:`NotComparable` when a tensor in both was digested by two algorithms."""
        if not isinstance(other, Fingerprint):
            return NotImplemented
        if self.digest == other.digest:
            return True
        self._require_comparable(other)
        return False

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        human = "" if self.sum is None else f", sum={self.sum!r}, l2={self.l2!r}"
        return f"Fingerprint({self.digest[:16]}, {len(self.tensors)} tensors{human})"

    @property
    def algorithm(self) -> str:
        """``"xxh3_128"`` when every tensor digest is, else ``"dh1"`` (some or all are)."""
        return algorithm_of(self.digest)

    def incomparable(self, other: Fingerprint) -> list[str]:
        """Names in both whose digests are by different algorithms: neither equal nor different.

        >>> import numpy as np
        >>> a = {"w": np.ones(2)}
        >>> fingerprint(a).incomparable(fingerprint(a, algorithm="dh1"))
        ['w']
        """
        return [
            n
            for n, t in self.tensors.items()
            if n in other.tensors and t.algorithm != other.tensors[n].algorithm
        ]

    def _require_comparable(self, other: Fingerprint) -> None:
        names = self.incomparable(other)
        if names:
            a, b = self.tensors[names[0]].algorithm, other.tensors[names[0]].algorithm
            raise NotComparable(
                f"fingerprints not comparable: {len(names)} tensors digested by different algorithms "
                f"({names[0]!r}: {a} vs {b}), which proves them neither equal nor different; fingerprint both "
                "with one algorithm, e.g. fingerprint(obj, algorithm='dh1') on each side (dh1 runs on CPUs too)"
            )

    def diff(self, other: Fingerprint) -> list[str]:
        """Names whose digest differs, then names only in ``self``, then names only in ``other``.
        Raises :class:`NotComparable` as ``==`` does."""
        self._require_comparable(other)
        changed = [
            n for n, t in self.tensors.items() if n in other.tensors and other.tensors[n].digest != t.digest
        ]
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
                str(n): TensorDigest(
                    str(t["digest"]),
                    str(t["dtype"]),
                    tuple(int(s) for s in t["shape"]),
                    t.get("sum"),
                    t.get("l2"),
                )
                for n, t in data["tensors"].items()
            }
            digest = str(data["digest"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise SeedlockError(
                f"not a seedlock fingerprint ({exc}); pass what Fingerprint.to_dict() wrote"
            ) from None
        if combine({n: t.digest for n, t in tensors.items()}) != digest:
            raise SeedlockError(
                "fingerprint digest does not match its tensors: the file was edited or corrupted"
            )
        return cls(digest, tensors, data.get("sum"), data.get("l2"))


def fingerprint(
    obj: Any, *, name: str | None = None, summaries: bool = True, algorithm: str = "auto"
) -> Fingerprint:
    """The bitwise fingerprint of ``obj``: a model, an optimizer, tensors, or containers of them.

    Accepts Keras 3 models and layers (weights, and optimizer variables once the optimizer is
    built, each named by its variable path), Keras 3 variables and optimizers, tf-keras models,
    ``tf.Variable``/``tf.Tensor``, torch ``nn.Module`` (``state_dict``, then non-persistent buffers), torch
    optimizers (``state_dict``: per-parameter-index state and ``param_groups``), torch tensors,
    JAX arrays and pytrees, NumPy arrays, Python scalars, ``None`` and ``str``, and dicts,
    lists and tuples of all these (names from keys and indexes: ``"layer1/kernel"``, ``"0/w"``).

    Args:
        obj: what to fingerprint. No framework is imported: types are recognised by their module.
        name: prefix for every tensor name (a bare tensor is called ``name``, else ``"value"``).
        summaries: also compute each tensor's ``sum`` and ``l2``, in the same pass over memory.
            That halves throughput, to about the speed of a memory copy (0.9x on 1 GiB of
            float32, ``benchmarks/fingerprint_speed.py``); ``False`` gives the digest alone at
            hashing speed (about 2x a memory copy). On an accelerator they are reduced there.
        algorithm: ``"auto"``: tensors on an accelerator are digested there with ``dh1``, no copy
            to the host (:mod:`seedlock.fingerprint.devicehash`), others with ``xxh3_128``. ``"dh1"`` or
            ``"xxh3_128"``: that one for every tensor (``"dh1"`` on the host runs at ~0.5 GB/s;
            ``"xxh3_128"`` copies device tensors to the host). Fingerprints compare only when
            each tensor was digested by one algorithm in both: to compare a CPU run with a GPU
            run, fingerprint both with ``algorithm="dh1"``.

    Example:
        >>> import numpy as np
        >>> w = np.arange(4, dtype=np.float32)
        >>> fp = fingerprint({"w": w})
        >>> fp == fingerprint({"w": w.copy()})
        True
        >>> w[0] = np.nextafter(w[0], np.float32(1))           # one ULP
        >>> fp.diff(fingerprint({"w": w}))
        ['w']
        >>> on = fingerprint({"w": w}, algorithm="dh1")        # the GPU's digest, computed here
        >>> on.digest[:4], on.tensors["w"].algorithm
        ('dh1:', 'dh1')
        >>> on == fingerprint({"w": w})
        Traceback (most recent call last):
        ...
        seedlock.fingerprint.digest.NotComparable: fingerprints not comparable: 1 tensors digested by different algorithms ('w': dh1 vs xxh3_128), which proves them neither equal nor different; fingerprint both with one algorithm, e.g. fingerprint(obj, algorithm='dh1') on each side (dh1 runs on CPUs too)
    """
    algorithm = check_algorithm(algorithm)
    tensors: dict[str, TensorDigest] = {}
    for leaf_name, leaf in iter_leaves(obj, name=name):
        tensors[leaf_name] = digest_leaf(leaf, summaries=summaries, algorithm=algorithm)
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


def digests(obj: Any, *, name: str | None = None, algorithm: str = "auto") -> dict[str, str]:
    """Per-tensor digests only, in discovery order: what traces store at every step.
    ``algorithm`` as in :func:`fingerprint`.

    >>> digests({"w": 1.0}) == {"w": fingerprint({"w": 1.0}).tensors["w"].digest}
    True
    >>> import numpy as np
    >>> from seedlock.fingerprint.devicehash import numpy_digest
    >>> digests({"w": np.ones(3)}, algorithm="dh1") == {"w": numpy_digest(np.ones(3))}
    True
    """
    algorithm = check_algorithm(algorithm)
    return {n: digest_leaf(leaf, algorithm=algorithm).digest for n, leaf in iter_leaves(obj, name=name)}


def tensor_digest(obj: Any, *, algorithm: str = "auto") -> str:
    """The digest of one tensor (the same as its ``TensorDigest.digest`` in a fingerprint), or of
    a :class:`Leaf`/:class:`DeviceLeaf`. ``algorithm`` as in :func:`fingerprint`.

    >>> import numpy as np
    >>> tensor_digest(np.zeros(2, np.float32), algorithm="dh1")[:4]
    'dh1:'
    """
    algorithm = check_algorithm(algorithm)
    leaf = obj if isinstance(obj, Leaf | DeviceLeaf) else leaf_of(obj)
    if leaf is None:  # a Keras variable, a 1-element container...
        leaves = [lf for _, lf in iter_leaves(obj)]
        if len(leaves) != 1:
            raise UnsupportedObject(
                f"{type(obj).__name__} is not one tensor; use digests() for models and containers"
            )
        leaf = leaves[0]
    return digest_leaf(leaf, algorithm=algorithm).digest


def combine(tensor_digests: Mapping[str, str]) -> str:
    """The fingerprint digest from per-tensor digests: names sorted, each length-prefixed.

    A bare-hex (xxh3_128) digest enters as its 16 bytes, a prefixed one (``"dh1:..."``) as its
    text; the result is prefixed with the algorithms other than xxh3_128 it holds, so that
    :func:`seedlock.fingerprint.devicehash.algorithm_of` tells a fingerprint with device digests apart.
    """
    h = xxhash.xxh3_128(_ROOT_TAG)
    others: set[str] = set()
    for n in sorted(tensor_digests):
        raw = n.encode("utf-8", "surrogatepass")
        digest = tensor_digests[n]
        head, sep, _ = digest.partition(":")
        if sep:
            others.add(head)
        body = digest.encode("utf-8") if sep else bytes.fromhex(digest)
        h.update(len(raw).to_bytes(8, "little") + raw + body)
    return f"{'+'.join(sorted(others))}:{h.hexdigest()}" if others else h.hexdigest()


# --- hashing -----------------------------------------------------------------------------


def digest_leaf(leaf: Leaf | DeviceLeaf, *, summaries: bool = False, algorithm: str = "auto") -> TensorDigest:
    """One leaf's digest (and sum and l2 with ``summaries``), by ``algorithm`` (see :func:`fingerprint`)."""
    algorithm = check_algorithm(algorithm)
    if isinstance(leaf, DeviceLeaf):
        if algorithm == HOST_ALGORITHM:
            leaf = leaf.host()
        else:  # on the device: only the digest and two summary numbers reach the host
            from seedlock.fingerprint.summary import summary

            total, l2 = summary(leaf) if summaries else (None, None)
            return TensorDigest(device_digest(leaf.tensor), leaf.dtype, leaf.shape, total, l2)
    reduce = _reducer(leaf) if summaries else None
    raw = leaf.data.reshape(-1).view(np.uint8)  # a view: data is C-contiguous
    if algorithm == DEVICE_ALGORITHM:
        total, l2 = _reduce_blocks(raw, reduce) if reduce is not None else (None, None)
        return TensorDigest(
            numpy_digest(leaf.data, dtype=leaf.dtype, shape=leaf.shape), leaf.dtype, leaf.shape, total, l2
        )
    head = f"{leaf.dtype}\0{','.join(map(str, leaf.shape))}\0".encode()
    h = xxhash.xxh3_128(_TENSOR_TAG + head)
    if reduce is None:
        h.update(raw.data)  # a memoryview: no copy
        return TensorDigest(h.hexdigest(), leaf.dtype, leaf.shape)
    total, l2 = _reduce_blocks(raw, reduce, h)
    return TensorDigest(h.hexdigest(), leaf.dtype, leaf.shape, total, l2)


def _reduce_blocks(raw: np.ndarray, reduce: Any, h: Any = None) -> tuple[float, float]:
    """Sum and L2 norm of ``raw``, block by block; each cache-sized block is also hashed into
    ``h`` when given: one pass over memory for both."""
    total = sq = 0.0
    for i in range(0, raw.size, _CHUNK):
        block = raw[i : i + _CHUNK]
        if h is not None:
            h.update(block.data)
        s, q = reduce(block)
        total += s
        sq += q
    return total, math.sqrt(sq)


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
        with np.errstate(over="ignore"):  # handled below: no warning
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


def digest_as(algorithm: str, obj: Any) -> str:
    """``obj``'s digest by ``algorithm`` (``"dh1"`` or ``"xxh3_128"``): how a comparison of a GPU
    trace with a CPU one recomputes the side whose bytes it holds with the other side's algorithm.

    >>> a = np.ones(3, np.float32)
    >>> digest_as(algorithm_of(numpy_digest(a)), a) == numpy_digest(a)
    True
    """
    if algorithm == DEVICE_ALGORITHM:
        return device_digest(obj)
    if algorithm == HOST_ALGORITHM:
        return tensor_digest(obj, algorithm=HOST_ALGORITHM)  # a device tensor too: copied to the host
    raise ValueError(
        f"unknown digest algorithm {algorithm!r}; this seedlock knows {DEVICE_ALGORITHM!r} and {HOST_ALGORITHM!r}"
    )
