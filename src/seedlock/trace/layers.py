"""Child side of localisation below the step: record each layer's forward output at one step.

When ``$SEEDLOCK_LOCALIZE`` holds ``{"framework": "keras"|"torch", "epoch": E, "batch": B, "step": S}``,
the run records ``(layer name, digest of its output)`` for every layer call, in completion
order, during that window of training, writes them to ``layers.json`` beside the trace and
ends the process: the parent compares two such runs to find the first layer whose output
differs. Keras models are switched to eager execution for this run, so that outputs are
concrete tensors.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from seedlock.config import ENV_LOCALIZE

MAX_CALLS = 20000

_spec: dict[str, Any] | None = None
trace_path: str | None = None  # set by seedlock.trace.instrument: layers.json goes beside the trace
_calls: list[tuple[str, str]] = []
_recording = False
_patched = False


def spec() -> dict[str, Any] | None:
    global _spec
    if _spec is None and os.environ.get(ENV_LOCALIZE):
        _spec = json.loads(os.environ[ENV_LOCALIZE])
    return _spec


def _out_path() -> str:
    """``layers.json`` beside the trace; a rank's (``trace.rank1.jsonl``) writes ``layers.rank1.json``."""
    name = os.path.basename(trace_path or "trace")
    rank = name.split(".rank", 1)[1].rsplit(".", 1)[0] if ".rank" in name else None
    return os.path.join(os.path.dirname(trace_path or "trace"), layers_name(rank))


def layers_name(rank: str | None) -> str:
    """The layer record of the run's process, or of its rank ``rank``.

    >>> layers_name(None), layers_name("1")
    ('layers.json', 'layers.rank1.json')
    """
    return "layers.json" if rank is None else f"layers.rank{rank}.json"


def dump_and_exit(values: dict[str, Any] | None = None) -> None:
    """The window is over: write the layer records (and the tensors' values at the end of the
    window, named as in the trace) and stop the run: the rest is not needed."""
    import numpy as np

    if values:
        arrays = {name: np.asarray(v) for name, v in values.items()}
        members: dict[str, Any] = {f"t{i}": a for i, a in enumerate(arrays.values())}
        np.savez(_out_path().replace(".json", ".npz"), **members)
        names = list(arrays)
    else:
        names = []
    with open(_out_path(), "w") as f:
        json.dump({"calls": _calls, "values": names}, f)
    sys.stdout.flush()
    os._exit(0)


def _digest(leaves: list[Any]) -> str:
    """One layer call's outputs: the fingerprint digest of each output tensor, in order."""
    from seedlock.fingerprint import tensor_digest

    return ",".join(tensor_digest(leaf) for leaf in leaves)


def _record(name: str, leaves: list[Any]) -> None:
    if _recording and len(_calls) < MAX_CALLS:
        _calls.append((name, _digest(leaves)))


# --- Keras -------------------------------------------------------------------------------------


def _patch_keras_layers() -> None:
    global _patched
    if _patched:
        return
    import keras

    original = keras.layers.Layer.__call__

    jax_backend = keras.backend.backend() == "jax"

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if _recording:
            leaves = keras.tree.flatten(out)
            if jax_backend:
                # Under jax.value_and_grad the outputs are tracers, even eagerly: a debug callback
                # receives their concrete values, in program order.
                import jax

                name = self.name
                jax.debug.callback(lambda *arrays: _record(name, list(arrays)), *leaves, ordered=True)
            else:
                _record(self.name, [keras.ops.convert_to_numpy(t) for t in leaves])
        return out

    keras.layers.Layer.__call__ = __call__
    _patched = True


def keras_callbacks(model: Any) -> list[Any]:
    """The recorder callback for ``model.fit`` when localising a Keras run, else nothing."""
    s = spec()
    if s is None or s.get("framework") != "keras":
        return []
    import keras

    _patch_keras_layers()
    model.run_eagerly = True  # concrete outputs; both localising runs pay the same
    model.jit_compile = False
    model.train_function = None
    target_epoch, target_batch = s.get("epoch"), s.get("batch")

    def state() -> dict[str, Any]:  # named as seedlock.trace.keras_callbacks.Trace names them
        opt = model.optimizer
        extra = opt.variables if opt is not None and getattr(opt, "built", False) else []
        return {v.path: keras.ops.convert_to_numpy(v.value) for v in [*model.weights, *extra]}

    class Recorder(keras.callbacks.Callback):
        epoch: int | None = None

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            global _recording
            self.epoch = epoch
            _recording = epoch == target_epoch

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            global _recording
            _recording = self.epoch == target_epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self.epoch == target_epoch and batch == target_batch:
                dump_and_exit(state())

        def on_test_begin(self, logs: Any = None) -> None:
            global _recording
            _recording = False  # validation inside fit is not training

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == target_epoch:
                dump_and_exit(state())

    return [Recorder()]


# --- torch -------------------------------------------------------------------------------------


def torch_hooks(torch: Any, optimizer_state: Callable[[Any], dict[str, Any]]) -> None:
    """Global forward hooks recording module outputs during the forward of step ``S``;
    ``optimizer_state(optimizer)`` gives the parameters' values at its end."""
    s = spec()
    if s is None or s.get("framework") != "torch":
        return
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    from torch.optim.optimizer import register_optimizer_step_post_hook

    target = int(s["step"])
    names: dict[int, str] = {}
    steps = 0

    def pre(module: Any, args: Any) -> None:
        if id(module) not in names:  # the outermost module is called first: it names its tree
            root = type(module).__name__
            for name, sub in module.named_modules():
                names.setdefault(id(sub), f"{root}.{name}" if name else root)

    def post(module: Any, args: Any, output: Any) -> None:
        if _recording:
            leaves = [
                t.detach().cpu().numpy()
                for t in torch.utils._pytree.tree_leaves(output)
                if isinstance(t, torch.Tensor)
            ]
            _record(names.get(id(module), type(module).__name__), leaves)

    def stepped(optimizer: Any, args: Any, kwargs: Any) -> None:
        global _recording
        nonlocal steps
        steps += 1
        if steps >= target:
            dump_and_exit(optimizer_state(optimizer))
        _recording = steps == target - 1

    global _recording
    _recording = target == 1
    register_module_forward_pre_hook(pre)
    register_module_forward_hook(post)
    register_optimizer_step_post_hook(stepped)
