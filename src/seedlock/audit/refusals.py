"""A framework refusing an op because seedlock switched deterministic algorithms on: recognised
from the framework's own error, and explained in one line that names the op, the user's line and
the two ways out, printed before the framework's traceback (the user set nothing: seedlock did).

>>> refusal(RuntimeError("put_ does not have a deterministic implementation, but you set ..."))
('torch', 'put_')
>>> refusal(ValueError("bad shape")) is None
True
"""

from __future__ import annotations

import re
import sys
from types import TracebackType

from seedlock.audit.callsite import display_path, is_seedlock, is_stdlib, is_third_party

TORCH_ALERT = re.compile(r"^(?P<op>\S+) does not have a deterministic implementation")
TF_REFUSAL = re.compile(  # TF's wordings: CPU and GPU kernels, Python checks
    r"when determinism is enabled|does not have a deterministic implementation"
    r"|deterministic (?:GPU )?implementation\b.*\bnot\b.*\bavailable|determinism is not (?:yet )?supported",
    re.IGNORECASE | re.DOTALL,
)
TF_OP = re.compile(r"\[Op:(\w+)\]|\{\{node (\w+)\}\}")


def tf_refused(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("tensorflow") and bool(TF_REFUSAL.search(str(exc)))


def tf_op(text: str) -> str:
    """The op an error message names: ``[Op:Timestamp]`` (eager) or ``{{node Timestamp}}`` (graph)."""
    found = TF_OP.search(text)
    return (found.group(1) or found.group(2)) if found else "?"


# Anywhere in a message: a DataLoader worker's error quotes the worker's ("Caught RuntimeError in
# DataLoader worker process 0. Original Traceback ... RuntimeError: put_ does not have ...").
_TORCH_ANYWHERE = re.compile(
    r"(?m)(?:^|: )(?P<op>[\w.:]+) does not have a deterministic implementation, but you set"
)


def refusal(value: BaseException) -> tuple[str, str] | None:
    """``(framework, op)`` when ``value``, or an exception it was raised from or while handling, is
    torch's ``use_deterministic_algorithms`` or TensorFlow's op determinism refusing an op that has
    no deterministic implementation.

    >>> try:
    ...     try:
    ...         raise RuntimeError("index_add_cuda_ does not have a deterministic implementation, but you set x")
    ...     except RuntimeError as e:
    ...         raise ValueError("training failed") from e
    ... except ValueError as e:
    ...     refusal(e)
    ('torch', 'index_add_cuda_')
    """
    seen: set[int] = set()
    current: BaseException | None = value
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        match = TORCH_ALERT.match(text) or _TORCH_ANYWHERE.search(text)
        if match is not None:
            return "torch", match.group("op")
        if "tensorflow" in sys.modules and tf_refused(current):
            return "tensorflow", tf_op(text)
        current = current.__cause__ or current.__context__
    return None


def user_line(tb: TracebackType | None) -> str | None:
    """``path:line`` of the innermost frame of the user's own code in ``tb``."""
    found = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not (is_seedlock(name) or is_stdlib(name) or is_third_party(name) or name.startswith("<frozen")):
            found = f"{display_path(name)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def explain(value: BaseException, tb: TracebackType | None, *, launcher: bool) -> str | None:
    """The one line for a refusal (None for any other error). ``launcher``: the process was
    started by ``seedlock run``/``check``/``repeat``, not a ``seed_everything`` call of the script.

    >>> print(explain(RuntimeError("put_ does not have a deterministic implementation"), None, launcher=True))
    seedlock: torch refused put_: it has no deterministic implementation, and seedlock switched deterministic algorithms on (the default); to list every such op and run on: seedlock run --audit SCRIPT; to run without deterministic kernels (results may then vary): seedlock run --no-deterministic SCRIPT
    """
    found = refusal(value)
    if found is None:
        return None
    framework, op = found
    where = user_line(tb)
    at = f" at {where}" if where else ""
    if launcher:
        ways = (
            "to list every such op and run on: seedlock run --audit SCRIPT; to run without deterministic "
            "kernels (results may then vary): seedlock run --no-deterministic SCRIPT"
        )
    else:
        ways = (
            "to list every such op and run on: seedlock run --audit SCRIPT; to run without deterministic "
            "kernels (results may then vary): seedlock.seed_everything(SEED, deterministic=False)"
        )
    return (
        f"seedlock: {framework} refused {op}{at}: it has no deterministic implementation, and seedlock "
        f"switched deterministic algorithms on (the default); {ways}"
    )
