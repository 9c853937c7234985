"""The state of every RNG seedlock manages, as a JSON-able dict, and putting it back.

The format is data, never pickle: numbers, strings, and raw bytes as base64, under
``{"format": "seedlock.rng_state", "version": 1, ...}``, one entry per framework that was
imported when it was taken. A state from a checkpoint is input from disk: everything in it is
checked before anything is restored (:mod:`.checks`), and anything else is one
:class:`~seedlock.errors.BadRngState` line.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping
from typing import Any

from seedlock import seeds
from seedlock.errors import BadArgument
from seedlock.resume.checks import FORMAT, PREPARE, VERSION, parse


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- what is read -----------------------------------------------------------------------------


def _python() -> dict[str, Any]:
    import random

    version, internal, gauss = random.getstate()
    return {"version": version, "state": list(internal), "gauss_next": gauss}


def _numpy(np: Any) -> dict[str, Any]:
    s = np.random.get_state(legacy=False)
    return {
        "bit_generator": s["bit_generator"],
        "key": _b64(s["state"]["key"].astype("<u4").tobytes()),
        "pos": int(s["state"]["pos"]),
        "has_gauss": int(s["has_gauss"]),
        "gauss": float(s["gauss"]),
    }


def _torch(torch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"cpu": _b64(torch.get_rng_state().numpy().tobytes()), "cuda": []}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # never start CUDA to read it
        out["cuda"] = [_b64(s.cpu().numpy().tobytes()) for s in torch.cuda.get_rng_state_all()]
    return out


def _tensorflow() -> dict[str, Any]:
    from tensorflow.python.eager import context
    from tensorflow.python.ops import stateful_random_ops as sro

    g = sro.global_generator
    out: dict[str, Any] = {"global_generator": None, "op_seeds": None}
    if g is not None:  # None: not made yet, so made from the seed on first use; restored as None
        out["global_generator"] = {"algorithm": int(g.algorithm), "state": g.state.numpy().tolist()}
    rng = getattr(context.context(), "_rng", None)  # eager ops' op-seed counter (private; if present)
    if rng is not None and hasattr(rng, "getstate"):
        version, internal, gauss = rng.getstate()
        out["op_seeds"] = {"version": version, "state": list(internal), "gauss_next": gauss}
    return out


def _keras() -> dict[str, Any]:
    from keras.src.backend.common import global_state

    gen = global_state.get_global_attribute("global_seed_generator")
    return {"global_seed_generator": None if gen is None else variable_state(gen.state)}


def variable_state(variable: Any) -> dict[str, Any]:
    """A Keras variable's value (a SeedGenerator's state): dtype, shape and raw bytes."""
    import numpy as np

    value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable.value)
    return {"dtype": value.dtype.str, "shape": list(value.shape), "data": _b64(value.tobytes())}


def rng_state() -> dict[str, Any]:
    """The state of every RNG seedlock manages, as a dict that :mod:`json` writes as it is.

    Python's ``random``, NumPy's global state, torch's CPU generator and each CUDA device's (once
    CUDA is initialised), TensorFlow's global ``tf.random.Generator`` and eager op seeds, Keras 3's
    global ``SeedGenerator``, the master seed (which :func:`seedlock.derive`, :func:`seedlock.rng`
    and :func:`seedlock.jax_key` derive from), and RNGs registered with ``get_state=``
    (:func:`seedlock.register_rng`). Only frameworks already imported are read; none is imported.
    Take it where you save a checkpoint, put it back with :func:`restore_rng_state` where you load
    one: the resumed run then draws what the uninterrupted run drew. Under ``seedlock run``,
    torch, Keras and Lightning checkpoints carry it without code (docs/resume.md).

    Example:
        >>> import json, random, seedlock
        >>> state = json.dumps(seedlock.rng_state())       # e.g. into your checkpoint
        >>> a = random.random()
        >>> seedlock.restore_rng_state(json.loads(state))
        >>> a == random.random()
        True
    """
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    try:
        out["seed"] = seeds.master_seed()
    except seeds.NoMasterSeed:
        out["seed"] = None
    if "random" in sys.modules:
        out["python"] = _python()
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "random"):
        out["numpy"] = _numpy(np)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        out["torch"] = _torch(torch)
    if "tensorflow" in sys.modules:
        out["tensorflow"] = _tensorflow()
    if "keras.src.backend.common.global_state" in sys.modules:
        out["keras"] = _keras()
    registered = _registered_states()
    if registered:
        out["registered"] = registered
    return out


def _registered_states() -> dict[str, Any]:
    from seedlock.frameworks import _registered

    out: dict[str, Any] = {}
    for name, adapter in _registered.items():
        if adapter.get_state is None or (adapter.module != "builtins" and adapter.module not in sys.modules):
            continue
        value = adapter.get_state()
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BadArgument(
                f"register_rng({name!r}, get_state=...) returned {type(value).__name__}, which JSON cannot "
                f"hold ({exc}); return numbers, strings, lists and dicts (bytes as base64 text)"
            ) from None
        out[name] = value
    return out


def restore_rng_state(state: Mapping[str, Any] | str | bytes) -> None:
    """Put back the RNG states :func:`rng_state` took: the next draws are the ones that followed.

    Takes the dict, or its JSON text. Everything is checked before anything changes: input that
    is not a state :func:`rng_state` wrote (another format, a newer version, a truncated or edited
    file) raises :class:`~seedlock.errors.BadRngState`, one line (exit 2 from seedlock's command
    line), and no RNG is touched. Entries for a framework not imported yet are applied when it is
    imported; frameworks the state does not name are left as they are. The master seed is set to
    the state's, so :func:`seedlock.derive` and :func:`seedlock.jax_key` give the checkpointed
    run's values.

    Example:
        >>> import numpy as np, seedlock
        >>> saved = seedlock.rng_state()
        >>> a = np.random.rand()
        >>> seedlock.restore_rng_state(saved)
        >>> a == np.random.rand()
        True
        >>> seedlock.restore_rng_state({"format": "something else"})
        Traceback (most recent call last):
        ...
        seedlock.errors.BadRngState: not a seedlock RNG state: its format is 'something else', not 'seedlock.rng_state'; pass what seedlock.rng_state() returned, or its JSON
    """
    parsed = parse(state)
    steps = [PREPARE[name](parsed[name]) for name in PREPARE if name in parsed]
    for step in steps:
        step()
