"""Audit mode: run to the end, and list every op that had no deterministic implementation.

Deterministic mode stops at the first such op. ``seedlock run --audit`` (or :func:`install`)
records each one that actually runs instead (framework, op, device, the line of your code
that ran it, how often) and goes on, so one run lists them all, with the deterministic
alternative where one is known::

    $ cat scatter.py
    import torch
    x = torch.zeros(4)
    for _ in range(3):
        x.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))   # line 4
    $ SEEDLOCK_AUDIT_FILE=audit.json seedlock run --audit -v scatter.py
    audit: torch put_ on cpu ran 3x at scatter.py:4 (in <module>); instead: ...

How, per framework:

* PyTorch: deterministic algorithms stay on, in ``warn_only`` form (forced, even if the
  script or ``seed_everything`` asks for the strict form later); torch's
  "... does not have a deterministic implementation" warnings are recorded, and each shown
  once per op and line. On CPU, torch 2.13 flags ``Tensor.put_`` (``accumulate=False``) and
  ``F.max_unpool1d/2d/3d``; the others are CUDA kernels.
* TensorFlow: op determinism stays on. An eager op that TensorFlow refuses to run under it
  is recorded and run again with determinism off for that one op (:mod:`seedlock.audit.tf_ops`).
  On CPU, TF 2.21 refuses ``tf.timestamp()`` and random ops without a seed
  (``tf.raw_ops.RandomUniform``); in Python, ``sample_distorted_bounding_box`` and
  ``fractional_*_pool`` without a seed and ``Generator.from_non_deterministic_state``.
  Inside a ``tf.function`` the refusal still ends the run (a graph is not re-run: it may have
  had side effects); it is recorded first.

A run under audit is not reproducible (the flagged ops ran nondeterministically): it is
for finding what to fix. The records go into the report at exit (component ``audit``,
status ``warning``) and, when ``$SEEDLOCK_AUDIT_FILE`` is set, into that JSON file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType, TracebackType
from typing import Any

from seedlock.audit.records import (
    explain,
    lock,
    record,
    records,
    write,
)
from seedlock.audit.refusals import TORCH_ALERT, refusal
from seedlock.config import ENV_AUDIT, ENV_AUDIT_FILE
from seedlock.frameworks import hooks
from seedlock.report import SeedReport, Status

_report: SeedReport | None = None
_installed = False
_finished = False


def finish() -> None:
    """Put the records into the report and ``$SEEDLOCK_AUDIT_FILE`` (once; also run at exit)."""
    global _finished
    if _finished or not _installed:
        return
    _finished = True
    if _report is not None:
        status: Status = "warning" if records() else "verified"
        for line in explain():
            _report.add("audit", status, line.removeprefix("audit: "))
    target = os.environ.get(ENV_AUDIT_FILE)
    if target:
        try:
            write(target)
        except OSError as exc:
            print(f"seedlock: audit: cannot write {target}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- torch


def _torch_device(op: str) -> str:
    if "cuda" in op.lower():
        return "cuda"
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:  # no CUDA tensor exists before CUDA is initialised; after, torch's message does not say which
        return "?" if cuda is not None and cuda.is_available() and cuda.is_initialized() else "cpu"
    except Exception:  # a broken CUDA set-up
        return "?"


def _patch_torch(torch_c: ModuleType) -> None:
    """Make torch's deterministic mode warn instead of raise, from now on.

    Patched in ``torch._C``, where ``torch.use_deterministic_algorithms`` looks it up on each call:
    the torch adapter (which runs when ``import torch`` ends) and the script's own calls get
    ``warn_only=True``, whatever the order.
    """
    original = getattr(torch_c, "_set_deterministic_algorithms", None)
    if original is None or getattr(original, "_seedlock", False):
        return

    def _set_deterministic_algorithms(mode: bool, *args: Any, **kwargs: Any) -> Any:
        if mode:
            return original(mode, warn_only=True)
        return original(mode, *args, **kwargs)

    _set_deterministic_algorithms._seedlock = True  # type: ignore[attr-defined]
    torch_c._set_deterministic_algorithms = _set_deterministic_algorithms  # type: ignore[attr-defined]
    getter = getattr(torch_c, "_get_deterministic_algorithms", None)
    if getter is not None and getter():
        original(True, warn_only=True)


def _install_warning_capture() -> None:
    # "always": Python's default shows a warning once per location, and we count every run.
    warnings.filterwarnings("always", message=TORCH_ALERT.pattern, category=UserWarning)
    previous = warnings.showwarning

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        match = TORCH_ALERT.match(str(message))
        if match is not None:
            op = match.group("op")
            rec = record("torch", op, _torch_device(op), str(message), sys._getframe(1))
            if rec.count > 1:
                return  # shown once per op and line; the count is in the record
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning


# --------------------------------------------------------------------------- install


def _record_uncaught(value: BaseException, tb: TracebackType | None) -> None:
    """A refusal that still ended the run (inside a tf.function): record it before the traceback."""
    found = None if getattr(value, "_seedlock_recorded", False) else refusal(value)
    if found is None:
        return
    framework, op = found
    text = str(value)
    device = _torch_device(op) if framework == "torch" else audit_tf_device(text)
    last = tb
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    record(framework, op, device, text, last.tb_frame if last is not None else None)


def audit_tf_device(text: str) -> str:
    from seedlock.audit import tf_ops

    return tf_ops.device_of(text)


def _guarded(name: str, patch: Callable[[ModuleType], None]) -> hooks.Callback:
    def callback(module: ModuleType) -> None:
        try:
            patch(module)
        except Exception as exc:  # a framework version we do not know: say so, keep going
            if _report is not None:
                _report.add("audit", "failed", f"{name}: {type(exc).__name__}: {exc}")

    return callback


def install(report: SeedReport) -> None:
    """Switch audit mode on for the rest of the process: call once, after ``seed_everything``.

    Patches torch and TensorFlow when the script imports them (at once, if it has); nothing is
    imported here. Records go to :func:`records`, and at exit (:func:`finish`) into ``report``
    and ``$SEEDLOCK_AUDIT_FILE``. A second call only changes the report.

    >>> import seedlock, seedlock.audit                         # doctest: +SKIP
    >>> seedlock.audit.install(seedlock.seed_everything(0))     # doctest: +SKIP
    """
    global _installed, _report
    with lock:
        _report = report
        if _installed:
            return
        _installed = True
    if report.deterministic:
        report.add("audit", "switched", "ops without a deterministic implementation are recorded, not raised")
    else:
        report.add("audit", "skipped", "deterministic ops are off: nothing refuses, nothing to record")
    _install_warning_capture()
    # Submodules, not "torch"/"tensorflow": seed_everything clears the hooks of its adapters' modules.
    hooks.when_imported("torch._C", _guarded("torch", _patch_torch))
    from seedlock.audit import tf_ops as audit_tf  # imports no TensorFlow

    for name, patch in audit_tf.PATCHES.items():
        hooks.when_imported(name, _guarded("tensorflow", patch))

    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            _record_uncaught(value, tb)
        previous(kind, value, tb)

    sys.excepthook = excepthook
    import atexit

    atexit.register(finish)


def install_from_env(report: SeedReport, environ: Mapping[str, str] | None = None) -> bool:
    """:func:`install` when ``$SEEDLOCK_AUDIT`` is ``1``; says whether it did."""
    env = os.environ if environ is None else environ
    if env.get(ENV_AUDIT) == "1":
        install(report)
        return True
    return False
