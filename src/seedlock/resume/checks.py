"""Checking an RNG state from disk, part by part, before any of it is restored: what
:func:`seedlock.restore_rng_state` runs. Each ``_prepare_*`` checks its part and returns the
function that applies it; nothing is applied until every part has passed.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from seedlock import seeds
from seedlock.errors import BadRngState

FORMAT = "seedlock.rng_state"
VERSION = 1
_PARTS = ("seed", "python", "numpy", "torch", "tensorflow", "keras", "registered")
_FIX = "pass what seedlock.rng_state() returned, or its JSON"


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{what} is not base64 text")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _bad(f"{what} is not base64 text") from None


def _bad(what: str) -> BadRngState:
    return BadRngState(f"not a seedlock RNG state: {what}; {_FIX}")


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _bad(what)


def _int(value: object, what: str, lo: int = 0, hi: int = 2**64) -> int:
    _need(
        isinstance(value, int) and not isinstance(value, bool) and lo <= value < hi, f"{what} is not an int"
    )
    return int(value)  # type: ignore[call-overload]


# -- putting it back: every part checked first, then all applied --------------------------------

Apply = Callable[[], None]


def _python_state(part: object, what: str) -> tuple[int, tuple[int, ...], float | None]:
    _need(isinstance(part, dict), f"{what} is not a dict")
    assert isinstance(part, dict)
    version = _int(part.get("version"), f"{what}.version", 1, 4)
    internal = part.get("state")
    _need(isinstance(internal, list) and len(internal) == 625, f"{what}.state is not 625 ints")
    assert isinstance(internal, list)
    ints = tuple(_int(v, f"{what}.state", 0, 2**32 + 1) for v in internal)
    gauss = part.get("gauss_next")
    _need(gauss is None or isinstance(gauss, float), f"{what}.gauss_next is not a float or null")
    return version, ints, gauss


def _prepare_python(part: object) -> Apply:
    state = _python_state(part, "python")

    def apply() -> None:
        import random

        random.setstate(state)

    return apply


def _prepare_numpy(part: object) -> Apply:
    _need(isinstance(part, dict) and part.get("bit_generator") == "MT19937", "numpy is not MT19937 state")
    assert isinstance(part, dict)
    key = _unb64(part.get("key"), "numpy.key")
    _need(len(key) == 624 * 4, "numpy.key is not 624 uint32")
    pos = _int(part.get("pos"), "numpy.pos", 0, 625)
    has_gauss = _int(part.get("has_gauss"), "numpy.has_gauss", 0, 2)
    gauss = part.get("gauss")
    _need(isinstance(gauss, float | int) and not isinstance(gauss, bool), "numpy.gauss is not a float")

    def apply(np: Any) -> None:
        keys = np.frombuffer(key, dtype="<u4").astype(np.uint32)
        state = {"key": keys, "pos": pos}
        np.random.set_state(
            {"bit_generator": "MT19937", "state": state, "has_gauss": has_gauss, "gauss": gauss}
        )

    return _when_imported("numpy", apply)


def _prepare_torch(part: object) -> Apply:
    _need(isinstance(part, dict) and isinstance(part.get("cuda"), list), "torch is not {cpu, cuda}")
    assert isinstance(part, dict)
    cpu = _unb64(part.get("cpu"), "torch.cpu")
    cuda = [_unb64(s, "torch.cuda") for s in part["cuda"]]
    torch = sys.modules.get("torch")
    if torch is not None:  # a CPU state of another size is another generator: refuse it up front
        _need(len(cpu) == torch.get_rng_state().numel(), "torch.cpu has the wrong size")

    def apply(torch: Any) -> None:
        _need(len(cpu) == torch.get_rng_state().numel(), "torch.cpu has the wrong size")
        torch.set_rng_state(torch.frombuffer(bytearray(cpu), dtype=torch.uint8))
        # A checkpoint from a GPU machine resumed on a CPU one: its CUDA states have nothing to do.
        if cuda and torch.cuda.is_available():
            for i, raw in enumerate(cuda[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8), i)

    return _when_imported("torch", apply)


def _prepare_tensorflow(part: object) -> Apply:
    _need(isinstance(part, dict), "tensorflow is not a dict")
    assert isinstance(part, dict)
    gen = part.get("global_generator")
    if gen is not None:
        _need(isinstance(gen, dict), "tensorflow.global_generator is not a dict")
        alg = _int(gen.get("algorithm"), "tensorflow.global_generator.algorithm", 0, 16)
        values = gen.get("state")
        _need(isinstance(values, list) and 0 < len(values) <= 16, "tensorflow.global_generator.state")
        ints = [_int(v, "tensorflow.global_generator.state", -(2**63), 2**63) for v in values]
    op_seeds = (
        None if part.get("op_seeds") is None else _python_state(part["op_seeds"], "tensorflow.op_seeds")
    )

    def apply(tf: Any) -> None:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import stateful_random_ops as sro

        if gen is None:
            sro.global_generator = None
        elif sro.global_generator is not None and int(sro.global_generator.algorithm) == alg:
            sro.global_generator.reset(ints)  # in place: a reference the script holds goes on too
        else:
            with ops.init_scope():
                sro.global_generator = sro.Generator.from_state(ints, alg)
        ctx = context.context()
        rng = getattr(ctx, "_rng", None)
        if op_seeds is not None and rng is not None and hasattr(rng, "setstate"):
            rng.setstate(op_seeds)
            # An eager random op's kernel is cached per (seed, op seed) and keeps drawing from where
            # it was: cleared, the op seeds to come make fresh kernels, as they did the first time.
            handle = getattr(ctx, "_context_handle", None)
            if handle is not None:
                from tensorflow.python import pywrap_tfe

                pywrap_tfe.TFE_ContextClearCaches(handle)

    return _when_imported("tensorflow", apply)


def prepare_variable(part: object, what: str) -> Any:
    """The array :func:`variable_state` wrote, checked."""
    import numpy as np

    _need(isinstance(part, dict), f"{what} is not a dict")
    assert isinstance(part, dict)
    dtype, shape = part.get("dtype"), part.get("shape")
    _need(dtype in ("<i8", "<u4", "<i4", "<u8"), f"{what}.dtype is not an integer type")
    _need(isinstance(shape, list) and all(isinstance(n, int) and 0 <= n < 64 for n in shape), f"{what}.shape")
    assert isinstance(shape, list)
    raw = _unb64(part.get("data"), f"{what}.data")
    value = np.frombuffer(raw, dtype=np.dtype(dtype))
    _need(value.size == int(np.prod(shape)), f"{what}.data does not fit its shape")
    return value.reshape(shape)


def _prepare_keras(part: object) -> Apply:
    _need(isinstance(part, dict) and "global_seed_generator" in part, "keras has no global_seed_generator")
    assert isinstance(part, dict)
    gen = part["global_seed_generator"]
    value = None if gen is None else prepare_variable(gen, "keras.global_seed_generator")

    def apply(_module: Any) -> None:
        from keras.src.backend.common import global_state

        if value is None:  # re-made from Python's random (restored too) on first use
            global_state.set_global_attribute("global_seed_generator", None)
            return
        from keras.src.random.seed_generator import SeedGenerator

        current = global_state.get_global_attribute("global_seed_generator")
        if current is None:
            current = SeedGenerator(seed=0)  # a seed of its own: drawing one would move `random`
            global_state.set_global_attribute("global_seed_generator", current)
        assign(current.state, value)

    return _when_imported("keras.src.backend.common.global_state", apply)


def assign(variable: Any, value: Any) -> None:
    """Set a Keras variable (a SeedGenerator's state) to ``value``, in the variable's own dtype."""
    import numpy as np

    variable.assign(np.asarray(value).astype(np.dtype(str(variable.dtype))))


def _prepare_registered(part: object) -> Apply:
    from seedlock.frameworks import _registered

    _need(isinstance(part, dict), "registered is not a dict")
    assert isinstance(part, dict)

    def apply() -> None:
        for name, value in part.items():
            adapter = _registered.get(name)
            if adapter is not None and adapter.set_state is not None:
                adapter.set_state(value)  # not registered here (yet): its state has nowhere to go

    return apply


def _prepare_seed(part: object) -> Apply:
    seed = None if part is None else _int(part, "seed", 0, seeds.SEED_MAX + 1)

    def apply() -> None:
        if seed is not None:  # derive/rng/jax_key go on from the checkpoint's seed
            seeds.set_master_seed(seed)

    return apply


def _when_imported(module: str, apply: Callable[[Any], None]) -> Apply:
    """Apply now if ``module`` is imported, else the moment it is (after its adapter seeded it)."""

    def now_or_later() -> None:
        from seedlock.frameworks import hooks

        hooks.when_imported(module, apply)

    return now_or_later


PREPARE: Mapping[str, Callable[[object], Apply]] = {
    "seed": _prepare_seed,
    "keras": _prepare_keras,  # before python: making Keras's generator may draw from `random`
    "python": _prepare_python,
    "numpy": _prepare_numpy,
    "torch": _prepare_torch,
    "tensorflow": _prepare_tensorflow,
    "registered": _prepare_registered,
}


def parse(state: object) -> dict[str, Any]:
    """``state`` (a dict, or JSON text or bytes of one) checked for format and version."""
    if isinstance(state, str | bytes | bytearray):
        try:
            state = json.loads(state)
        except (ValueError, UnicodeDecodeError):
            raise _bad("the text is not JSON") from None
    _need(isinstance(state, dict), f"got {type(state).__name__}, not a dict")
    assert isinstance(state, dict)
    _need(state.get("format") == FORMAT, f"its format is {state.get('format')!r}, not {FORMAT!r}")
    version = state.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise BadRngState(
            f"this RNG state has format version {version}, this seedlock reads up to {VERSION}; "
            "upgrade seedlock to restore it"
        )
    _need(version == VERSION, f"its version is {version!r}")
    unknown = sorted(set(state) - {"format", "version", *_PARTS})
    _need(not unknown, f"unknown entries {', '.join(map(repr, unknown))}")
    return state
