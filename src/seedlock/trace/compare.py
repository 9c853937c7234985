"""Where two traces part: the first divergent record, its first divergent tensor or metric, by how much.

>>> import tempfile, os, numpy as np
>>> from seedlock.trace import TraceWriter
>>> d = tempfile.mkdtemp()
>>> for name, w in (("a", 1.0), ("b", np.nextafter(1.0, 2.0))):
...     with TraceWriter(os.path.join(d, name)) as tw:
...         _ = tw.write("step", step=1, tensors={"w": np.zeros(3)})
...         _ = tw.final({"w": np.full(3, w)})
>>> div = compare_traces(os.path.join(d, "a"), os.path.join(d, "b"))
>>> div.reason, div.kind, div.name, div.max_ulp
('tensor', 'final', 'w', 1)

A tensor digested by ``dh1`` in one trace (on a GPU) and by ``xxh3_128`` in the other (on the
host) is neither equal nor different: where a trace saved its values, they are rehashed with the
other trace's algorithm (:func:`seedlock.fingerprint.digest_as`); where neither did, the verdict
is ``"incomparable"``, never a match.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from seedlock.fingerprint.dh1 import algorithm_of
from seedlock.fingerprint.digest import digest_as

if TYPE_CHECKING:
    from seedlock.fingerprint.leaves import Leaf
    from seedlock.trace.tracefile import Record, Trace

# Fields compared as a whole. "values" names a sidecar file, which differs between any two paths.
_SKIP = {"values"}


@dataclass(frozen=True)
class Divergence:
    """The first place where trace ``a`` and trace ``b`` differ.

    ``reason`` is ``"tensor"``, ``"grad"``, ``"metric"`` or ``"field"`` (a record in both traces
    that differs: ``name`` says what, ``a``/``b`` are the two digests or values); ``"missing"``
    (a record of ``a`` that ``b`` lacks: ``b`` crashed or stopped early) or ``"extra"`` (the
    reverse); ``"incomparable"`` (no difference found, but digests by different algorithms that
    no saved values could settle: ``differing`` lists them, ``note`` says what to do). ``index``
    is the record's 0-based position in ``a`` (in ``b`` for ``"extra"``).
    ``max_abs`` and ``max_ulp`` are filled for metrics, and for tensors when both records saved
    their values. ``differing`` lists everything that differs in the record, as
    ``"tensors/NAME"``, ``"grads/NAME"``, ``"metrics/NAME"`` or a field name.
    """

    reason: str
    kind: str
    step: int | None
    epoch: int | None
    batch: int | None
    index: int
    name: str | None = None
    a: Any = None
    b: Any = None
    max_abs: float | None = None
    max_ulp: int | None = None
    differing: tuple[str, ...] = ()
    note: str | None = None

    @property
    def where(self) -> str:
        at = ", ".join(
            f"{k} {v}"
            for k, v in (("epoch", self.epoch), ("batch", self.batch), ("step", self.step))
            if v is not None
        )
        return f"{self.kind} record" + (f" at {at}" if at else "") + f" (#{self.index})"

    def __str__(self) -> str:
        if self.reason == "missing":
            return f"trace b has no {self.where} of trace a" + (f": {self.note}" if self.note else "")
        if self.reason == "extra":
            return f"trace b has a {self.where} that trace a lacks" + (f": {self.note}" if self.note else "")
        if self.reason == "incomparable":
            what = "gradient" if self.differing[:1] == (f"grads/{self.name}",) else "tensor"
            more = f" ({len(self.differing) - 1} more in this record)" if len(self.differing) > 1 else ""
            return f"{self.where}: {what} {self.name!r} cannot be compared{more}: {self.note}"
        what = {"tensor": "tensor", "grad": "gradient", "metric": "metric", "field": "field"}[self.reason]
        line = f"{self.where}: {what} {self.name!r} differs"
        if self.reason in ("metric", "field"):
            line += f" ({self.a!r} vs {self.b!r})"
        amounts = [
            f"max abs diff {self.max_abs:.6g}" if self.max_abs is not None else "",
            f"{self.max_ulp} ULP" if self.max_ulp is not None else "",
            self.note or "",
        ]
        amounts = [x for x in amounts if x]
        if amounts:
            line += f"; {', '.join(amounts)}"
        if len(self.differing) > 1:
            line += f"; {len(self.differing) - 1} more differ in this record"
        return line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ulp_distance(a: Any, b: Any) -> np.ndarray:
    """Elementwise distance in units in the last place, for float16, float32 or float64 arrays.

    The bits are reinterpreted as integers ordered like the floats (sign-magnitude to a monotone
    unsigned scale), so adjacent floats are 1 apart, across zero too: ``+0.0`` and ``-0.0``
    differ bitwise and are 1 apart. NaNs are compared by bit pattern. Result: uint64.

    >>> x = np.float32(1.0)
    >>> int(ulp_distance(x, np.nextafter(x, np.float32(2))))
    1
    >>> ulp_distance(np.array([1.0, -0.0]), np.array([1.0, 0.0])).tolist()
    [0, 1]
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        raise TypeError(
            f"ulp_distance needs two float16/32/64 arrays of one dtype, got {a.dtype} and {b.dtype}"
        )
    unsigned = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return _ulp_bits(a.view(unsigned), b.view(unsigned), 8 * a.dtype.itemsize)


