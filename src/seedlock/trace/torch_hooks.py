"""Trace every PyTorch optimizer step: parameter and gradient digests, with no change to the loop.

In a training script (``model``, ``opt``, ``loader`` and ``loss_fn`` are yours)::

    import seedlock.trace, seedlock.trace.torch_hooks
    writer = seedlock.trace.start("run.jsonl", framework="torch", granularity="step")
    handle = seedlock.trace.torch_hooks.install_optimizer_hook(writer, modules={"model": model})
    for x, y in loader:
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()    # each step is recorded
    seedlock.trace.final({"model": model, "optimizer": opt})
    handle.remove()

One ``"step"`` record per ``optimizer.step()``: ``tensors`` are the parameters after the
update, ``grads`` the gradients it used, ``step`` counts that optimizer's steps, and
``optimizer`` (``"Adam#0"``) tells optimizers apart. Parameters are named from the modules
that own them (``"model/fc1.weight"`` with ``modules=``; else found by scanning live
``nn.Module`` objects once per optimizer, as ``"fc1.weight"``); a parameter no module owns is
``"param{i}"``, ``i`` its index in the optimizer's ``state_dict``.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.fingerprint import tensor_digest
from seedlock.trace import tracefile as trace


@dataclass
class _Tracked:
    label: str
    names: list[tuple[str, Any]] = field(default_factory=list)  # (name, parameter), state_dict order
    ids: frozenset[int] = frozenset()
    steps: int = 0


class OptimizerHook:
    """The installed hook; :meth:`remove` uninstalls it."""

    def __init__(
        self,
        writer: trace.TraceWriter,
        modules: Mapping[str, Any] | Iterable[Any] | None,
        grads: bool,
        every: int,
    ) -> None:
        self.writer = writer
        self.grads = grads
        self.every = every
        if modules is None:
            self._modules: list[tuple[str, Any]] | None = None
        elif isinstance(modules, Mapping):
            self._modules = [(str(k), m) for k, m in modules.items()]
        else:
            self._modules = [("", m) for m in modules]
        # Keyed by the optimizer itself, weakly: an id() is reused once an optimizer is freed, and a
        # second optimizer then continued the first one's label and step count in some runs only.
        self._tracked: weakref.WeakKeyDictionary[Any, _Tracked] = weakref.WeakKeyDictionary()
        self._counts: dict[str, int] = {}
        self._handle: Any = None

    def remove(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        tracked = self._track(optimizer)
        tracked.steps += 1
        if tracked.steps % self.every:
            return
        tensors: dict[str, str] = {}
        grads: dict[str, str] = {}
        for name, p in tracked.names:
            tensors[name] = tensor_digest(p, algorithm=self.writer.algorithm)
            if self.grads and p.grad is not None:
                grads[name] = tensor_digest(p.grad, algorithm=self.writer.algorithm)
        self.writer.write_record(
            trace.Record(
                "step", tracked.steps, tensors=tensors, grads=grads, extra={"optimizer": tracked.label}
            )
        )

    def _track(self, optimizer: Any) -> _Tracked:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        ids = frozenset(map(id, params))
        tracked = self._tracked.get(optimizer)
        if tracked is None:
            kind = type(optimizer).__name__
            n = self._counts.get(kind, 0)
            self._counts[kind] = n + 1
            tracked = self._tracked[optimizer] = _Tracked(f"{kind}#{n}")
        if tracked.ids != ids:  # first step, or param groups added since: (re)name
            names = self._names(params)
            tracked.names = [(names.get(id(p), f"param{i}"), p) for i, p in enumerate(params)]
            tracked.ids = ids
        return tracked

    def _names(self, params: list[Any]) -> dict[int, str]:
        wanted = {id(p) for p in params}
        owners = self._modules if self._modules is not None else _live_modules(wanted)
        names: dict[int, str] = {}
        for prefix, module in owners:
            for name, p in module.named_parameters(remove_duplicate=False):
                if id(p) in wanted and id(p) not in names:
                    names[id(p)] = f"{prefix}/{name}" if prefix else name
        return names


def _live_modules(wanted: set[int]) -> list[tuple[str, Any]]:
    """Live nn.Modules owning the parameters, the widest first: the root model names them all.

    gc is scanned once per optimizer (tens of ms on a big heap), not per step.
    """
    import torch

    module = torch.nn.Module
    found = []
    for obj in gc.get_objects():
        if issubclass(type(obj), module):  # type(), not isinstance: some objects warn on __class__
            covered = sum(1 for p in obj.parameters() if id(p) in wanted)
            if covered:
                found.append((covered, obj))
    # Ties (a wrapper and the model it wraps): the shorter names win, then the longer-lived object.
    found.sort(key=lambda c: (-c[0], sum(len(n) for n, _ in c[1].named_parameters())))
    return [("", m) for _, m in found]


def install_optimizer_hook(
    writer: trace.TraceWriter | str | os.PathLike[str] | None = None,
    *,
    modules: Mapping[str, Any] | Iterable[Any] | None = None,
    grads: bool = True,
    every: int = 1,
) -> OptimizerHook:
    """Record parameter (and gradient) digests after every ``every``-th step of any torch optimizer.

    Args:
        writer: a :class:`~seedlock.trace.TraceWriter`, a path, or ``None`` for the active trace
            (``seedlock run --trace PATH``, or :func:`seedlock.trace.start`).
        modules: the modules whose parameter names to use, e.g. ``{"model": model}`` (names
            ``"model/fc.weight"``) or ``[model]`` (``"fc.weight"``); default: found by scanning.
        grads: also record gradient digests.
        every: record one step in ``every``.

    Returns:
        The hook; ``hook.remove()`` stops recording.
    """
    from torch.optim.optimizer import register_optimizer_step_post_hook

    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise SeedlockError(f"every must be a positive int, got {every!r}")
    if writer is None:
        writer = trace.active(framework="torch", granularity="step")
        if writer is None:
            raise SeedlockError(
                "no active trace: pass a path, call seedlock.trace.start(PATH), or use `seedlock run --trace`"
            )
    elif not isinstance(writer, trace.TraceWriter):
        writer = trace.open_writer(writer, framework="torch", granularity="step")
    hook = OptimizerHook(writer, modules, grads, every)
    hook._handle = register_optimizer_step_post_hook(hook)
    return hook
