"""Per-step traces of a training run, as JSON lines: where two runs part, to the step and tensor.

A trace file is a header line, then one record per line::

    {"seedlock_trace": 1, "kind": "header", "framework": "keras", "granularity": "epoch", "meta": {...}}
    {"kind": "epoch", "step": 40, "epoch": 0, "batch": null, "metrics": {"loss": 0.6931}, "tensors": {"dense/kernel": "9f0c..."}}
    {"kind": "final", "step": 120, "epoch": 2, "batch": null, "metrics": {}, "tensors": {...}, "digest": "...", "values": {"file": "run.jsonl.3.npz", "raw": {}}}

* ``kind``: ``"batch"``, ``"epoch"``, ``"step"`` (one optimizer step), ``"final"`` (end of
  training, with the fingerprint ``digest``), or any other name (``"stdout"``...).
* ``step``: optimizer steps done so far (or null); ``epoch``, ``batch``: 0-based (or null).
* ``metrics``: name -> number, written with ``repr`` so it reads back bit for bit (NaN and
  infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``; a NaN of another sign or payload
  as ``"nan:<its 8 bytes, little-endian, in hex>"``).
* ``tensors``, ``grads``: name -> :func:`seedlock.fingerprint.tensor_digest` (xxh3_128 hex;
  ``"dh1:..."`` for a tensor on an accelerator, digested there).
* ``values`` (optional): a ``.npz`` sidecar next to the trace with the raw arrays, for max-abs
  and ULP distances; ``raw`` maps names stored as raw bytes (bfloat16...) to their dtype, and
  ``shape`` to their shape.
* any other key: compared by equality (``"text"`` of a ``"stdout"`` record, ``"optimizer"``...).

Every record is flushed as it is written: a crash loses nothing already recorded, and
:func:`read_trace` reads a trace whose last line was cut, saying so.

>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "run.jsonl")
>>> with TraceWriter(path, framework="numpy", granularity="step") as w:
...     _ = w.write("step", step=1, metrics={"loss": 0.5}, tensors={"w": np.zeros(2)})
>>> trace = read_trace(path)
>>> trace.records[0].metrics
{'loss': 0.5}
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedlock.config import ENV_TRACE
from seedlock.errors import SeedlockError
from seedlock.fingerprint import DeviceLeaf, check_algorithm, combine, digest_leaf, iter_leaves
from seedlock.trace.records import _FIELDS, Metric, NotATrace, Record, as_metric, metric_values

__all__ = [
    "FORMAT_VERSION",
    "Metric",
    "NotATrace",
    "Record",
    "Trace",
    "TraceWriter",
    "active",
    "as_metric",
    "final",
    "is_active",
    "metric_values",
    "open_writer",
    "read_trace",
    "record",
    "start",
    "stop",
]

FORMAT_VERSION = 1
_NOT_ARRAYS = {"none", "str", "bytes", "pyint"}  # leaves with no values worth saving
_HOW = "write one with `seedlock run --trace PATH`, seedlock.trace.start(PATH) or seedlock.keras.Trace(PATH)"


class TraceWriter:
    """Writes a trace: the header at once, then each record as one flushed line.

    A file already at ``path`` is replaced. Thread-safe. In a forked child (a DataLoader
    worker) writes are dropped, so the parent's file is never interleaved. ``algorithm``: as in
    :func:`~seedlock.fingerprint.fingerprint` (``"dh1"`` in both, to compare a CPU and a GPU run).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        framework: str | None = None,
        granularity: str | None = None,
        meta: Mapping[str, Any] | None = None,
        algorithm: str = "auto",
    ) -> None:
        self.path = Path(path)
        self.algorithm = check_algorithm(algorithm)
        self.header: dict[str, Any] = {
            "seedlock_trace": FORMAT_VERSION,
            "kind": "header",
            "framework": framework,
            "granularity": granularity,
            "meta": dict(meta or {}),
        }
        self.count = 0  # records written, header excluded
        self.on_record: Callable[[Record], None] | None = None  # told of each record once it is written
        self._lock = threading.RLock()  # held across a sidecar and its record: the file is named by index
        self._pid = os.getpid()
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the writer
        self._emit(self.header)

    def _emit(self, data: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(data, separators=(",", ":")) + "\n")  # one write per line
        self._file.flush()

    def write_record(self, record: Record) -> Record:
        """Append a record whose digests are already computed."""
        if os.getpid() != self._pid:
            return record
        with self._lock:
            if self._file.closed:
                raise SeedlockError(f"trace {self.path} is closed; open a new TraceWriter to record more")
            self._emit(record.to_json())
            self.count += 1
        if self.on_record is not None:
            self.on_record(record)
        return record

    def write(
        self,
        kind: str = "step",
        *,
        step: int | None = None,
        epoch: int | None = None,
        batch: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        tensors: Any = None,
        grads: Any = None,
        values: bool = False,
        **extra: Any,
    ) -> Record:
        """Digest ``tensors`` and ``grads`` (anything :func:`~seedlock.fingerprint.fingerprint`
        accepts: a model, a dict of arrays...) and append a record. ``values=True`` also saves the
        raw arrays of ``tensors`` to a ``.npz`` sidecar, for max-abs and ULP distances.
        """
        clash = set(extra) & {*_FIELDS, "seedlock_trace"}
        if clash:
            raise TypeError(f"extra fields {sorted(clash)} clash with the record's own fields")
        metric_map = {k: as_metric(v) for k, v in (metrics or {}).items()}
        grad_digests = self._digests(grads, False)[0]
        with self._lock:
            digests, sidecar = self._digests(tensors, values)
            return self.write_record(
                Record(kind, step, epoch, batch, metric_map, digests, grad_digests, sidecar, extra)
            )

    def final(self, obj: Any, *, values: bool = True, **fields: Any) -> Record:
        """The ``"final"`` record: every tensor of ``obj``, plus ``digest``, equal to
        ``fingerprint(obj).digest``. ``values=True`` (the default) saves the arrays too."""
        metrics = {k: as_metric(v) for k, v in (fields.pop("metrics", None) or {}).items()}
        step, epoch = fields.pop("step", None), fields.pop("epoch", None)
        with self._lock:
            digests, sidecar = self._digests(obj, values)
            extra = {**fields, "digest": combine(digests)}
            return self.write_record(Record("final", step, epoch, None, metrics, digests, {}, sidecar, extra))

    def _digests(self, obj: Any, values: bool) -> tuple[dict[str, str], dict[str, Any] | None]:
        if obj is None:
            return {}, None
        if values and os.getpid() == self._pid:
            return self._save_values(obj)
        return {n: digest_leaf(leaf, algorithm=self.algorithm).digest for n, leaf in iter_leaves(obj)}, None

    def _save_values(self, tensors: Any) -> tuple[dict[str, str], dict[str, Any]]:
        name = f"{self.path.name}.{self.count}.npz"
        digests: dict[str, str] = {}
        raw: dict[str, str] = {}
        shapes: dict[str, list[int]] = {}  # of raw bytes: to recompute their digests (trace_compare)
        # Streamed member by member: one tensor at a time in memory, as fingerprint() does.
        with zipfile.ZipFile(self.path.with_name(name), "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for n, device_or_host in iter_leaves(tensors):
                digests[n] = digest_leaf(device_or_host, algorithm=self.algorithm).digest  # dh1 on the device
                if device_or_host.dtype in _NOT_ARRAYS:
                    continue
                leaf = device_or_host.host() if isinstance(device_or_host, DeviceLeaf) else device_or_host
                dt = leaf.data.dtype
                if dt.kind in "biufc" and dt.name == leaf.dtype:
                    array = leaf.data.reshape(leaf.shape)
                else:  # bfloat16, float8...: NumPy cannot save them as such; keep the bytes
                    array = leaf.data.reshape(-1).view(np.uint8)
                    raw[n], shapes[n] = leaf.dtype, list(leaf.shape)
                with zf.open(f"{n}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(
                        member, np.require(array, requirements="C"), allow_pickle=False
                    )  # 0-d stays 0-d
        return digests, {"file": name, "raw": raw, **({"shape": shapes} if shapes else {})}

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Trace:
    """A trace read back: its header, complete records, and whether the last line was cut."""

    path: Path | None
    header: Mapping[str, Any]
    records: tuple[Record, ...]
    truncated: bool = False

    @property
    def framework(self) -> str | None:
        return self.header.get("framework")

    @property
    def granularity(self) -> str | None:
        return self.header.get("granularity")

    @property
    def complete(self) -> bool:
        """False for a trace that ``seedlock run`` started and that lacks the stdout record it
        writes last, at exit: the run crashed or ended with ``os._exit``, the script closed the
        trace, or the exit fingerprint failed. Models changed after the last step would be missed."""
        meta = self.header.get("meta") or {}
        return not meta.get("exit_record") or any(r.kind == "stdout" for r in self.records)

    @property
    def final(self) -> Record | None:
        """The last ``"final"`` record, if the run got that far."""
        return next((r for r in reversed(self.records) if r.kind == "final"), None)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def values(self, record: Record) -> np.lib.npyio.NpzFile | None:
        """The record's saved arrays (raw-byte dtypes as stored: see ``values["raw"]``), or None.
        An ``NpzFile``: use it in a ``with`` block, or close it."""
        if record.values is None or self.path is None:
            return None
        file = self.path.with_name(str(record.values.get("file")))
        return np.load(file, allow_pickle=False) if file.exists() else None


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read and validate a trace; a cut last line (a crash) is dropped and reported in ``truncated``.

    Raises :class:`NotATrace` (a :class:`~seedlock.errors.SeedlockError`) with a one-line reason
    for a missing file, a file that is not a seedlock trace, or a corrupted line before the last.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotATrace(f"{p}: no such trace file; check the path, or {_HOW}") from None
    except OSError as exc:
        raise NotATrace(f"{p}: cannot read it ({exc.strerror}); check the path and its permissions") from None
    if not data.strip():
        raise NotATrace(f"{p} is empty, not a seedlock trace; {_HOW}")
    lines = data.split(b"\n")
    cut = lines[-1] != b""  # every complete line ends with "\n"
    if not cut:
        lines.pop()
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or "seedlock_trace" not in header:
        raise NotATrace(
            f"{p} is not a seedlock trace (its first line is not a seedlock trace header); {_HOW}"
        )
    version = header["seedlock_trace"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise NotATrace(
            f"{p} is a version {version!r} trace; this seedlock reads up to {FORMAT_VERSION}: upgrade seedlock"
        )
    # The fields readers use, typed as TraceWriter writes them: a crafted header is refused here,
    # not met later as an AttributeError.
    fields = (("framework", str, "a string"), ("granularity", str, "a string"), ("meta", dict, "an object"))
    bad = next(
        (
            f"{key!r} is {repr(header[key])[:40]}, not {kind} or null"
            for key, types, kind in fields
            if header.get(key) is not None and not isinstance(header[key], types)
        ),
        None,
    )
    if bad:
        raise NotATrace(f"{p} is not a seedlock trace (its header's {bad}); {_HOW}")
    records: list[Record] = []
    truncated = False
    for number, raw in enumerate(lines[1:], start=2):
        last = number == len(lines)
        try:
            item = json.loads(raw)
            records.append(Record.from_json(item, number))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if last and cut:
                truncated = True
                break
            raise NotATrace(
                f"{p}: line {number} is not a valid trace record ({exc}); the trace is corrupted"
            ) from None
    return Trace(p, header, tuple(records), truncated)


# --- the active writer: one per process, for code that only says record(...) -----------------

_active: TraceWriter | None = None
_writers: dict[Path, TraceWriter] = {}
_registry_lock = threading.Lock()


def open_writer(path: str | os.PathLike[str], **header: Any) -> TraceWriter:
    """The open writer for ``path`` in this process, else a new one: a Keras callback and
    ``record()`` calls given the same path write to one file instead of clobbering it."""
    key = Path(path).resolve()
    with _registry_lock:
        writer = _writers.get(key)
        if writer is None or writer._file.closed or writer._pid != os.getpid():
            writer = _writers[key] = TraceWriter(path, **header)
        return writer


def start(
    path: str | os.PathLike[str],
    *,
    framework: str | None = None,
    granularity: str | None = None,
    meta: Mapping[str, Any] | None = None,
    algorithm: str = "auto",
) -> TraceWriter:
    """Start tracing to ``path``: :func:`record` and the framework hooks write there."""
    global _active
    _active = open_writer(path, framework=framework, granularity=granularity, meta=meta, algorithm=algorithm)
    return _active


def active(**header: Any) -> TraceWriter | None:
    """The active writer; if none, one started from ``$SEEDLOCK_TRACE`` (with ``header``), else None."""
    if (_active is None or _active._pid != os.getpid()) and os.environ.get(ENV_TRACE):
        return start(os.environ[ENV_TRACE], **header)
    return _active


def is_active() -> bool:
    """Whether :func:`record` would write: a writer is active, or ``$SEEDLOCK_TRACE`` names one."""
    return (_active is not None and _active._pid == os.getpid()) or bool(os.environ.get(ENV_TRACE))


def stop() -> None:
    """Close the active writer."""
    global _active
    if _active is not None:
        _active.close()
        _active = None


def record(
    step: int | None = None,
    /,
    *,
    kind: str = "step",
    epoch: int | None = None,
    batch: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    grads: Any = None,
    values: bool = False,
    **tensors: Any,
) -> Record | None:
    """Record tensors (by keyword) and metrics to the active trace; a no-op when none is active.

    >>> record(3, metrics={"loss": 0.25}, w=np.zeros(2))   # without a trace: nothing happens
    """
    writer = active()
    if writer is None:
        return None
    return writer.write(
        kind,
        step=step,
        epoch=epoch,
        batch=batch,
        metrics=metrics,
        tensors=tensors or None,
        grads=grads,
        values=values,
    )


def final(obj: Any, **fields: Any) -> Record | None:
    """The ``"final"`` record of ``obj`` (all its tensors and their arrays) to the active trace."""
    writer = active()
    return None if writer is None else writer.final(obj, **fields)