def _ulp_bits(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    oa, ob = _ordered(a, width), _ordered(b, width)
    return np.where(oa >= ob, oa - ob, ob - oa)  # unsigned: no overflow


def _ordered(bits: np.ndarray, width: int) -> np.ndarray:
    x = bits.astype(np.uint64)
    sign = np.uint64(1 << (width - 1))
    mask = np.uint64((1 << width) - 1)
    return np.where(x & sign, ~x & mask, x | sign)  # negatives reversed below the positives


def compare_traces(
    a: Trace | str | os.PathLike[str],
    b: Trace | str | os.PathLike[str],
    *,
    values: bool = True,
    exact_stdout: bool = False,
) -> Divergence | None:
    """The first divergence between two traces, or None when they agree bitwise.

    Records are matched by ``(kind, epoch, batch)`` and their order of occurrence, so a
    trace cut short by a crash gives ``"missing"`` at the first record it lacks. Within a
    record, tensors come first (in the order recorded), then gradients, metrics, and other
    fields (``step``, ``digest``...). When the two traces were written at different
    granularities (per epoch vs per batch), only the kinds both contain are compared, and the
    exit records (``final``, ``stdout``), which every granularity writes.
    ``values=False`` skips loading saved arrays (no max-abs/ULP for tensors, no rehashing).
    stdout is compared as ``seedlock check`` compares it, as a terminal shows it with progress-bar
    timings masked (the ``view_digest`` of the stdout record, :mod:`seedlock.trace.stdout`), unless
    ``exact_stdout`` (or a trace from before the view existed) makes it the raw bytes' ``digest``.

    Digests by different algorithms (``dh1`` vs ``xxh3_128``) are settled from saved values,
    else they make the result ``"incomparable"``: never None. A real divergence found later
    is returned instead, its ``note`` saying that earlier digests could not be compared.

    Raises :class:`seedlock.trace.NotATrace` when a path is not a readable trace.
    """
    from seedlock.trace.tracefile import Trace, read_trace

    ta = a if isinstance(a, Trace) else read_trace(a)
    tb = b if isinstance(b, Trace) else read_trace(b)
    kinds = compared_kinds(ta, tb)
    in_b = dict(_keyed(tb, kinds))
    matched: set[int] = set()
    unsettled: Divergence | None = None  # the first "incomparable" record: the verdict if nothing differs
    for key, (i, ra) in _keyed(ta, kinds):
        hit = in_b.get(key)
        if hit is None:
            note = f"trace b has {len(tb)} records" + (
                ", its last line cut (a crash?)" if tb.truncated else ""
            )
            return _after(
                Divergence("missing", ra.kind, ra.step, ra.epoch, ra.batch, i, note=note), unsettled
            )
        j, rb = hit
        matched.add(j)
        found = _compare(ra, rb, i, ta, tb, values, exact_stdout)
        if found is not None and found.reason == "incomparable":
            unsettled = unsettled or found
        elif found is not None:
            return _after(found, unsettled)
    for _, (j, rb) in _keyed(tb, kinds):
        if j not in matched:
            extra = Divergence(
                "extra", rb.kind, rb.step, rb.epoch, rb.batch, j, note=f"trace a has {len(ta)} records"
            )
            return _after(extra, unsettled)
    return unsettled


def compared_kinds(ta: Trace, tb: Trace) -> set[str]:
    """The record kinds :func:`compare_traces` compares: all of them, or, for traces written at
    different granularities, the kinds both have and the exit records every granularity writes.
    The same both ways round."""
    kinds = {r.kind for r in ta} | {r.kind for r in tb}
    if ta.granularity != tb.granularity:
        kinds = ({r.kind for r in ta} & {r.kind for r in tb}) | {"final", "stdout"}
    return kinds


def _after(found: Divergence, unsettled: Divergence | None) -> Divergence:
    """A real divergence, saying so when digests before it could not be compared."""
    if unsettled is None:
        return found
    earlier = f"digests before it could not be compared, from the {unsettled.where} on"
    return replace(found, note=f"{found.note}; {earlier}" if found.note else earlier)


def _keyed(trace: Trace, kinds: set[str]) -> Iterator[tuple[tuple[Any, ...], tuple[int, Record]]]:
    seen: dict[tuple[Any, ...], int] = {}
    for i, r in enumerate(trace.records):
        if r.kind in kinds:
            base = (r.kind, r.epoch, r.batch)
            seen[base] = seen.get(base, -1) + 1
            yield (*base, seen[base]), (i, r)


def _same(x: Any, y: Any) -> bool:
    # Bitwise for floats (-0.0 != 0.0; NaNs by their bits), and 1 != 1.0.
    if type(x) is float and type(y) is float:
        return struct.pack("<d", x) == struct.pack("<d", y)
    return type(x) is type(y) and repr(x) == repr(y)


def _diffs(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> list[str]:
    names = [n for n in ma if n not in mb or not _same(ma[n], mb[n])]
    return names + [n for n in mb if n not in ma]


def _crossed(x: Any, y: Any) -> bool:
    """Two digests by different algorithms: their strings differ whatever the bytes."""
    return isinstance(x, str) and isinstance(y, str) and algorithm_of(x) != algorithm_of(y)


def _compare(
    ra: Record, rb: Record, i: int, ta: Trace, tb: Trace, values: bool, exact_stdout: bool = False
) -> Divergence | None:
    skip = set(_SKIP)
    if ra.kind == "stdout" and "view_digest" in ra.extra and "view_digest" in rb.extra:
        skip |= {"view_digest"} if exact_stdout else {"digest"}  # one of the two, as asked
    else:
        skip.add("view_digest")
    fa = {"step": ra.step, **{k: v for k, v in ra.extra.items() if k not in skip}}
    fb = {"step": rb.step, **{k: v for k, v in rb.extra.items() if k not in skip}}
    if any(_crossed(d, rb.tensors.get(n)) for n, d in ra.tensors.items()):
        fa.pop("digest", None)  # combine() of the tensors, which are settled one by one below
        fb.pop("digest", None)
    groups = (
        ("tensor", "tensors/", ra.tensors, rb.tensors),
        ("grad", "grads/", ra.grads, rb.grads),
        ("metric", "metrics/", ra.metrics, rb.metrics),
        ("field", "", fa, fb),
    )
    found, unsettled, how = [], [], {}
    for reason, prefix, ma, mb in groups:
        for name in _diffs(ma, mb):
            va, vb = ma.get(name), mb.get(name)
            if reason in ("tensor", "grad") and _crossed(va, vb):
                da, db = str(va), str(vb)
                settled = _rehash(name, da, db, ra, rb, ta, tb) if values and reason == "tensor" else None
                if settled is None:
                    unsettled.append((prefix, name, da, db))
                    continue
                if settled[0]:
                    continue  # the same bytes
                how[name] = settled[1]
            found.append((reason, prefix, name, va, vb))
    if not found and not unsettled:
        return None
    if not found:
        prefix, name, va, vb = unsettled[0]
        return Divergence(
            "incomparable",
            ra.kind,
            ra.step,
            ra.epoch,
            ra.batch,
            i,
            name,
            va,
            vb,
            differing=tuple(p + n for p, n, _, _ in unsettled),
            note=_why(va, vb),
        )
    reason, _, name, va, vb = found[0]
    max_abs = max_ulp = note = None
    if reason == "metric" and isinstance(va, float) and isinstance(vb, float):
        max_abs = abs(va - vb)
        max_ulp, note = same_sign_ulp(va, vb, ulp_distance(va, vb))
    elif reason == "tensor" and values and va is not None and vb is not None:
        max_abs, max_ulp, note = _tensor_amounts(name, ra, rb, ta, tb)
    notes = [
        note,
        how.get(name) if reason == "tensor" else None,
        f"{len(unsettled)} digests in this record could not be compared" if unsettled else None,
    ]
    return Divergence(
        reason,
        ra.kind,
        ra.step,
        ra.epoch,
        ra.batch,
        i,
        name,
        va,
        vb,
        max_abs,
        max_ulp,
        tuple(prefix + n for _, prefix, n, _, _ in found),
        "; ".join(n for n in notes if n) or None,
    )


def _why(a: str, b: str) -> str:
    return (
        f"trace a digested it with {algorithm_of(a)}, trace b with {algorithm_of(b)} (dh1: on a device; "
        "xxh3_128: on the host), which proves neither equality nor difference; trace both runs on the same "
        "kind of device, or both with `seedlock run --trace FILE --digest dh1` (TraceWriter(..., "
        "algorithm='dh1')), or save values (values=True) so "
        "that seedlock rehashes them with fingerprint.digest_as"
    )


def _rehash(
    name: str, da: str, db: str, ra: Record, rb: Record, ta: Trace, tb: Trace
) -> tuple[bool, str] | None:
    """Whether digests ``da`` and ``db`` (by two algorithms) are of the same bytes, from the values
    one trace saved, rehashed with the other's algorithm; None when neither saved them."""
    sides = [("a", ta, ra, da, db), ("b", tb, rb, db, da)]
    sides.sort(key=lambda side: algorithm_of(side[3]) != "xxh3_128")  # checking xxh3 digests is fast
    for side, trace, record, own, other in sides:
        leaf = _saved_leaf(trace, record, name)
        if leaf is None or digest_as(algorithm_of(own), leaf) != own:
            continue  # not saved, or not the bytes that were digested (the sidecar was replaced)
        return digest_as(
            algorithm_of(other), leaf
        ) == other, f"trace {side}'s saved values rehashed with {algorithm_of(other)}"
    return None


def _saved_leaf(trace: Trace, record: Record, name: str) -> Leaf | None:
    """The saved bytes of ``name`` as the leaf that was digested; None if not saved (or, for raw
    bytes saved by a seedlock that did not keep their shape, not recoverable)."""
    from seedlock.fingerprint.leaves import Leaf, leaf_of

    found = _array(trace, record, name)
    if found is None:
        return None
    array, dtype = found
    if dtype == array.dtype.name:
        leaf = leaf_of(array)
        return leaf if isinstance(leaf, Leaf) else None
    shape = (record.values or {}).get("shape", {}).get(name)
    return None if shape is None else Leaf(dtype, tuple(shape), array.reshape(-1).view(np.uint8))


def _array(trace: Trace, record: Record, name: str) -> tuple[np.ndarray, str] | None:
    """The saved array and its dtype name (raw-byte dtypes come back as bytes)."""
    try:
        store = trace.values(record)
        if store is None:
            return None
        with store:
            if name not in store:
                return None
            array = store[name]
    except (OSError, ValueError, zipfile.BadZipFile):  # a sidecar deleted or cut short: amounts are a bonus
        return None
    return array, (record.values or {}).get("raw", {}).get(name, array.dtype.name)


def _tensor_amounts(
    name: str, ra: Record, rb: Record, ta: Trace, tb: Trace
) -> tuple[float | None, int | None, str | None]:
    xa, ya = _array(ta, ra, name), _array(tb, rb, name)
    if xa is None or ya is None:
        saved = ra.values is not None and rb.values is not None  # per-step records never save them
        return None, None, "saved values not readable" if saved else None
    (x, dx), (y, dy) = xa, ya
    if x.shape != y.shape or dx != dy:
        return None, None, f"{dx}{list(x.shape)} vs {dy}{list(y.shape)}"
    if x.size == 0:
        return None, None, None
    ulps: np.ndarray | None
    if dx == "bfloat16":  # saved as bytes: ULPs on the 16-bit patterns, values as float32 (their top half)
        bx, by = x.view(np.uint16), y.view(np.uint16)
        ulps = _ulp_bits(bx, by, 16)
        x, y = ((b.astype(np.uint32) << 16).view(np.float32) for b in (bx, by))
    elif x.dtype.kind == "f" and x.dtype.itemsize in (2, 4, 8):
        ulps = ulp_distance(x, y)
    elif x.dtype.kind in "iub":
        ulps = None
    else:
        return None, None, None
    max_abs = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
    if ulps is None:
        return max_abs, None, None
    ulp, crossed = same_sign_ulp(x, y, ulps)
    return max_abs, ulp, crossed


def same_sign_ulp(x: Any, y: Any, ulps: Any) -> tuple[int | None, str | None]:
    """The largest ULP distance among values on the same side of zero, and a note on those that
    changed sign: across zero a ULP count spans every float in between (2e9 for 0.0073 against
    -0.0001) and says nothing useful; there the absolute difference alone is the measure.

    >>> a = np.array([1.0, 2.0, 0.0073], np.float32)
    >>> b = np.array([np.nextafter(np.float32(1), np.float32(2)), 2.0, -0.0001], np.float32)
    >>> same_sign_ulp(a, b, ulp_distance(a, b))
    (1, '1 value changed sign: ULPs are counted only where the signs agree')
    >>> same_sign_ulp(a[1:], b[1:], ulp_distance(a[1:], b[1:]))
    (None, '1 value changed sign: no ULP count across zero')
    """
    x, y, ulps = np.asarray(x), np.asarray(y), np.asarray(ulps)
    differ = ~((x == y) & (np.signbit(x) == np.signbit(y)))  # bit-level: 0.0 and -0.0 differ, one ULP apart
    crossed = (np.signbit(x) != np.signbit(y)) & (x != y)
    n = int(np.count_nonzero(crossed))
    same = ulps[differ & ~crossed]
    ulp = int(np.max(same)) if same.size else None
    if not n:
        return ulp, None
    changed = f"{n} value{'s' if n > 1 else ''} changed sign"
    if ulp is None:
        return None, f"{changed}: no ULP count across zero"
    return ulp, f"{changed}: ULPs are counted only where the signs agree"
