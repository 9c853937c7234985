"""The audit's records: one per (op, device, line of user code), with the deterministic
alternative where one is known. Every framework's capture (:mod:`seedlock.audit.ops`,
:mod:`seedlock.audit.tf_ops`) records through :func:`record`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from seedlock.audit.callsite import display_path, function_of, user_frame

# (framework, pattern searched in the op name, what to do instead). Torch names the kernel
# ("max_unpooling2d_forward_out", "upsample_bilinear2d_backward_out_cuda"), hence patterns.
ALTERNATIVES: tuple[tuple[str, str, str], ...] = (
    (
        "torch",
        r"^put_",
        "t.view(-1).index_put_((index,), source) is deterministic "
        "(repeated indices make put_'s last write arbitrary); accumulate=True is deterministic on CPU",
    ),
    (
        "torch",
        r"max_unpool",
        "write the values with index_put_ on the flattened output, "
        "deterministic under use_deterministic_algorithms",
    ),
    ("torch", r"adaptive_avg_pool", "nn.AvgPool2d/3d with kernel_size = stride = input size // output size"),
    ("torch", r"adaptive_max_pool|fractional_max_pool", "nn.MaxPool2d/3d with a fixed kernel"),
    ("torch", r"upsample|interpolate", "interpolate(mode='nearest'), or nn.ConvTranspose2d"),
    ("torch", r"reflection_pad", "pad(mode='replicate'): its backward is deterministic"),
    ("torch", r"embedding_bag", "EmbeddingBag(mode='sum') or mode='mean'"),
    ("torch", r"ctc_loss", "compute the CTC loss on CPU: ctc_loss(log_probs.cpu(), ...)"),
    ("torch", r"median", "torch.sort(t, dim, stable=True) and take the middle element"),
    ("torch", r"histc", "torch.histc on a CPU tensor"),
    ("torch", r"bincount", "torch.zeros(n).index_put_((x,), weights, accumulate=True)"),
    ("tensorflow", r"^Timestamp$", "time.time() in Python, outside the graph"),
    (
        "tensorflow",
        r"^(Random|TruncatedNormal|Multinomial|ParameterizedTruncatedNormal)",
        "give the op a seed: tf.random.* after tf.random.set_seed (seedlock does this), or "
        "tf.random.stateless_*(..., seed=[seedlock.derive('name'), 0])",
    ),
    (
        "tensorflow",
        r"SampleDistortedBoundingBox",
        "pass seed=seedlock.derive('crop'), or use tf.image.stateless_sample_distorted_bounding_box",
    ),
    ("tensorflow", r"^Fractional(Max|Avg)Pool", "pass seed=seedlock.derive('pool')"),
    ("tensorflow", r"from_non_deterministic_state", "tf.random.Generator.from_seed(seedlock.derive('name'))"),
    ("tensorflow", r"Segment(Sum|Mean|Prod|Max|Min)", "run it on the CPU (with tf.device('/CPU:0'))"),
    ("tensorflow", r"SparseTensorDenseMatMul", "tf.sparse.to_dense(a) @ b"),
    ("tensorflow", r"Bincount", "tf.reduce_sum(tf.one_hot(x, n), axis=0)"),
)


@dataclass
class AuditRecord:
    """One op, on one device, run from one line of the user's code."""

    framework: str  # "torch", "tensorflow"
    op: str  # "put_", "Timestamp"
    device: str  # "cpu", "cuda", "CPU:0", "?"
    file: str
    path: str  # relative to the cwd (see seedlock.audit.callsite.display_path)
    line: int
    function: str
    count: int
    alternative: str | None
    message: str  # the framework's own words, the first time


def alternative_for(framework: str, op: str) -> str | None:
    """What to use instead of ``op``, when known.

    >>> alternative_for("tensorflow", "Timestamp")
    'time.time() in Python, outside the graph'
    >>> alternative_for("torch", "some_new_kernel") is None
    True
    """
    for fw, pattern, text in ALTERNATIVES:
        if fw == framework and re.search(pattern, op, re.IGNORECASE):
            return text
    return None


lock = threading.RLock()  # also held by ops.install: one lock for the records and the patching
_records: dict[tuple[str, str, str, str, int], AuditRecord] = {}


def record(framework: str, op: str, device: str, message: str, frame: FrameType | None) -> AuditRecord:
    """Count one run of ``op``; the location is the first frame of user code from ``frame`` out.

    The one path every framework's capture goes through; a test or a new framework can call it.

    >>> import sys
    >>> record("demo", "Op", "cpu", "Op refused", sys._getframe()).count  # doctest: +SKIP
    1
    """
    where = user_frame(frame) or frame
    filename = where.f_code.co_filename if where is not None else "?"
    lineno = where.f_lineno if where is not None else 0
    key = (framework, op, device, filename, lineno)
    with lock:
        rec = _records.get(key)
        if rec is None:
            rec = AuditRecord(
                framework,
                op,
                device,
                filename,
                display_path(filename),
                lineno,
                function_of(where) if where is not None else "?",
                0,
                alternative_for(framework, op),
                " ".join(message.split())[:300],
            )
            _records[key] = rec
        rec.count += 1
        return rec


def records() -> list[AuditRecord]:
    """Every flagged op so far, in the order first seen."""
    with lock:
        return list(_records.values())


def explain() -> list[str]:
    """One line per record, for the report at exit.

    >>> explain()  # nothing ran in this process
    ['audit: no op without a deterministic implementation ran']
    """
    recs = records()
    if not recs:
        return ["audit: no op without a deterministic implementation ran"]
    return [
        f"audit: {r.framework} {r.op} on {r.device} ran {r.count}x at {r.path}:{r.line} (in {r.function}); "
        + (f"instead: {r.alternative}" if r.alternative else "no deterministic alternative known")
        for r in recs
    ]


def write(path: str | os.PathLike[str]) -> None:
    """The records as JSON: ``{"version": 1, "records": [{"framework": ..., "op": ...}, ...]}``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {"version": 1, "records": [asdict(r) for r in records()]}
    target.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
